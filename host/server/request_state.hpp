#pragma once
// The requestState of a multi round-trip request (MCP 2026-07-28, InputRequiredResult):
// what the host must remember between a client's retries, carried by the client itself so
// that any serve process can take the retry. The client must neither read it (it holds the
// client's earlier answers, which may be confidential) nor change it, so it is sealed with
// XChaCha20-Poly1305 (libsodium crypto_secretbox) under a key only the host holds.
#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "base/status.hpp"

namespace keyhold {

class RequestStateSealer {
 public:
  static constexpr std::size_t kKeyBytes = 32;

  // A sealer with a fresh random key: what it seals opens only in this process.
  RequestStateSealer();
  // A sealer with `key`: processes given the same key open each other's states (several
  // serve processes behind one load balancer).
  explicit RequestStateSealer(std::span<const unsigned char, kKeyBytes> key);
  ~RequestStateSealer();  // zeroes the key
  RequestStateSealer(const RequestStateSealer&) = delete;
  RequestStateSealer& operator=(const RequestStateSealer&) = delete;

  // The sealed state as unpadded base64url text. `lifetime_seconds` from now it no longer
  // opens. Thread-safe.
  std::string seal(const nlohmann::json& state, std::int64_t lifetime_seconds) const;
  // The state sealed by seal(), or an error that says why it does not open (malformed,
  // tampered with, sealed by another key, or expired). Never quotes the text. Thread-safe.
  Result<nlohmann::json> open(std::string_view sealed) const;

 private:
  unsigned char* key_;  // sodium_malloc'd, kKeyBytes
};

}  // namespace keyhold
