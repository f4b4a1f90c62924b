// libFuzzer target for the vault's parsers of untrusted bytes: the sealed-record decoder
// (with an AEAD open attempt, as read_secret does) and the .env parser. The first input
// byte picks the target. Built only with clang (see tests/vault/CMakeLists.txt).
#include <cstddef>
#include <cstdint>
#include <span>

#include "crypto.hpp"
#include "keyhold/vault/env_file.hpp"
#include "keyhold/vault/record_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace keyhold::vault;
  if (size == 0) return 0;
  const std::span<const std::uint8_t> input(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    static const SecretBuffer key = crypto::random_key();
    auto decoded = decode_record(input);
    if (decoded.is_ok()) {
      SecretBuffer plain;
      const auto ad = record_associated_data({1, "fuzz", 1, 1});
      if (crypto::open(key, decoded->sealed, ad, plain)) __builtin_trap();  // forged a record
    }
  } else {
    auto entries = parse_env_file(input);
    if (entries.is_ok()) {
      std::size_t total = 0;
      for (const auto& e : entries.value()) total += e.name.size() + e.value.size();
      if (total > input.size()) __builtin_trap();  // output cannot exceed input
    }
  }
  return 0;
}
