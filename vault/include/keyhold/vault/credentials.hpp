#pragma once
// What unlocks a vault: a passphrase (stretched by Argon2id) or a 32-byte keyfile.
#include <cstdint>
#include <filesystem>

#include "keyhold/vault/secret_buffer.hpp"
#include "keyhold/vault/status.hpp"

namespace keyhold::vault {

inline constexpr std::size_t kKeyfileSize = 32;

// Argon2id cost. Stored in the vault header and authenticated with it.
struct KdfParams {
  std::uint64_t opslimit = 0;
  std::uint64_t memlimit = 0;
  // crypto_pwhash_OPSLIMIT_MODERATE / MEMLIMIT_MODERATE: the default for every real vault.
  static KdfParams moderate() noexcept;
  // OPSLIMIT_MIN / MEMLIMIT_MIN. TEST ONLY: a vault made with these is cheap to brute-force.
  static KdfParams minimum_for_tests() noexcept;
  // True when keyhold could have written these limits: each between minimum_for_tests() and
  // moderate(). A header outside that range was edited, and is refused before Argon2id runs,
  // so an edited header cannot make an unlock run for minutes or allocate gigabytes.
  bool within_bounds() const noexcept;
};

class Credentials {
 public:
  enum class Kind { kPassphrase, kKeyfile };

  // Takes ownership of a passphrase. An empty passphrase is refused by create/open.
  static Credentials passphrase(SecretBuffer passphrase);
  // Reads a keyfile: exactly 32 bytes, else kInvalidArgument naming the path (not bytes).
  // Like the passphrase file, it must be a regular file owned by the effective user (or
  // root) and inaccessible to group and others, else kInsecurePermissions saying how to fix
  // it (override: KEYHOLD_INSECURE_PERMISSIONS=1, which warns on stderr instead).
  static Result<Credentials> from_keyfile(const std::filesystem::path& path);
  // Reads a passphrase file; one trailing "\n" (or "\r\n") is dropped.
  static Result<Credentials> from_passphrase_file(const std::filesystem::path& path);
  // Creates a new keyfile of 32 random bytes with mode 0600. Fails with kAlreadyExists if
  // the path exists (an existing keyfile is never overwritten).
  static Result<Credentials> create_keyfile(const std::filesystem::path& path);

  Kind kind() const noexcept { return kind_; }
  const SecretBuffer& material() const noexcept { return material_; }

 private:
  Credentials(Kind kind, SecretBuffer material) : kind_(kind), material_(std::move(material)) {}
  Kind kind_;
  SecretBuffer material_;
};

// Reads a whole file into guarded memory (for values). kNotFound / kIo errors name the path
// only. No permission check: key material goes through Credentials.
Result<SecretBuffer> read_file_secret(const std::filesystem::path& path);

}  // namespace keyhold::vault
