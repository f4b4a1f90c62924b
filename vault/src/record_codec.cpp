#include "keyhold/vault/record_codec.hpp"

#include <sodium.h>

#include <string>

#include "crypto.hpp"

namespace keyhold::vault {

Result<DecodedRecord> decode_record(std::span<const std::uint8_t> blob) {
  if (blob.empty()) return Status(ErrorCode::kIntegrity, "the record is empty");
  if (blob[0] != kRecordFormat) {
    return Status(ErrorCode::kUnsupported, "the record has format " + std::to_string(blob[0]) +
                                               ", which this build of keyhold does not read");
  }
  constexpr std::size_t kMinimum =
      1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES;
  if (blob.size() < kMinimum) return Status(ErrorCode::kIntegrity, "the record is truncated");
  return DecodedRecord{blob[0], blob.subspan(1)};
}

std::vector<std::uint8_t> record_associated_data(const RecordLocation& location) {
  crypto::Encoder ad;
  ad.str("keyhold.vault.record")
      .u8(kRecordFormat)
      .i64(location.secret_id)
      .str(location.secret_name)
      .i64(location.version)
      .i64(location.key_term);
  return ad.out();
}

}  // namespace keyhold::vault
