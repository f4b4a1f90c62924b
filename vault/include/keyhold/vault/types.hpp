#pragma once
// Plain records the vault hands out: metadata only, never values.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace keyhold::vault {

// Unix time in seconds (UTC).
using UnixSeconds = std::int64_t;

// What a grant allows a plugin instance to do with a secret. A bit set.
enum class Operation : std::uint32_t { kReveal = 1, kSign = 2, kEnv = 4 };

// "reveal" / "sign" / "env".
const char* operation_name(Operation op) noexcept;
// Parses "reveal,sign" into a bit set; returns 0 on an unknown or empty list.
std::uint32_t parse_operations(std::string_view comma_list) noexcept;
// Formats a bit set as "reveal,sign,env" (in that order).
std::string format_operations(std::uint32_t ops);

// Staging labels of a secret version (AWS Secrets Manager style). At most one version of a
// secret carries each label.
enum class Stage { kNone, kCurrent, kPrevious, kPending };
const char* stage_name(Stage stage) noexcept;  // "", "current", "previous", "pending"

struct VersionInfo {
  std::int64_t version = 0;
  Stage stage = Stage::kNone;
  std::int64_t key_term = 0;
  UnixSeconds created_at = 0;
};

struct SecretInfo {
  std::int64_t id = 0;
  std::string name;
  std::string description;
  UnixSeconds created_at = 0;
  UnixSeconds updated_at = 0;
  std::optional<std::int64_t> rotate_every_seconds;
  std::optional<std::int64_t> current_version;
  UnixSeconds current_since = 0;  // when the current version was labelled current
  bool removed = false;           // `rm` without --purge: hidden, values kept
  // True when a rotation period is set and the current version is older than it.
  bool overdue(UnixSeconds now) const noexcept {
    return rotate_every_seconds && current_version && now - current_since > *rotate_every_seconds;
  }
};

struct Grant {
  std::string instance;
  std::string pattern;  // a secret name, or "prefix/*"
  std::uint32_t operations = 0;
  std::optional<UnixSeconds> expires_at;
  UnixSeconds created_at = 0;
  bool authentic = true;  // false when the row's MAC does not verify (edited in the file)
};

// Who did something, for the audit trail.
struct AuditContext {
  std::string actor;       // "cli:uid=1000", "host:serve", ...
  std::string request_id;  // correlates entries of one request; random when empty
};

// One audit entry. Values never appear here; detail is free text chosen by the caller.
struct AuditEntry {
  std::int64_t seq = 0;
  UnixSeconds at = 0;
  std::string actor;
  std::string action;  // "set", "reveal", "grant", "handle.acquire", ...
  std::string secret;
  std::string instance;
  std::string operation;
  std::string request_id;
  std::string outcome;  // "ok", "denied", "error"
  std::string detail;
};

// Result of walking the audit chain.
struct AuditVerification {
  bool ok = true;
  std::int64_t entries_checked = 0;
  std::int64_t anchored_count = 0;
  std::optional<std::int64_t> first_bad_seq;  // the first entry that does not verify
  std::string problem;                        // what is wrong with it, for a person
  // Every entry verifies in order and only the anchor is missing or edited: the case
  // Vault::repair_audit_anchor can fix.
  bool anchor_only = false;
};

// What Vault::repair_audit_anchor did.
struct AnchorRepair {
  bool repaired = false;         // false: the anchor was intact, nothing changed
  std::int64_t entries = 0;      // entries verified and anchored
  std::string previous_problem;  // what was wrong with the anchor
  // false: the grant set did not match the generation the audit log recorded, and every
  // grant is ignored until granted again
  bool grants_kept = true;
};

// Counts for `vault status`.
struct VaultSummary {
  std::int64_t secrets = 0;
  std::int64_t removed_secrets = 0;
  std::int64_t versions = 0;
  std::int64_t grants = 0;
  std::int64_t audit_entries = 0;
  // The MAC of the last audit entry (hex), with audit_entries: a figure to record outside
  // the vault. A later copy whose entry audit_entries no longer has this MAC, or that has
  // fewer entries, is an older copy or a rewritten log (see Vault::audit_head_at).
  std::string audit_head;
  std::int64_t active_key_term = 0;
  std::string unlock_method;  // "passphrase" or "keyfile"
  std::int64_t kdf_opslimit = 0;
  std::int64_t kdf_memlimit = 0;
  std::int64_t schema_version = 0;
  std::vector<std::string> overdue_secrets;
};

// How a secret is rotated automatically (`keyhold vault set-rotation`). Stored in the vault
// under a MAC (an edited row is not run; see vault/README.md, "Rotation"). Never a value.
struct RotationPolicy {
  std::string strategy;            // "generate", "postgres" or "command"
  std::int64_t every_seconds = 0;  // the schedule (also the secret's rotate_every)
  std::string options = "{}";      // strategy options, a JSON object (names, never values)
  std::string admin_secret;        // postgres: the vault secret that holds the admin password
  std::int64_t grace_seconds = 0;  // the previous version stays labelled previous this long
  bool drop_previous = false;      // after the grace period, erase the previous version
};

// A policy with where its secret stands (`vault list`, `vault status`, `rotate --due`).
struct RotationInfo {
  std::string secret;
  RotationPolicy policy;
  bool authentic = true;  // false: the row's MAC does not verify (edited in the file)
  std::optional<std::int64_t> current_version;
  UnixSeconds current_since = 0;
  std::optional<std::int64_t> pending_version;  // a rotation in flight (or kept after a failure)
  std::optional<std::int64_t> previous_version;
  UnixSeconds previous_since = 0;
  UnixSeconds last_attempt_at = 0;  // 0: never attempted
  std::string last_result;          // "", "ok" or "failed"
  std::string last_error;           // why the last attempt failed (names only, never a value)
  std::string lock_owner;           // who is rotating it now, when lock_until is in the future
  UnixSeconds lock_until = 0;

  UnixSeconds next_at() const noexcept { return current_since + policy.every_seconds; }
  // Due: the schedule says so, or a rotation is in flight (a pending version to resume).
  bool due(UnixSeconds now) const noexcept {
    return pending_version.has_value() || !current_version || now >= next_at();
  }
  bool overdue(UnixSeconds now) const noexcept { return current_version && now > next_at(); }
};

// How a rotation attempt ended (Vault::finish_rotation).
struct RotationOutcome {
  bool ok = false;               // the pending version was applied, tested and is promoted
  bool discard_pending = false;  // failed, and the service verifiably accepts current:
                                 // the pending version loses its label (kept for inspection)
  std::string step;              // the step that failed ("set", "test", ...), or ""
  std::string error;             // for a person; names only, never a value
};

// Secret names are path-like: segments of [A-Za-z0-9._-] joined by '/', no empty segment,
// no leading or trailing '/', at most 256 bytes. Returns an explanation when invalid.
std::optional<std::string> validate_secret_name(std::string_view name);
// Plugin instance names: [A-Za-z0-9_-], 1..64 bytes.
std::optional<std::string> validate_instance_name(std::string_view name);
// A grant pattern: a valid secret name, or a valid name followed by "/*".
std::optional<std::string> validate_grant_pattern(std::string_view pattern);
// True when pattern (already valid) covers secret_name.
bool grant_pattern_matches(std::string_view pattern, std::string_view secret_name) noexcept;

// Whether grants (of one instance, as read from the vault) allow op on secret_name at now:
// only authentic grants count; an expired grant that would have allowed it says kExpired.
enum class GrantDecision { kAllowed, kDenied, kExpired };
GrantDecision decide_grant(std::span<const Grant> grants, std::string_view secret_name,
                           Operation op, UnixSeconds now) noexcept;

}  // namespace keyhold::vault
