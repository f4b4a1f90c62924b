#pragma once
// The sealed-record format of one secret version, and the associated data that binds it to
// its place. Exposed so the decoder can be fuzzed and tested in isolation.
//
//   blob = format (1 byte, = kRecordFormat) || nonce (24) || ciphertext || tag (16)
//   AD   = "keyhold.vault.record" || format || secret id || secret name || version || term
//          (each field length-prefixed or fixed width, see crypto::Encoder)
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "keyhold/vault/status.hpp"

namespace keyhold::vault {

inline constexpr std::uint8_t kRecordFormat = 1;

struct RecordLocation {
  std::int64_t secret_id = 0;
  std::string_view secret_name;
  std::int64_t version = 0;
  std::int64_t key_term = 0;
};

struct DecodedRecord {
  std::uint8_t format = 0;
  std::span<const std::uint8_t> sealed;  // nonce || ciphertext || tag, borrowed from the blob
};

// Splits a stored blob. Never reads past blob; returns kIntegrity for an empty or truncated
// blob and kUnsupported for an unknown format byte.
Result<DecodedRecord> decode_record(std::span<const std::uint8_t> blob);

// The associated data for a record at location (format kRecordFormat).
std::vector<std::uint8_t> record_associated_data(const RecordLocation& location);

}  // namespace keyhold::vault
