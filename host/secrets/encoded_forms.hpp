#pragma once
// The encoded forms of a secret value that the redactor matches besides the raw bytes: the
// value as a program (a plugin, a child process it runs) writes it into a header, a URL or
// a JSON document.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace keyhold::secrets {

// A base64 form must hold at least this many characters that depend on the value alone
// (60 bits): shorter sections would turn up by chance in unrelated base64 data. A value of
// 8 bytes (the redactor's kMinSecretBytes) yields exactly 10 at each of the three
// alignments, so this drops nothing the redactor matches today; it keeps a lower minimum
// from producing absurd patterns.
inline constexpr std::size_t kMinBase64SecretChars = 10;

// Every encoded form of value, sorted, without duplicates and without value itself:
// - base64 and base64url at each of the three alignments a value can have in the encoded
//   input (it starts at byte 0, 1 or 2 of a 3-byte group, as the password does in
//   base64("user:" + password)): the characters that depend on the value alone, and, for
//   a value that ends the input, the same followed by its last partial character, without
//   and with padding. The characters that mix the value with its neighbours stay (they
//   hold at most 4 bits of it);
// - hex, lower and upper case;
// - percent-encodings as common encoders write them (which characters they keep, '+' for
//   a space), with upper- and lower-case hex digits;
// - the value and each form above as JSON serializers write it inside a string literal
//   (\" and \\, \u escapes in either case, '/' as \/, HTML-sensitive and non-ASCII
//   characters as \u escapes), one level deep.
// The forms are derived secrets: the caller wipes them (sodium_memzero) when done.
std::vector<std::string> encoded_forms(std::string_view value);

// bytes in base64; variant is one of libsodium's sodium_base64_VARIANT_* (with or without
// padding, standard or URL-safe alphabet).
std::string base64_encode(std::string_view bytes, int variant);

}  // namespace keyhold::secrets
