#pragma once
// Drives rotations through the stages pending -> tested -> current (after AWS Secrets
// Manager's create / set / test / finish), one secret at a time:
//
//   lock     the secret's rotation lock in the vault (one rotator per secret, across hosts)
//   create   a new value stored as the pending version (skipped when a pending version
//            already exists: a crashed or failed rotation is resumed with that value)
//   apply    the strategy makes the service accept it        (idempotent)
//   test     the strategy proves the service accepts it       (idempotent)
//   finish   pending becomes current, the old current previous, result recorded, unlocked:
//            one vault transaction
//
// On a failure current is never touched. The pending version is discarded (its label
// dropped, the row kept for `history`) only once the service verifiably accepts the
// current value again (test(current), after apply(current) when needed); otherwise it stays
// pending and the next run resumes it. kill -9 at any point leaves either no pending
// version (nothing happened, or it finished) or one that the next run resumes, so there is
// never more than one current version, and once a run finishes the service accepts
// exactly the current one.
#include <functional>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "keyhold/vault/vault.hpp"

namespace keyhold::rotation {

struct RotationReport {
  std::string secret;
  enum class Result { kRotated, kFailed, kSkippedLocked, kNotDue } result = Result::kNotDue;
  std::int64_t version = 0;  // the new current version, when rotated
  bool resumed = false;      // a pending version from an earlier run was finished
  std::string message;       // for a person; never a value
};

struct RunnerOptions {
  std::string owner;                 // lock owner; default "HOST pid PID"
  std::int64_t lease_seconds = 600;  // how long a lock holds when its holder vanishes elsewhere
  vault::AuditContext who{.actor = "keyhold:rotation", .request_id = ""};
  // Called once the pending version is stored (new or resumed) and before apply uses it,
  // so the serving host's redactor learns it before the service or anyone else sees it.
  // May be empty.
  std::function<void(const std::string& secret, const vault::SecretBuffer& value)> on_new_value;
};

// Rotates name now (due or not), or resumes its pending version. With only_if_due, the
// schedule is checked again once the lock is held (another host may have rotated it in
// the meantime) and kNotDue returned when it is no longer due. Never throws.
RotationReport rotate_secret(vault::Vault& vault, const std::string& name,
                             const RunnerOptions& options = {}, bool only_if_due = false);

// Rotates every secret whose policy says it is due (or that has a pending version), one
// after the other, and erases previous versions whose grace period ended when the policy
// asks for it.
std::vector<RotationReport> rotate_due(vault::Vault& vault, const RunnerOptions& options = {});

// "HOST pid PID": the default lock owner of this process.
std::string default_lock_owner();

// True when holder names a process on this machine that no longer exists.
bool lock_holder_is_dead(const std::string& holder);

}  // namespace keyhold::rotation
