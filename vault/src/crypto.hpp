#pragma once
// Internal: the few libsodium constructions the vault uses, in one place.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "keyhold/vault/credentials.hpp"
#include "keyhold/vault/secret_buffer.hpp"
#include "keyhold/vault/status.hpp"

namespace keyhold::vault::crypto {

using Bytes = std::vector<std::uint8_t>;
inline constexpr std::size_t kKeySize = 32;
inline constexpr std::size_t kSaltSize = 16;
inline constexpr std::size_t kMacSize = 32;

// Aborts if libsodium cannot initialise (no usable randomness).
void ensure_initialised();

Bytes random_bytes(std::size_t n);
SecretBuffer random_key();

// Key-encryption key from credentials and the header's salt/params. Passphrases go through
// Argon2id; keyfiles through keyed BLAKE2b (they are already uniformly random).
Result<SecretBuffer> derive_kek(const Credentials& credentials, std::span<const std::uint8_t> salt,
                                const KdfParams& params);

// Subkeys of the root key (crypto_kdf, context "khvault1").
enum class Subkey : std::uint64_t { kAuditMac = 1, kKeyringWrap = 2, kGrantMac = 3, kBackup = 4 };
SecretBuffer derive_subkey(const SecretBuffer& root, Subkey id);

// XChaCha20-Poly1305: returns nonce || ciphertext || tag.
Bytes seal(const SecretBuffer& key, std::span<const std::uint8_t> plaintext,
           std::span<const std::uint8_t> ad);
// Opens nonce || ciphertext || tag; false when authentication fails or the blob is short.
bool open(const SecretBuffer& key, std::span<const std::uint8_t> sealed,
          std::span<const std::uint8_t> ad, SecretBuffer& out);

// Keyed BLAKE2b-256 over msg.
Bytes mac(const SecretBuffer& key, std::span<const std::uint8_t> msg);
bool mac_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

// Canonical, unambiguous encoding for MAC inputs and associated data: every field is
// length-prefixed (u32 little endian) or fixed width.
class Encoder {
 public:
  Encoder& u8(std::uint8_t v);
  Encoder& u64(std::uint64_t v);
  Encoder& i64(std::int64_t v) { return u64(static_cast<std::uint64_t>(v)); }
  Encoder& bytes(std::span<const std::uint8_t> v);
  Encoder& str(std::string_view v);
  const Bytes& out() const { return out_; }

 private:
  Bytes out_;
};

std::string to_hex(std::span<const std::uint8_t> bytes);

}  // namespace keyhold::vault::crypto
