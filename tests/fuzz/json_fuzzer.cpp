// json_fuzzer: the host's two JSON fast paths against nlohmann, on arbitrary bytes.
// - rpc::parse_json (simdjson, copied into nlohmann) must give nlohmann::json::parse's
//   verdict and value for every text (within the depth limit; "-0" may come back as an
//   unsigned 0, which compares equal).
// - sdk::json_text must write what dump(-1, ' ', false, replace) writes, for the parsed
//   value and for the raw bytes as one string (invalid UTF-8 included).
// - rpc::is_json_object_text, the check before a result leaves as its own text, may accept
//   only a text nlohmann reads as an object; the strings it collects must be every string
//   and key of nlohmann's tree (a "blob" member's string aside, noted instead), and the
//   isError and structuredContent it reads must be the tree's.
// - rpc::plain_response may accept only {"jsonrpc":"2.0","id":<integer>,"result":{...}}
//   as nlohmann reads it, and its result text must parse to the tree's result.
// Any difference aborts (libFuzzer keeps the input as a reproducer).
#include <keyhold/sdk/json_write.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "../support/same_json.hpp"
#include "protocol/json_parse.hpp"
#include "protocol/json_rpc.hpp"

namespace {

using nlohmann::json;

constexpr std::size_t kDepth = 32;

std::string dumped(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "json_fuzzer: %s\n", what);
  std::abort();
}

// The strings the redactor reads in value, as rpc::JsonStrings collects them: each string
// and key with a newline; a "blob" member's string value noted, not collected.
void collect(const json& value, std::vector<std::string>* out, bool* blob) {
  if (value.is_string()) {
    out->push_back(value.get<std::string>());
  } else if (value.is_array()) {
    for (const json& item : value) collect(item, out, blob);
  } else if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      out->push_back(it.key());
      if (it.key() == "blob" && it->is_string())
        *blob = true;
      else
        collect(*it, out, blob);
    }
  }
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t from = 0;
  for (std::size_t nl; (nl = text.find('\n', from)) != std::string::npos; from = nl + 1)
    out.push_back(text.substr(from, nl - from));
  if (from != text.size()) fail("is_json_object_text: strings not newline-terminated");
  return out;
}

// The text-path checks against nlohmann's verdict and tree (expected) for the same text.
void check_text_paths(std::string_view text, const json& expected) {
  keyhold::rpc::JsonStrings strings;
  keyhold::rpc::ToolResultMembers members;
  if (keyhold::rpc::is_json_object_text(text, kDepth, &strings, &members)) {
    if (!expected.is_object())
      fail("is_json_object_text accepted what nlohmann does not read as an object");
    std::vector<std::string> want;
    bool blob = false;
    collect(expected, &want, &blob);
    // A string holding a newline splits into two lines in either text: compare lines.
    std::string want_joined;
    for (const auto& w : want) want_joined += w + '\n';
    std::vector<std::string> want_lines = lines_of(want_joined);
    std::vector<std::string> got = lines_of(strings.text);
    std::sort(want_lines.begin(), want_lines.end());
    std::sort(got.begin(), got.end());
    if (got != want_lines) fail("is_json_object_text collected other strings than the tree holds");
    if (strings.blob != blob) fail("is_json_object_text: blob flag differs");
    const auto is_error = expected.find("isError");
    if (members.is_error !=
        (is_error != expected.end() && is_error->is_boolean() && is_error->get<bool>()))
      fail("is_json_object_text: isError differs from the tree");
    const auto structured = expected.find("structuredContent");
    if (members.structured.has_value() != (structured != expected.end()) ||
        (members.structured && !keyhold::test::same_json(*structured, *members.structured)))
      fail("is_json_object_text: structuredContent differs from the tree");
  }
  if (auto response = keyhold::rpc::plain_response(text, kDepth)) {
    if (!expected.is_object() || expected.size() != 3 || expected.value("jsonrpc", json()) != "2.0")
      fail("plain_response accepted what is not a plain response");
    const auto id = expected.find("id");
    const auto result = expected.find("result");
    if (id == expected.end() || !id->is_number_integer() || *id != response->id ||
        result == expected.end() || !result->is_object())
      fail("plain_response: id or result differs from the tree");
    if (!keyhold::test::same_json(*result, keyhold::rpc::parse_json(response->result, kDepth)))
      fail("plain_response: the result text differs from the tree's result");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const json expected = keyhold::rpc::nesting_depth(text, kDepth) > kDepth
                            ? json(json::value_t::discarded)
                            : json::parse(text, nullptr, false);
  const json got = keyhold::rpc::parse_json(text, kDepth);
  if (!keyhold::test::same_json(expected, got))
    fail("parse_json differs from nlohmann::json::parse");
  if (!got.is_discarded() && keyhold::sdk::json_text(got) != dumped(got))
    fail("json_text differs from dump() on a parsed value");
  check_text_paths(text, expected);
  const json raw = std::string(text);
  if (keyhold::sdk::json_text(raw) != dumped(raw))
    fail("json_text differs from dump() on raw bytes");
  return 0;
}
