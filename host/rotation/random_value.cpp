#include "rotation/random_value.hpp"

#include <sodium.h>

namespace keyhold::rotation {

std::string alphabet_characters(std::string_view name) {
  if (name == "alnum") return "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  if (name == "hex") return "0123456789abcdef";
  if (name == "base64url") {
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  }
  if (name == "printable") {
    std::string out;
    for (char c = 33; c < 127; ++c) out.push_back(c);
    return out;
  }
  return {};
}

Result<vault::SecretBuffer> random_value(std::size_t length, std::string_view alphabet) {
  const std::string characters = alphabet_characters(alphabet);
  if (characters.empty()) {
    return invalid_argument("unknown alphabet '" + std::string(alphabet) +
                            "' (use alnum, hex, base64url or printable)");
  }
  if (length < 8 || length > 4096) return invalid_argument("length must be 8..4096");
  if (sodium_init() < 0) return internal_error("libsodium cannot initialise");
  vault::SecretBuffer value(length);
  for (std::size_t i = 0; i < length; ++i) {
    value.data()[i] = static_cast<std::uint8_t>(
        characters[randombytes_uniform(static_cast<std::uint32_t>(characters.size()))]);
  }
  return value;
}

}  // namespace keyhold::rotation
