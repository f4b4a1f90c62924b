#include "crypto.hpp"

#include <sodium.h>

#include <cstdlib>
#include <cstring>

namespace keyhold::vault::crypto {
namespace {
constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "khvault1";
constexpr std::string_view kKeyfileLabel = "keyhold-vault-keyfile-kek-v1";
}  // namespace

void ensure_initialised() {
  if (sodium_init() < 0) std::abort();
}

Bytes random_bytes(std::size_t n) {
  ensure_initialised();
  Bytes out(n);
  randombytes_buf(out.data(), n);
  return out;
}

SecretBuffer random_key() {
  SecretBuffer key(kKeySize);
  randombytes_buf(key.data(), key.size());
  return key;
}

Result<SecretBuffer> derive_kek(const Credentials& credentials, std::span<const std::uint8_t> salt,
                                const KdfParams& params) {
  ensure_initialised();
  if (salt.size() != kSaltSize) {
    return Status(ErrorCode::kUnlockFailed, "vault header has a salt of the wrong size");
  }
  SecretBuffer kek(kKeySize);
  if (credentials.kind() == Credentials::Kind::kKeyfile) {
    if (credentials.material().size() != kKeyfileSize) {
      return Status(ErrorCode::kInvalidArgument, "keyfile must be exactly 32 bytes");
    }
    crypto_generichash_state state;
    crypto_generichash_init(&state, credentials.material().data(), credentials.material().size(),
                            kek.size());
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(kKeyfileLabel.data()),
                              kKeyfileLabel.size());
    crypto_generichash_update(&state, salt.data(), salt.size());
    crypto_generichash_final(&state, kek.data(), kek.size());
    sodium_memzero(&state, sizeof state);
    return kek;
  }
  const SecretBuffer& pass = credentials.material();
  if (pass.empty()) return Status(ErrorCode::kInvalidArgument, "the passphrase is empty");
  // unwrap_root names such an edit before this; the check stays for every other caller.
  if (!params.within_bounds()) {
    return Status(ErrorCode::kUnlockFailed,
                  "the vault header was modified: its Argon2id limits exceed what keyhold writes "
                  "(at most OPSLIMIT_MODERATE and MEMLIMIT_MODERATE)");
  }
  if (crypto_pwhash(kek.data(), kek.size(), reinterpret_cast<const char*>(pass.data()), pass.size(),
                    salt.data(), params.opslimit, static_cast<std::size_t>(params.memlimit),
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status(ErrorCode::kIo, "Argon2id failed: not enough memory for the vault's KDF limits");
  }
  return kek;
}

SecretBuffer derive_subkey(const SecretBuffer& root, Subkey id) {
  SecretBuffer key(kKeySize);
  crypto_kdf_derive_from_key(key.data(), key.size(), static_cast<std::uint64_t>(id), kKdfContext,
                             root.data());
  return key;
}

Bytes seal(const SecretBuffer& key, std::span<const std::uint8_t> plaintext,
           std::span<const std::uint8_t> ad) {
  constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  Bytes out(kNonce + plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  randombytes_buf(out.data(), kNonce);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data() + kNonce, &written, plaintext.data(),
                                             plaintext.size(), ad.data(), ad.size(), nullptr,
                                             out.data(), key.data());
  out.resize(kNonce + written);
  return out;
}

bool open(const SecretBuffer& key, std::span<const std::uint8_t> sealed,
          std::span<const std::uint8_t> ad, SecretBuffer& out) {
  constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
  if (key.size() != kKeySize || sealed.size() < kNonce + kTag) return false;
  SecretBuffer plain(sealed.size() - kNonce - kTag);
  unsigned long long written = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          plain.data(), &written, nullptr, sealed.data() + kNonce, sealed.size() - kNonce,
          ad.data(), ad.size(), sealed.data(), key.data()) != 0) {
    return false;
  }
  plain.truncate(static_cast<std::size_t>(written));
  out = std::move(plain);
  return true;
}

Bytes mac(const SecretBuffer& key, std::span<const std::uint8_t> msg) {
  Bytes out(kMacSize);
  crypto_generichash(out.data(), out.size(), msg.data(), msg.size(), key.data(), key.size());
  return out;
}

bool mac_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  return a.size() == b.size() && a.size() > 0 && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

Encoder& Encoder::u8(std::uint8_t v) {
  out_.push_back(v);
  return *this;
}

Encoder& Encoder::u64(std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  return *this;
}

Encoder& Encoder::bytes(std::span<const std::uint8_t> v) {
  const auto n = static_cast<std::uint32_t>(v.size());
  for (int i = 0; i < 4; ++i) out_.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
  out_.insert(out_.end(), v.begin(), v.end());
  return *this;
}

Encoder& Encoder::str(std::string_view v) {
  return bytes(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(v.data()), v.size()));
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

}  // namespace keyhold::vault::crypto
