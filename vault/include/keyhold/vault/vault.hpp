#pragma once
// Vault: an unlocked handle on one encrypted SQLite vault file.
//
// Threading: a Vault object is not thread-safe; give each thread its own (opening is
// cheap with a keyfile; with a passphrase, derive once and share under a mutex). Several
// processes may hold the same file at once: every write runs in BEGIN IMMEDIATE with a
// busy timeout, so writers queue instead of failing, and readers see committed data.
//
// Every mutating call appends its audit entry in the same transaction as the change, so a
// change without its audit entry (or the reverse) cannot be observed, even after kill -9.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "keyhold/vault/credentials.hpp"
#include "keyhold/vault/secret_buffer.hpp"
#include "keyhold/vault/status.hpp"
#include "keyhold/vault/types.hpp"

namespace keyhold::vault {

struct VaultState;  // internal

inline constexpr std::int64_t kSchemaVersion = 3;

struct PutOptions {
  std::optional<std::string> description;            // unchanged when not set
  std::optional<std::int64_t> rotate_every_seconds;  // unchanged when not set; 0 clears
  // kCurrent: the new version becomes current and the old current becomes previous.
  // kPending: the new version is labelled pending (see promote_pending).
  Stage stage = Stage::kCurrent;
  bool must_exist = false;  // rotate: refuse to create a new secret
};

struct AuditFilter {
  std::optional<UnixSeconds> since;
  std::optional<std::string> instance;
  std::optional<std::string> secret;
};

class Vault {
 public:
  // Creates a new vault file at path (mode 0600, WAL, secure_delete) protected by
  // credentials, and records an "init" audit entry. kAlreadyExists if path exists.
  static Result<Vault> create(const std::filesystem::path& path, const Credentials& credentials,
                              const KdfParams& kdf, const AuditContext& who);
  // Opens and unlocks an existing vault. kNotFound if there is no file, kUnlockFailed for a
  // wrong passphrase/keyfile or a modified header (the file is not changed either way),
  // kUnsupported for a newer schema. Migrates an older schema in place.
  static Result<Vault> open(const std::filesystem::path& path, const Credentials& credentials);

  Vault(Vault&&) noexcept;
  Vault& operator=(Vault&&) noexcept;
  ~Vault();  // zeroes all key material

  const std::filesystem::path& path() const noexcept;

  // ---- secrets (metadata only, never values) ----
  // The secret named name, kNotFound if absent or removed.
  Result<SecretInfo> find_secret(std::string_view name);
  // Every secret that is not removed, ordered by name.
  Result<std::vector<SecretInfo>> list_secrets();
  // Versions of name, oldest first.
  Result<std::vector<VersionInfo>> list_versions(std::string_view name);

  // ---- values ----
  // Decrypts one version (the current one when version is empty) into guarded memory.
  // kIntegrity (naming secret, version, term) when the record does not authenticate.
  // Does not audit: the caller records the access (CLI reveal, host handle broker).
  Result<SecretBuffer> read_secret(std::string_view name,
                                   std::optional<std::int64_t> version = std::nullopt);
  // Stores value as a new version of name (creating the secret if needed unless
  // options.must_exist); returns the new version number. Audited as action.
  Result<std::int64_t> put_secret(std::string_view name, std::span<const std::uint8_t> value,
                                  const PutOptions& options, const AuditContext& who,
                                  std::string_view action = "set");
  // Moves the pending label to current (old current becomes previous). Audited.
  Status promote_pending(std::string_view name, const AuditContext& who);
  // Moves the current label to version `to` (default: the previous version); the old
  // current becomes previous. Values are not touched. Audited.
  Status rollback(std::string_view name, std::optional<std::int64_t> to, const AuditContext& who);
  // Without purge: hides the secret (values kept; `put_secret` revives it). With purge:
  // deletes the secret, every version, and grants naming it exactly, then checkpoints the
  // WAL so the erased pages leave the -wal file. Audited.
  Status remove_secret(std::string_view name, bool purge, const AuditContext& who);

  // ---- rotation policies and state (vault_rotation.cpp) ----
  // Stores (or replaces) the rotation policy of name, under a MAC, and sets the secret's
  // rotate_every to policy.every_seconds. Audited ("rotation.set").
  Status set_rotation(std::string_view name, const RotationPolicy& policy, const AuditContext& who);
  // Removes the policy of name (rotate_every stays); kNotFound when it has none. Audited.
  Status clear_rotation(std::string_view name, const AuditContext& who);
  // The policy and state of name; kNotFound when it has none.
  Result<RotationInfo> find_rotation(std::string_view name);
  // Every secret that has a policy (removed secrets excluded), ordered by name.
  Result<std::vector<RotationInfo>> list_rotations();
  // Takes the rotation lock of name for owner until now + lease_seconds. False when another
  // holder's lease has not ended, unless holder_is_dead(holder) says that holder is gone (a
  // killed process on this machine). One transaction, so two hosts never both get it.
  Result<bool> lock_rotation(std::string_view name, const std::string& owner,
                             std::int64_t lease_seconds,
                             const std::function<bool(const std::string&)>& holder_is_dead);
  // Releases owner's lock on name without recording an attempt (it found nothing to do).
  Status unlock_rotation(std::string_view name, const std::string& owner);
  // Ends an attempt in one transaction: on outcome.ok the pending version becomes current
  // (the old current previous); with outcome.discard_pending the pending version loses its
  // label; records the result, releases owner's lock and audits "rotation" (ok or error,
  // with the step and error in the detail).
  Status finish_rotation(std::string_view name, const RotationOutcome& outcome,
                         const std::string& owner, const AuditContext& who);
  // When the policy asks for it and the previous version has been previous for longer than
  // the grace period, erases that version. True when one was erased. Audited.
  Result<bool> drop_expired_previous(std::string_view name, const AuditContext& who);

  // ---- grants (deny by default) ----
  // Adds or replaces the grant (instance, pattern). Audited.
  Status grant(std::string_view instance, std::string_view pattern, std::uint32_t operations,
               std::optional<UnixSeconds> expires_at, const AuditContext& who);
  // Removes the grant (instance, pattern); kNotFound if there was none. Audited.
  Status revoke(std::string_view instance, std::string_view pattern, const AuditContext& who);
  // All grants, or those of one instance.
  Result<std::vector<Grant>> list_grants(std::optional<std::string_view> instance = std::nullopt);
  // OK when a grant with an intact MAC allows op on secret_name for instance at now;
  // kPermissionDenied otherwise. Does not audit.
  Status check_grant(std::string_view instance, std::string_view secret_name, Operation op,
                     UnixSeconds now);

  // ---- audit ----
  // Appends one entry to the chain (seq, time and MAC are filled in); returns its seq.
  Result<std::int64_t> append_audit(const AuditEntry& entry);
  // Appends entries in order in one transaction (all or none); returns the last seq.
  Result<std::int64_t> append_audit(std::span<const AuditEntry> entries);
  Result<std::vector<AuditEntry>> read_audit(const AuditFilter& filter = {});
  // Walks the whole chain and the anchor; reports the first entry that does not verify.
  Result<AuditVerification> verify_audit();
  // Rebuilds a missing or edited audit anchor over the chain, after verifying every entry;
  // kIntegrity (nothing changed) when an entry does not verify. Entries removed from the end
  // before the repair cannot be detected afterwards. Grants stay valid only when the grant
  // set matches the generation the chain recorded. Audited ("audit.repair-anchor").
  Result<AnchorRepair> repair_audit_anchor(const AuditContext& who);
  // The MAC (hex) of audit entry seq, or nullopt when there is none: compared with a head
  // recorded earlier from `vault status`, it shows whether this file continues that history.
  Result<std::optional<std::string>> audit_mac_at(std::int64_t seq);

  // ---- keys ----
  // Rewraps the root key under new credentials (new salt); records are not touched.
  Status change_credentials(const Credentials& new_credentials, const KdfParams& kdf,
                            const AuditContext& who);
  // Starts a new key term, reseals every version under it and retires (erases) every older
  // term, all in one transaction. Returns the new term.
  Result<std::int64_t> rekey(const AuditContext& who);

  // A 32-byte key for one purpose of the host, derived from the root key with libsodium's
  // KDF: every process that unlocks this vault derives the same key, nothing without the
  // root key can, and it is never stored. kRequestState seals the request state of MCP
  // 2026-07-28 multi-round-trip calls, so `keyhold serve` processes on one vault accept each
  // other's. (rekey changes data keys, not the root: the key survives it.)
  enum class HostKey : std::uint64_t { kRequestState = 16 };
  SecretBuffer derive_host_key(HostKey purpose) const;

  // ---- housekeeping ----
  Result<VaultSummary> summary(UnixSeconds now);
  // Changes whenever another connection commits (SQLite's PRAGMA data_version) or the
  // connection was reopened because the files on disk were replaced. Cheap.
  Result<std::int64_t> data_version();
  // Writes an encrypted, authenticated copy to backup_path (created 0600, never
  // overwritten). Audited (the entry is inside the backup).
  Status backup(const std::filesystem::path& backup_path, const AuditContext& who);
  // Decrypts backup_path with credentials into a new vault file at target (which must not
  // exist), after checking the whole stream and the audit chain. Appends a "restore" entry.
  static Status restore(const std::filesystem::path& backup_path,
                        const std::filesystem::path& target, const Credentials& credentials,
                        const AuditContext& who);
  // Flushes the WAL into the main file and truncates it (best effort when readers are
  // active).
  Status checkpoint();

 private:
  explicit Vault(std::unique_ptr<VaultState> state);
  std::unique_ptr<VaultState> state_;
};

// The vault's clock (Unix seconds): the system clock; in a build with KEYHOLD_TEST_HOOKS,
// KEYHOLD_TEST_NOW=<unix seconds> in the environment replaces it (tests of schedules; a
// warning is printed once). Every timestamp the vault writes comes from here.
UnixSeconds clock_now();

// Makes this process refuse core dumps and ptrace attach (PR_SET_DUMPABLE 0, RLIMIT_CORE 0).
// Call once the process holds key material.
Status harden_process();

// Parses a duration in the SDK grammar (keyhold/sdk/duration.hpp: "90d", "24h", "30m",
// "45s", "2w", "1h30m") into seconds; nullopt when malformed, not positive, or not a whole
// number of seconds ("1500ms").
std::optional<std::int64_t> parse_duration(std::string_view text);

}  // namespace keyhold::vault
