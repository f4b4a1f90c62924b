// keyhold/sdk/base64.hpp - standard base64 (RFC 4648 section 4: alphabet A-Z a-z 0-9 + /,
// '=' padding), written once so no plugin needs libsodium or a copy of its own.
//
// base64_encode always pads. base64_decode is strict: the length must be a multiple of 4
// after skipping the characters listed in `ignore` (e.g. " \r\n" for wrapped text), '='
// only at the end, and the unused bits of the last group must be zero (canonical form,
// as libsodium checks). Errors never quote the input: it may be a secret.
// Pure and thread-safe.
#pragma once

#include <keyhold/sdk/result.hpp>

#include <string>
#include <string_view>

namespace keyhold::sdk {

// The bytes as padded standard base64.
inline std::string base64_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto byte = [&](std::size_t k) {
    return static_cast<unsigned>(static_cast<unsigned char>(bytes[k]));
  };
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    const bool two = i + 1 < bytes.size();
    const unsigned v = (byte(i) << 16) | (two ? byte(i + 1) << 8 : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += two ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// The bytes that text encodes, or why it is not canonical padded base64. Characters in
// `ignore` are skipped wherever they appear.
inline Result<std::string> base64_decode(std::string_view text, std::string_view ignore = {}) {
  using R = Result<std::string>;
  const auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 4 * 3);
  unsigned group = 0;  // bits of the current 4-character group
  int in_group = 0;    // characters of it seen
  int padding = 0;     // '=' seen (only in the last group)
  std::size_t position = 0;
  for (const char c : text) {
    ++position;
    if (ignore.find(c) != std::string_view::npos) continue;
    if (c == '=') {
      if (in_group < 2)
        return R::failure("base64: '=' too early (character " + std::to_string(position) + ")");
      ++padding;
      ++in_group;
      group <<= 6;
    } else {
      const int v = value(c);
      if (v < 0)
        return R::failure("base64: character " + std::to_string(position) +
                          " is not in the base64 alphabet");
      if (padding > 0) return R::failure("base64: data after the '=' padding");
      group = (group << 6) | static_cast<unsigned>(v);
      ++in_group;
    }
    if (in_group == 4) {
      if (padding == 2 && (group & 0xFFFF) != 0)
        return R::failure("base64: not canonical (unused bits set before \"==\")");
      if (padding == 1 && (group & 0xFF) != 0)
        return R::failure("base64: not canonical (unused bits set before \"=\")");
      out += static_cast<char>((group >> 16) & 0xFF);
      if (padding < 2) out += static_cast<char>((group >> 8) & 0xFF);
      if (padding < 1) out += static_cast<char>(group & 0xFF);
      if (padding > 0) padding = 3;  // anything after a padded group is an error
      group = 0;
      in_group = 0;
    }
  }
  if (in_group != 0) return R::failure("base64: the length is not a multiple of 4");
  return R::success(std::move(out));
}

}  // namespace keyhold::sdk
