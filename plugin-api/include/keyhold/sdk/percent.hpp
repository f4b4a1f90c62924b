// keyhold/sdk/percent.hpp - RFC 3986 percent-encoding (URIs, SigV4 canonical requests,
// resource URIs such as sql://table/<name> or s3://bucket/<key>).
//
// percent_encode keeps the unreserved characters (A-Z a-z 0-9 - . _ ~) and any listed in
// `keep` (e.g. "/" for a path), and writes every other byte as %XX with upper-case hex,
// which is also what AWS SigV4 requires. percent_decode is strict: every '%' must start
// a %XX triplet. percent_decode_lenient decodes the valid triplets and keeps anything
// else as it is (for matching what a library may have decoded, e.g. a password in a
// connection URL). Neither treats '+' as a space. Errors never quote the input.
// Pure and thread-safe.
#pragma once

#include <keyhold/sdk/result.hpp>

#include <string>
#include <string_view>

namespace keyhold::sdk {

namespace detail {
inline int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
inline bool is_unreserved(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}
}  // namespace detail

// text with every byte except the unreserved ones and those in `keep` written as %XX.
inline std::string percent_encode(std::string_view text, std::string_view keep = {}) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3 / 2);
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (detail::is_unreserved(c) || keep.find(ch) != std::string_view::npos) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The bytes text encodes, or an error when a '%' is not followed by two hex digits.
inline Result<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    const int hi = i + 2 < text.size() ? detail::hex_value(text[i + 1]) : -1;
    const int lo = i + 2 < text.size() ? detail::hex_value(text[i + 2]) : -1;
    if (hi < 0 || lo < 0)
      return Result<std::string>::failure("percent-encoding: the '%' at offset " +
                                          std::to_string(i) + " is not followed by two hex digits");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return Result<std::string>::success(std::move(out));
}

// text with each valid %XX decoded and every other byte (a stray '%' too) kept.
inline std::string percent_decode_lenient(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && detail::hex_value(text[i + 1]) >= 0 &&
        detail::hex_value(text[i + 2]) >= 0) {
      out +=
          static_cast<char>(detail::hex_value(text[i + 1]) * 16 + detail::hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace keyhold::sdk
