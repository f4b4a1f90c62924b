#include "secrets/signing.hpp"

#include <sodium.h>

#include <cstring>
#include <nlohmann/json.hpp>

namespace keyhold::secrets {

static_assert(kMacBytes == crypto_auth_hmacsha256_BYTES);

void hmac_sha256(std::span<const std::uint8_t> key, std::string_view message,
                 unsigned char (&out)[kMacBytes]) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, key.data(), key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(message.data()),
                                message.size());
  crypto_auth_hmacsha256_final(&state, out);
  sodium_memzero(&state, sizeof state);
}

std::optional<Aws4Scope> parse_aws4_scope(std::string_view data) {
  auto scope = nlohmann::json::parse(data, nullptr, false);
  if (scope.is_discarded() || !scope.is_object()) return std::nullopt;
  Aws4Scope out;
  for (auto [key, field] : {std::pair{"date", &out.date}, std::pair{"region", &out.region},
                            std::pair{"service", &out.service}}) {
    auto it = scope.find(key);
    if (it == scope.end() || !it->is_string()) return std::nullopt;
    *field = it->get<std::string>();
  }
  return out;
}

void aws4_signing_key(std::span<const std::uint8_t> secret, const Aws4Scope& scope,
                      unsigned char (&out)[kMacBytes]) {
  // An HMAC key longer than the SHA-256 block (64 bytes) is replaced by its hash, so
  // "AWS4" + secret is assembled on the stack either way and never copied to the heap.
  constexpr std::size_t kBlock = 64;
  unsigned char key[kBlock];
  std::size_t key_size = 4 + secret.size();
  if (key_size <= kBlock) {
    std::memcpy(key, "AWS4", 4);
    if (!secret.empty()) std::memcpy(key + 4, secret.data(), secret.size());
  } else {
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init(&state);
    crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>("AWS4"), 4);
    crypto_hash_sha256_update(&state, secret.data(), secret.size());
    crypto_hash_sha256_final(&state, key);
    sodium_memzero(&state, sizeof state);
    key_size = crypto_hash_sha256_BYTES;
  }
  unsigned char k_date[kMacBytes], k_region[kMacBytes], k_service[kMacBytes];
  hmac_sha256({key, key_size}, scope.date, k_date);
  hmac_sha256(k_date, scope.region, k_region);
  hmac_sha256(k_region, scope.service, k_service);
  hmac_sha256(k_service, "aws4_request", out);
  sodium_memzero(key, sizeof key);
  sodium_memzero(k_date, sizeof k_date);
  sodium_memzero(k_region, sizeof k_region);
  sodium_memzero(k_service, sizeof k_service);
}

}  // namespace keyhold::secrets
