#pragma once
// One JSON text into an nlohmann::json value, fast: simdjson (SIMD, several GB/s on long
// strings) builds its document, which is then copied into nlohmann's tree. nlohmann's own
// lexer reads a byte at a time and was the host's largest cost on big tool results.
//
// The value is exactly what nlohmann::json::parse(text) returns; where simdjson refuses a
// text (it is not JSON, a number is past 64 bits, a UTF-8 byte order mark, ...) nlohmann
// parses it instead, so every verdict and every value stays nlohmann's. One known
// difference: "-0" is read as the unsigned integer 0 (nlohmann: the signed integer 0);
// both compare equal and write "0".
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace keyhold::rpc {

// JSON that a plugin or a mounted server hands the host (results, tool descriptions,
// client-request parameters) nests at most this deep. The host walks values recursively
// (redaction, schema checks, serialization), so a deeper one is refused as invalid rather
// than risking the host's stack.
inline constexpr std::size_t kMaxPluginJsonDepth = 128;

// Texts longer than this are read by nlohmann alone: simdjson's buffers take about 12
// bytes per input byte while the nlohmann tree is built, nlohmann's about half that.
inline constexpr std::size_t kFastParseMaxBytes = 4u << 20;

// Reads text with simdjson into *out. False (*out untouched) when simdjson does not take
// it: not JSON, a number past 64 bits, a UTF-8 byte order mark, nesting deeper than
// max_depth, or longer than kFastParseMaxBytes; nlohmann must judge such a text. simdjson
// counts values, not containers: it also refuses a text at exactly max_depth whose deepest
// array or object is not empty (never one deeper; tests/host/json_parse_test.cpp). For
// parse_message, which wants nlohmann's error message for bad input.
bool try_parse_json_fast(std::string_view text, std::size_t max_depth, nlohmann::json* out);

// The value text holds, or a discarded value (is_discarded()) when text is not one JSON
// value or nests arrays and objects deeper than max_depth. Never throws but bad_alloc.
// Thread-safe (each thread keeps its own parser buffers, bounded in size).
nlohmann::json parse_json(std::string_view text, std::size_t max_depth);

// The strings of a JSON value as the redactor reads them (Redactor::redact_json): every
// string value and object key, decoded (escapes resolved), each followed by a newline, in
// no particular order; a "blob" member's string value is not among them (the redactor
// decodes it as base64) but noted.
struct JsonStrings {
  std::string text;
  bool blob = false;  // a member "blob" has a string value
};

// The two members of a tools/call result that its outputSchema check reads, taken from
// the object's top level.
struct ToolResultMembers {
  bool is_error = false;  // "isError" is true
  // "structuredContent", the value parse_json would read; none when there is no such member.
  std::optional<nlohmann::json> structured;
};

// True when text is one JSON object that simdjson reads (valid JSON and UTF-8, nested no
// deeper than max_depth, numbers within 64 bits, at most kFastParseMaxBytes), that begins
// with its '{' (whitespace aside: no byte order mark) and has no object with a key twice,
// without building a tree: a text that may be sent on as it is. False also where
// simdjson cannot tell; parse_json then decides. With strings, appends the value's
// strings to it (some of them when it returns false: a caller wipes what it gave). With
// tool, fills it when it returns true (a tree of structuredContent alone).
bool is_json_object_text(std::string_view text, std::size_t max_depth,
                         JsonStrings* strings = nullptr, ToolResultMembers* tool = nullptr);

// A JSON-RPC response read without building a tree: its id and the text of its result.
struct ResponseText {
  std::int64_t id;
  std::string_view result;  // a JSON object, a view into the text given
};
// The response text holds when it is exactly {"jsonrpc":"2.0","id":<integer within 64
// bits>,"result":<object>} (members in any order, whitespace allowed, no key written with
// an escape sequence) and is_json_object_text(text, max_depth). Anything else (an error,
// a request, another member, a duplicate key) is nothing: parse_message reads it.
std::optional<ResponseText> plain_response(std::string_view text, std::size_t max_depth);

}  // namespace keyhold::rpc
