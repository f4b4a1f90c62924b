#pragma once
// TokenVerifier: answers "which token is this?" for every HTTP request, from an open vault.
// Records are cached and reloaded whenever the vault file changed (SQLite data_version),
// so `keyhold token revoke` in another process takes effect on the next request without a
// restart. The presented token is hashed with the vault's key and compared with every
// record's hash in constant time; the token text is never stored, logged or audited.
//
// Thread-safe: the vault is used under an internal mutex.
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "auth/token_store.hpp"

namespace keyhold::auth {

class TokenVerifier {
 public:
  enum class Outcome {
    kValid,
    kMissing,    // no credentials at all
    kMalformed,  // not the shape of a keyhold token
    kUnknown,    // well-formed, but no record has its hash
    kExpired,
    kRevoked,
  };
  struct Verdict {
    Outcome outcome = Outcome::kMissing;
    std::shared_ptr<const TokenRecord> token;  // set for kValid, kExpired and kRevoked
  };

  explicit TokenVerifier(vault::Vault vault);

  // Checks the bearer credentials of one request (empty when none were sent) at time now.
  Verdict verify(std::string_view credentials, vault::UnixSeconds now);

  // True while the token with record id `token_id` is neither revoked nor expired (and
  // still in the vault) at time now.
  bool is_active(const std::string& token_id, vault::UnixSeconds now);

  // Appends an audit entry through the verifier's vault handle. Thread-safe.
  vault::Result<std::int64_t> append_audit(const vault::AuditEntry& entry);

  // Reads the records once (at startup, to fail early). Returns the first problem.
  vault::Status load();

 private:
  struct Snapshot {
    std::vector<std::shared_ptr<const TokenRecord>> tokens;
    std::map<std::int64_t, vault::SecretBuffer> keys;  // hash key by version
  };
  // Reloads the snapshot when the vault changed. Called with mutex_ held.
  void refresh_locked();
  vault::Status reload_locked();

  std::mutex mutex_;
  vault::Vault vault_;
  std::optional<std::int64_t> loaded_version_;
  std::shared_ptr<const Snapshot> snapshot_;
};

}  // namespace keyhold::auth
