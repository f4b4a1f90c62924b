// keyhold/sdk/json_write.hpp - compact JSON text of an nlohmann::json value, byte for byte
// what value.dump(-1, ' ', false, json::error_handler_t::replace) writes, several times
// faster on long strings.
//
// nlohmann's serializer runs a UTF-8 state machine over every byte of every string. Tool
// results are mostly long runs of plain ASCII (base64 blobs, text tables), so this writer
// copies such runs eight bytes at a time and escapes the rest itself. What it does not
// handle itself it hands to nlohmann's own code, so the output never differs:
// - a number with a fraction or exponent (nlohmann::detail::to_chars, the routine dump()
//   uses);
// - a string that is not valid UTF-8 (its replacement of bad bytes by U+FFFD has rules of
//   its own);
// - binary values (never produced by a JSON parse).
// tests/sdk/json_write_test.cpp compares both on generated values, invalid UTF-8
// included. Pure and thread-safe; throws only what allocation throws.
#pragma once

#include <keyhold/sdk/utf8.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace keyhold::sdk {

namespace json_write_detail {

// True when one of the eight bytes in `word` needs more than a copy: a control character,
// '"', '\\' or a byte of a multi-byte UTF-8 sequence. (Classic SWAR tests: a byte below
// 0x20, a byte equal to c, a byte with its high bit set.)
inline bool word_needs_care(std::uint64_t word) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ull;
  constexpr std::uint64_t kHigh = 0x8080808080808080ull;
  const auto has_zero = [](std::uint64_t x) { return (x - kOnes) & ~x & kHigh; };
  const std::uint64_t below_space = (word - kOnes * 0x20) & ~word & kHigh;
  return ((word & kHigh) | below_space | has_zero(word ^ (kOnes * '"')) |
          has_zero(word ^ (kOnes * '\\'))) != 0;
}

// Appends text as a JSON string literal (quotes included); text is valid UTF-8.
inline void append_valid_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    const char* run = p;
    while (end - p >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, 8);
      if (word_needs_care(word)) break;
      p += 8;
    }
    while (p < end) {
      const auto c = static_cast<unsigned char>(*p);
      if (c < 0x20 || c == '"' || c == '\\') break;
      ++p;  // bytes >= 0x80 are copied: the text is valid UTF-8 and ensure_ascii is off
    }
    out.append(run, static_cast<std::size_t>(p - run));
    if (p == end) break;
    const auto c = static_cast<unsigned char>(*p++);
    // Seven characters have a two-character escape; other control characters are \u00XX.
    static constexpr std::string_view kEscaped = "\"\\\b\f\n\r\t", kLetter = "\"\\bfnrt";
    const std::size_t k = kEscaped.find(static_cast<char>(c));
    if (k != std::string_view::npos) {
      const char escaped[] = {'\\', kLetter[k]};
      out.append(escaped, sizeof escaped);
    } else {
      const char escaped[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
      out.append(escaped, sizeof escaped);
    }
  }
  out.push_back('"');
}

inline void append_by_nlohmann(std::string& out, const nlohmann::json& value) {
  out += value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline void append_string(std::string& out, const std::string& text) {
  if (is_valid_utf8(text))
    append_valid_string(out, text);
  else
    append_by_nlohmann(out, nlohmann::json(text));  // rare: bad bytes, replaced as dump() does
}

inline void append_value(std::string& out, const nlohmann::json& value) {
  using value_t = nlohmann::json::value_t;
  std::array<char, 64> digits;  // a number's text
  switch (value.type()) {
    case value_t::null:
      out.append("null");
      return;
    case value_t::boolean:
      out.append(value.get<bool>() ? "true" : "false");
      return;
    case value_t::number_integer: {
      const auto r =
          std::to_chars(digits.data(), digits.data() + digits.size(), value.get<std::int64_t>());
      out.append(digits.data(), r.ptr);
      return;
    }
    case value_t::number_unsigned: {
      const auto r =
          std::to_chars(digits.data(), digits.data() + digits.size(), value.get<std::uint64_t>());
      out.append(digits.data(), r.ptr);
      return;
    }
    case value_t::number_float: {
      const double x = value.get<double>();
      if (!std::isfinite(x)) {
        out.append("null");
        return;
      }
      out.append(digits.data(),
                 nlohmann::detail::to_chars(digits.data(), digits.data() + digits.size(), x));
      return;
    }
    case value_t::string:
      append_string(out, value.get_ref<const std::string&>());
      return;
    case value_t::array: {
      out.push_back('[');
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (it != value.begin()) out.push_back(',');
        append_value(out, *it);
      }
      out.push_back(']');
      return;
    }
    case value_t::object: {
      out.push_back('{');
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (it != value.begin()) out.push_back(',');
        append_string(out, it.key());
        out.push_back(':');
        append_value(out, it.value());
      }
      out.push_back('}');
      return;
    }
    default:  // binary, discarded: as nlohmann writes them
      append_by_nlohmann(out, value);
      return;
  }
}

}  // namespace json_write_detail

// Appends the compact JSON text of value to out: exactly what
// value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) returns.
inline void append_json(std::string& out, const nlohmann::json& value) {
  json_write_detail::append_value(out, value);
}

// The compact JSON text of value (see append_json).
inline std::string json_text(const nlohmann::json& value) {
  std::string out;
  append_json(out, value);
  return out;
}

}  // namespace keyhold::sdk
