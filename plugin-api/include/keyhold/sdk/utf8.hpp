// keyhold/sdk/utf8.hpp - strict UTF-8 (RFC 3629) checks and repair. JSON results must be
// valid UTF-8, so text from a child process, a report file, an HTTP header or an object
// body is checked or repaired before it goes into a result.
//
// Strict means: no overlong forms (C0, C1, E0 80..9F, F0 80..8F), no surrogates
// (ED A0..BF), nothing above U+10FFFF (F4 90.., F5..FF), no lone continuation bytes.
// Pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace keyhold::sdk {

// One code point decoded from the front of a text: its value and how many bytes it
// takes; bytes == 0 when the text is empty or does not start with a strict sequence.
struct CodePoint {
  char32_t value = 0;
  std::size_t bytes = 0;
};

// Decodes the code point at the start of text (see CodePoint).
inline CodePoint decode_code_point(std::string_view text) noexcept {
  if (text.empty()) return {};
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return {lead, 1};
  std::size_t length = 0;
  char32_t value = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, value = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, value = lead & 0x0F;
    if (lead == 0xE0) lo = 0xA0;  // overlong
    if (lead == 0xED) hi = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, value = lead & 0x07;
    if (lead == 0xF0) lo = 0x90;  // overlong
    if (lead == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return {};  // continuation byte, C0/C1 (overlong), F5..FF
  }
  if (text.size() < length || byte(1) < lo || byte(1) > hi) return {};
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(k) & 0xC0) != 0x80) return {};
    value = (value << 6) | (byte(k) & 0x3F);
  }
  return {value, length};
}

// True when text is strict UTF-8 throughout.
inline bool is_valid_utf8(std::string_view text) noexcept {
  for (std::size_t i = 0; i < text.size();) {
    if (text.size() - i >= 8) {  // eight ASCII bytes at a time: most text is ASCII
      std::uint64_t word;
      std::memcpy(&word, text.data() + i, 8);
      if ((word & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    const std::size_t length = decode_code_point(text.substr(i)).bytes;
    if (length == 0) return false;
    i += length;
  }
  return true;
}

// What to_valid_utf8 does with ASCII control characters other than tab, LF and CR.
enum class ControlCharacters {
  kKeep,     // leave them (JSON escapes them)
  kToSpace,  // replace each with ' ' (text meant for a person: log lines, test output)
};

// text with every byte that does not start a strict sequence replaced by U+FFFD, and
// control characters handled as `controls` says.
inline std::string to_valid_utf8(std::string_view text,
                                 ControlCharacters controls = ControlCharacters::kKeep) {
  std::string out;
  out.reserve(text.size() + 8);
  for (std::size_t i = 0; i < text.size();) {
    const CodePoint cp = decode_code_point(text.substr(i));
    if (cp.bytes == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    const char32_t c = cp.value;
    if (controls == ControlCharacters::kToSpace && (c < 0x20 || c == 0x7F) && c != '\t' &&
        c != '\n' && c != '\r')
      out += ' ';
    else
      out.append(text.substr(i, cp.bytes));
    i += cp.bytes;
  }
  return out;
}

}  // namespace keyhold::sdk
