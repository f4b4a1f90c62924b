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

// A simdjson parser for one text: the thread's (texts up to kKeptCapacity; one parser per
// depth limit in use, in practice one or two) or, for a larger text, one of its own.
class FastParser {
 public:
  FastParser(std::size_t size, std::size_t max_depth) {
    thread_local std::vector<std::pair<std::size_t, simdjson::dom::parser>> kept;
    if (size <= kKeptCapacity) {
      for (auto& [depth, p] : kept)
        if (depth == max_depth) parser_ = &p;
      if (parser_ == nullptr)
        parser_ = &kept.emplace_back(max_depth, simdjson::dom::parser()).second;
    } else {
      parser_ = &own_.emplace();
    }
    // A parser's depth is fixed when it allocates.
    if (parser_->max_depth() != max_depth)
      error_ = parser_->allocate(std::max<std::size_t>(size, 4096), max_depth);
  }
  // The root of text, valid until the next parse on this thread; false when simdjson
  // refuses the text.
  bool parse(std::string_view text, simdjson::dom::element* root) {
    if (error_ == simdjson::SUCCESS) error_ = parser_->parse(text.data(), text.size()).get(*root);
    return error_ == simdjson::SUCCESS;
  }

 private:
  std::optional<simdjson::dom::parser> own_;
  simdjson::dom::parser* parser_ = nullptr;
  simdjson::error_code error_ = simdjson::SUCCESS;
};

// Reading a text simdjson has validated, so every bracket, quote and escape is well formed.
constexpr bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t skip_space(std::string_view text, std::size_t i) {
  while (i < text.size() && is_space(text[i])) ++i;
  return i;
}

// One past the closing quote of the string that opens at i.
std::size_t string_end(std::string_view text, std::size_t i) {
  for (++i; i < text.size(); ++i) {
    if (text[i] == '\\')
      ++i;
    else if (text[i] == '"')
      return i + 1;
  }
  return text.size();
}

// One past the end of the value that starts at i.
std::size_t value_end(std::string_view text, std::size_t i) {
  if (text[i] == '"') return string_end(text, i);
  if (text[i] != '{' && text[i] != '[') {  // a number, true, false or null
    while (i < text.size() && !is_space(text[i]) && text[i] != ',' && text[i] != '}' &&
           text[i] != ']')
      ++i;
    return i;
  }
  std::size_t depth = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '"') {
      i = string_end(text, i);
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    if ((c == '}' || c == ']') && --depth == 0) return i + 1;
    ++i;
  }
  return text.size();
}

// The text of the value of the member of the top-level object whose key is written as
// `key` (no escape sequence), or nothing. text is a validated JSON object.
std::optional<std::string_view> member_text(std::string_view text, std::string_view key) {
  std::size_t i = skip_space(text, 0);
  if (i >= text.size() || text[i] != '{') return std::nullopt;
  i = skip_space(text, i + 1);
  while (i < text.size() && text[i] == '"') {
    const std::size_t key_end = string_end(text, i);
    const std::string_view name = text.substr(i + 1, key_end - i - 2);
    i = skip_space(text, key_end);
    if (i >= text.size() || text[i] != ':') return std::nullopt;
    i = skip_space(text, i + 1);
    if (i >= text.size()) return std::nullopt;
    const std::size_t end = value_end(text, i);
    if (name == key) return text.substr(i, end - i);
    i = skip_space(text, end);
    if (i >= text.size() || text[i] != ',') return std::nullopt;
    i = skip_space(text, i + 1);
  }
  return std::nullopt;
}

// False when an object inside element (or element itself) has a key twice. With strings:
// collects them (JsonStrings). Iterative: the depth is the parser's, a stack of our own
// costs nothing per level.
bool walk(simdjson::dom::element element, JsonStrings* strings) {
  std::vector<simdjson::dom::element> open{element};
  std::vector<std::string_view> keys;
  const auto add = [&](std::string_view piece) {
    strings->text.append(piece);
    strings->text.push_back('\n');
  };
  while (!open.empty()) {
    const simdjson::dom::element e = open.back();
    open.pop_back();
    simdjson::dom::array array;
    simdjson::dom::object object;
    std::string_view string;
    if (e.get_array().get(array) == simdjson::SUCCESS) {
      for (simdjson::dom::element item : array) {
        if (item.is_array() || item.is_object())
          open.push_back(item);
        else if (strings != nullptr && item.get_string().get(string) == simdjson::SUCCESS)
          add(string);
      }
    } else if (e.get_object().get(object) == simdjson::SUCCESS) {
      keys.clear();
      for (simdjson::dom::key_value_pair member : object) {
        keys.push_back(member.key);
        if (member.value.is_array() || member.value.is_object()) {
          open.push_back(member.value);
        } else if (strings != nullptr &&
                   member.value.get_string().get(string) == simdjson::SUCCESS) {
          if (member.key == "blob")
            strings->blob = true;
          else
            add(string);
        }
        if (strings != nullptr) add(member.key);
      }
      std::sort(keys.begin(), keys.end());
      if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) return false;
    }
  }
  return true;
}

}  // namespace

bool try_parse_json_fast(std::string_view text, std::size_t max_depth, json* out) {
  if (text.size() > kFastParseMaxBytes) return false;
  FastParser parser(text.size(), max_depth);
  simdjson::dom::element root;
  if (!parser.parse(text, &root)) return false;
  *out = to_nlohmann(root);
  return true;
}

bool is_json_object_text(std::string_view text, std::size_t max_depth, JsonStrings* strings,
                         ToolResultMembers* tool) {
  // The text itself must begin the object: simdjson from 3.6 skips a byte order mark,
  // which spliced into a message would be invalid there.
  const std::size_t first = skip_space(text, 0);
  if (text.size() > kFastParseMaxBytes || first >= text.size() || text[first] != '{') return false;
  FastParser parser(text.size(), max_depth);
  simdjson::dom::element root;
  // A key twice: parse_json keeps the last, as clients that read it would; strict ones
  // refuse the text. The tree path sends it with one.
  if (!parser.parse(text, &root) || root.type() != simdjson::dom::element_type::OBJECT ||
      !walk(root, strings))
    return false;
  if (tool != nullptr) {
    // Each key is there once (walk), so a lookup finds the one parse_json keeps.
    const simdjson::dom::object object = root.get_object().value_unsafe();
    simdjson::dom::element member;
    bool flag = false;
    tool->is_error = object["isError"].get(member) == simdjson::SUCCESS &&
                     member.get_bool().get(flag) == simdjson::SUCCESS && flag;
    tool->structured.reset();
    if (object["structuredContent"].get(member) == simdjson::SUCCESS)
      tool->structured = to_nlohmann(member);
  }
  return true;
}

std::optional<ResponseText> plain_response(std::string_view text, std::size_t max_depth) {
  if (text.size() > kFastParseMaxBytes) return std::nullopt;
  FastParser parser(text.size(), max_depth);
  simdjson::dom::element root;
  simdjson::dom::object message;
  if (!parser.parse(text, &root) || root.get_object().get(message) != simdjson::SUCCESS ||
      message.size() != 3)
    return std::nullopt;
  // Three members, each key found: no duplicate, nothing else. (Error codes, not
  // simdjson's exceptions.)
  simdjson::dom::element version, id, result;
  if (message["jsonrpc"].get(version) != simdjson::SUCCESS ||
      message["id"].get(id) != simdjson::SUCCESS ||
      message["result"].get(result) != simdjson::SUCCESS ||
      version.type() != simdjson::dom::element_type::STRING ||
      version.get_string().value_unsafe() != "2.0" ||
      id.type() != simdjson::dom::element_type::INT64 ||
      result.type() != simdjson::dom::element_type::OBJECT)
    return std::nullopt;
  auto raw = member_text(text, "result");  // none when the key was written with an escape
  if (!raw) return std::nullopt;
  return ResponseText{id.get_int64().value_unsafe(), *raw};
}

json parse_json(std::string_view text, std::size_t max_depth) {
  if (json value; try_parse_json_fast(text, max_depth, &value)) return value;
  // Not simdjson's kind of JSON: nlohmann decides (within the same depth).
  if (nesting_depth(text, max_depth) > max_depth) return json(json::value_t::discarded);
  return json::parse(text, nullptr, false);
}

}  // namespace keyhold::rpc
