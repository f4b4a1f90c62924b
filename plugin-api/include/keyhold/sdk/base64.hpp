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
  std::string out((bytes.size() + 2) / 3 * 4, '=');
  char* o = out.data();
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3, o += 4) {
    const unsigned v = (unsigned{in[i]} << 16) | (unsigned{in[i + 1]} << 8) | in[i + 2];
    o[0] = kAlphabet[(v >> 18) & 63];
    o[1] = kAlphabet[(v >> 12) & 63];
    o[2] = kAlphabet[(v >> 6) & 63];
    o[3] = kAlphabet[v & 63];
  }
  if (i < bytes.size()) {  // the '=' padding is already in place
    const bool two = i + 1 < bytes.size();
    const unsigned v = (unsigned{in[i]} << 16) | (two ? unsigned{in[i + 1]} << 8 : 0u);
    o[0] = kAlphabet[(v >> 18) & 63];
    o[1] = kAlphabet[(v >> 12) & 63];
    if (two) o[2] = kAlphabet[(v >> 6) & 63];
  }
  return out;
}

// Decodes canonical padded base64 with nothing to skip (no whitespace), four characters at
// a time, into out. False for any other text; out may then hold part of the bytes (wipe
// it if they may be secret). For every text it accepts, the bytes are base64_decode's.
inline bool base64_decode_canonical(std::string_view text, std::string& out) {
  struct Table {
    unsigned char value[256];
    constexpr Table() : value{} {
      for (int c = 0; c < 256; ++c) value[c] = 0xFF;
      const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      for (unsigned char v = 0; v < 64; ++v) value[static_cast<unsigned char>(alphabet[v])] = v;
    }
  };
  static constexpr Table kTable;
  if (text.size() % 4 != 0) return false;
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size();
  std::size_t padding = 0;
  if (n >= 4 && in[n - 1] == '=') padding = in[n - 2] == '=' ? 2 : 1;
  out.resize(n / 4 * 3);
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  const std::size_t full = padding == 0 ? n : n - 4;  // groups without '='
  for (std::size_t i = 0; i < full; i += 4, o += 3) {
    const unsigned a = kTable.value[in[i]], b = kTable.value[in[i + 1]],
                   c = kTable.value[in[i + 2]], d = kTable.value[in[i + 3]];
    if ((a | b | c | d) & 0x80) return false;
    const unsigned v = (a << 18) | (b << 12) | (c << 6) | d;
    o[0] = static_cast<unsigned char>(v >> 16);
    o[1] = static_cast<unsigned char>(v >> 8);
    o[2] = static_cast<unsigned char>(v);
  }
  if (padding != 0) {
    const unsigned a = kTable.value[in[n - 4]], b = kTable.value[in[n - 3]];
    const unsigned c = padding == 1 ? kTable.value[in[n - 2]] : 0;
    if ((a | b | c) & 0x80) return false;
    const unsigned v = (a << 18) | (b << 12) | (c << 6);
    if ((padding == 2 ? (v & 0xFFFF) : (v & 0xFF)) != 0) return false;  // not canonical
    o[0] = static_cast<unsigned char>(v >> 16);
    if (padding == 1) o[1] = static_cast<unsigned char>(v >> 8);
    out.resize(out.size() - padding);
  }
  return true;
}

// The bytes that text encodes, or why it is not canonical padded base64. Characters in
// `ignore` are skipped wherever they appear.
inline Result<std::string> base64_decode(std::string_view text, std::string_view ignore = {}) {
  using R = Result<std::string>;
  if (std::string out; base64_decode_canonical(text, out)) return R::success(std::move(out));
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
