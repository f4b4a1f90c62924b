#pragma once
// Random values for new secret versions: libsodium's randombytes_uniform, one uniform
// choice per character, straight into guarded memory.
#include <cstddef>
#include <string>
#include <string_view>

#include "base/status.hpp"
#include "keyhold/vault/secret_buffer.hpp"

namespace keyhold::rotation {

// The characters of a named alphabet ("alnum", "hex", "base64url", "printable"), or nullopt-like
// empty string when the name is unknown.
std::string alphabet_characters(std::string_view name);

// length characters drawn from the named alphabet; kInvalidArgument for an unknown alphabet
// or a length outside 8..4096.
Result<vault::SecretBuffer> random_value(std::size_t length, std::string_view alphabet);

}  // namespace keyhold::rotation
