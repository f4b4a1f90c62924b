#include "protocol/json_parse.hpp"

#include <simdjson.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "protocol/json_rpc.hpp"

namespace keyhold::rpc {
namespace {

using nlohmann::json;

// The element as an nlohmann value. depth is bounded by the parser's max_depth.
json to_nlohmann(simdjson::dom::element element) {
  using simdjson::dom::element_type;
  switch (element.type()) {
    case element_type::ARRAY: {
      json out = json::array();
      simdjson::dom::array array;
      if (element.get_array().get(array) != simdjson::SUCCESS) return out;
      out.get_ref<json::array_t&>().reserve(array.size());
      for (simdjson::dom::element item : array) out.push_back(to_nlohmann(item));
      return out;
    }
    case element_type::OBJECT: {
      json out = json::object();
      auto& members = out.get_ref<json::object_t&>();
      simdjson::dom::object object;
      if (element.get_object().get(object) != simdjson::SUCCESS) return out;
      for (simdjson::dom::key_value_pair member : object)
        members[std::string(member.key)] = to_nlohmann(member.value);  // the last duplicate wins
      return out;
    }
    case element_type::INT64: {
      const std::int64_t v = element.get_int64().value_unsafe();
      // nlohmann reads a number without '-' as unsigned.
      if (v >= 0) return json(static_cast<std::uint64_t>(v));
      return json(v);
    }
    case element_type::UINT64:
      return json(element.get_uint64().value_unsafe());
    case element_type::DOUBLE:
      return json(element.get_double().value_unsafe());
    case element_type::STRING: {
      const std::string_view s = element.get_string().value_unsafe();
      return json(std::string(s));
    }
    case element_type::BOOL:
      return json(element.get_bool().value_unsafe());
    case element_type::NULL_VALUE:
      break;
  }
  return json(nullptr);
}

// Documents up to this size reuse the thread's parser; a larger one gets a parser of its
// own, freed after, so a single huge result does not pin its buffers to a thread.
constexpr std::size_t kKeptCapacity = 64u << 10;

}  // namespace

bool try_parse_json_fast(std::string_view text, std::size_t max_depth, json* out) {
  if (text.size() > kFastParseMaxBytes) return false;
  // One parser per depth limit in use on this thread (a parser's depth is fixed when it
  // allocates); in practice one or two.
  thread_local std::vector<std::pair<std::size_t, simdjson::dom::parser>> kept;
  std::optional<simdjson::dom::parser> own;
  simdjson::dom::parser* parser = nullptr;
  if (text.size() <= kKeptCapacity) {
    for (auto& [depth, p] : kept)
      if (depth == max_depth) parser = &p;
    if (parser == nullptr) parser = &kept.emplace_back(max_depth, simdjson::dom::parser()).second;
  } else {
    parser = &own.emplace();
  }
  simdjson::error_code error = simdjson::SUCCESS;
  if (parser->max_depth() != max_depth)
    error = parser->allocate(std::max<std::size_t>(text.size(), 4096), max_depth);
  simdjson::dom::element root;
  if (error == simdjson::SUCCESS) error = parser->parse(text.data(), text.size()).get(root);
  if (error != simdjson::SUCCESS) return false;
  *out = to_nlohmann(root);
  return true;
}

json parse_json(std::string_view text, std::size_t max_depth) {
  if (json value; try_parse_json_fast(text, max_depth, &value)) return value;
  // Not simdjson's kind of JSON: nlohmann decides (within the same depth).
  if (nesting_depth(text, max_depth) > max_depth) return json(json::value_t::discarded);
  return json::parse(text, nullptr, false);
}

}  // namespace keyhold::rpc
