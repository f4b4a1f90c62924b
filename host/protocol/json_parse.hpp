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
#include <nlohmann/json.hpp>
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

}  // namespace keyhold::rpc
