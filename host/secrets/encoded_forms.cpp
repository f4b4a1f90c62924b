#include "secrets/encoded_forms.hpp"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <utility>

namespace keyhold::secrets {
namespace {

constexpr char kHexLower[] = "0123456789abcdef";
constexpr char kHexUpper[] = "0123456789ABCDEF";

void wipe(std::string& s) { sodium_memzero(s.data(), s.size()); }

// The base64 forms of value at each alignment. With `shift` bytes before it in its 3-byte
// group, value covers bits [8 * shift, 8 * (shift + size)) of the encoded input; character
// i holds bits [6i, 6i + 6). The characters that hold only value bits are the stable
// section, the same wherever value sits; the first ones share bits with the bytes before
// it, the last one with the bytes after it (or with zero bits when value ends the input).
void add_base64_forms(std::string_view value, bool url, std::vector<std::string>& forms) {
  for (std::size_t shift = 0; shift < 3; ++shift) {
    std::string input(shift, '\0');
    input.append(value);
    std::string encoded = base64_encode(input, url ? sodium_base64_VARIANT_URLSAFE_NO_PADDING
                                                   : sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    const std::size_t first = (8 * shift + 5) / 6;  // the first character without prefix bits
    const std::size_t last = 8 * input.size() / 6;  // one past the last without suffix bits
    if (last >= first + kMinBase64SecretChars) {
      forms.push_back(encoded.substr(first, last - first));
      forms.push_back(encoded.substr(first));  // value ends the input, unpadded
      forms.push_back(encoded.substr(first) + std::string((4 - encoded.size() % 4) % 4, '='));
    }
    wipe(input);
    wipe(encoded);
  }
}

void add_hex_forms(std::string_view value, std::vector<std::string>& forms) {
  for (const char* digits : {kHexLower, kHexUpper}) {
    std::string hex;
    hex.reserve(2 * value.size());
    for (unsigned char c : value) {
      hex += digits[c >> 4];
      hex += digits[c & 15];
    }
    forms.push_back(std::move(hex));
  }
}

// How percent-encoders differ: the case of the hex digits, which characters they keep
// besides RFC 3986's unreserved ones (ALPHA DIGIT - . _ ~), which of those they encode
// after all, and whether a space becomes '+'.
struct PercentEncoder {
  const char* digits;  // kHexUpper or kHexLower
  std::string_view also_keep;
  std::string_view also_encode;
  bool space_as_plus;
};
constexpr PercentEncoder kPercentEncoders[] = {
    {kHexUpper, "", "", false},                  // RFC 3986: curl_easy_escape, quote(safe="")
    {kHexLower, "", "", false},                  // the same, lower case (RFC 3986 allows it)
    {kHexUpper, "/", "", false},                 // Python urllib.parse.quote (safe="/")
    {kHexLower, "/", "", false},                 // the same, lower case
    {kHexUpper, "!'()*", "", false},             // JavaScript encodeURIComponent
    {kHexUpper, "!#$&'()*+,/:;=?@", "", false},  // JavaScript encodeURI
    {kHexUpper, "$&+:=@", "", false},            // Go url.PathEscape
    {kHexUpper, "", "", true},                   // forms: Python quote_plus, Go QueryEscape
    {kHexUpper, "*", "~", true},                 // forms: Java URLEncoder, URLSearchParams
};

void add_percent_forms(std::string_view value, std::vector<std::string>& forms) {
  for (const PercentEncoder& encoder : kPercentEncoders) {
    std::string out;
    for (unsigned char c : value) {
      const bool unreserved = std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
      const bool keep = (unreserved && encoder.also_encode.find(static_cast<char>(c)) ==
                                           std::string_view::npos) ||
                        encoder.also_keep.find(static_cast<char>(c)) != std::string_view::npos;
      if (keep) {
        out += static_cast<char>(c);
      } else if (c == ' ' && encoder.space_as_plus) {
        out += '+';
      } else {
        out += '%';
        out += encoder.digits[c >> 4];
        out += encoder.digits[c & 15];
      }
    }
    forms.push_back(std::move(out));
  }
}

// How JSON serializers write a string. All write \" \\ and the control characters (short
// escapes \b \f \n \r \t where they exist, \u00XX otherwise); they differ in the case of
// the hex digits and in what else they escape.
struct JsonEncoder {
  const char* digits;           // kHexLower or kHexUpper
  std::string_view as_unicode;  // ASCII characters written \u00XX (before \" applies)
  bool slash;                   // '/' as \/
  bool non_ascii;               // every non-ASCII character as \uXXXX (UTF-16 pairs)
  bool line_separators;         // U+2028 and U+2029 as \u2028, \u2029
};
constexpr JsonEncoder kJsonEncoders[] = {
    {kHexLower, "", false, false, false},        // nlohmann::json, JSON.stringify, serde_json
    {kHexUpper, "", false, false, false},        // Jackson
    {kHexLower, "", false, true, false},         // Python json.dumps (ensure_ascii)
    {kHexLower, "", true, true, false},          // PHP json_encode
    {kHexLower, "<>&", false, false, true},      // Go encoding/json
    {kHexLower, "<>&='", false, false, false},   // Gson
    {kHexUpper, "\"&'+<>`", false, true, true},  // .NET System.Text.Json
};

// The length of the UTF-8 sequence at text[at] and its code point, or a length of 0 when
// the bytes there are not valid UTF-8.
std::pair<std::size_t, char32_t> utf8_decode(std::string_view text, std::size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  const std::size_t length = lead < 0x80         ? 1
                             : (lead >> 5) == 6  ? 2
                             : (lead >> 4) == 14 ? 3
                             : (lead >> 3) == 30 ? 4
                                                 : 0;
  if (length == 0 || at + length > text.size()) return {0, 0};
  char32_t cp = length == 1 ? lead : lead & (0x7f >> length);
  for (std::size_t k = 1; k < length; ++k) {
    const auto next = static_cast<unsigned char>(text[at + k]);
    if ((next >> 6) != 2) return {0, 0};
    cp = (cp << 6) | (next & 0x3f);
  }
  constexpr char32_t kShortest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kShortest[length] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return {0, 0};
  return {length, cp};
}

void append_unicode_escape(std::string& out, char32_t unit, const char* digits) {
  out += "\\u";
  for (int nibble = 3; nibble >= 0; --nibble) out += digits[(unit >> (4 * nibble)) & 15];
}

// value as encoder writes it inside a JSON string, or nothing when the encoder would need
// valid UTF-8 and value is not.
std::optional<std::string> json_escaped(std::string_view value, const JsonEncoder& encoder) {
  const char* digits = encoder.digits;
  std::string out;
  auto escape_ascii = [&](char c) {
    if (encoder.as_unicode.find(c) != std::string_view::npos)
      return append_unicode_escape(out, static_cast<unsigned char>(c), digits);
    switch (c) {
      case '"':
        out += "\\\"";
        return;
      case '\\':
        out += "\\\\";
        return;
      case '\b':
        out += "\\b";
        return;
      case '\f':
        out += "\\f";
        return;
      case '\n':
        out += "\\n";
        return;
      case '\r':
        out += "\\r";
        return;
      case '\t':
        out += "\\t";
        return;
      case '/':
        out += encoder.slash ? "\\/" : "/";
        return;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          return append_unicode_escape(out, static_cast<unsigned char>(c), digits);
        out += c;
    }
  };
  for (std::size_t at = 0; at < value.size();) {
    if (static_cast<unsigned char>(value[at]) < 0x80) {
      escape_ascii(value[at++]);
      continue;
    }
    if (!encoder.non_ascii && !encoder.line_separators) {
      out += value[at++];  // bytes pass through as they are, valid UTF-8 or not
      continue;
    }
    const auto [length, cp] = utf8_decode(value, at);
    if (length == 0) return std::nullopt;
    if (encoder.non_ascii || cp == 0x2028 || cp == 0x2029) {
      if (cp >= 0x10000) {
        append_unicode_escape(out, 0xd800 + ((cp - 0x10000) >> 10), digits);
        append_unicode_escape(out, 0xdc00 + ((cp - 0x10000) & 0x3ff), digits);
      } else {
        append_unicode_escape(out, cp, digits);
      }
    } else {
      out.append(value, at, length);
    }
    at += length;
  }
  return out;
}

void add_json_forms(std::string_view text, std::vector<std::string>& forms) {
  for (const JsonEncoder& encoder : kJsonEncoders) {
    auto escaped = json_escaped(text, encoder);
    if (!escaped) continue;
    if (*escaped == text)
      wipe(*escaped);
    else
      forms.push_back(std::move(*escaped));
  }
}

}  // namespace

std::string base64_encode(std::string_view bytes, int variant) {
  std::string out(sodium_base64_encoded_len(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), variant);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::vector<std::string> encoded_forms(std::string_view value) {
  std::vector<std::string> forms;
  add_base64_forms(value, false, forms);
  add_base64_forms(value, true, forms);
  add_hex_forms(value, forms);
  add_percent_forms(value, forms);
  // The value and each form above as written inside a JSON string.
  const std::size_t encoded = forms.size();
  add_json_forms(value, forms);
  for (std::size_t i = 0; i < encoded; ++i) {
    std::string form = forms[i];  // a copy: add_json_forms may grow forms
    add_json_forms(form, forms);
    wipe(form);
  }
  std::sort(forms.begin(), forms.end());
  auto duplicates = std::unique(forms.begin(), forms.end());
  std::for_each(duplicates, forms.end(), wipe);
  forms.erase(duplicates, forms.end());
  auto same = std::find(forms.begin(), forms.end(), value);
  if (same != forms.end()) {
    wipe(*same);
    forms.erase(same);
  }
  return forms;
}

}  // namespace keyhold::secrets
