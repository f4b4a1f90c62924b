#include "rotation/rotation_runner.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "rotation/rotation_strategy.hpp"
#include "rotation/test_hooks.hpp"

namespace keyhold::rotation {
namespace {

std::string host_name() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof buffer - 1) != 0) return "unknown-host";
  return buffer;
}

RotationReport failed(const std::string& name, std::string message) {
  RotationReport report;
  report.secret = name;
  report.result = RotationReport::Result::kFailed;
  report.message = std::move(message);
  return report;
}

// Whether the service accepts the current value again after a failed attempt: test it, and
// when that fails apply it and test again. Only then may the pending version go.
bool service_accepts_current(vault::Vault& vault, const std::string& name,
                             RotationStrategy& strategy) {
  auto current = vault.read_secret(name);
  if (!current.is_ok()) return false;
  if (strategy.test(current->bytes()).is_ok()) return true;
  return strategy.apply(current->bytes()).is_ok() && strategy.test(current->bytes()).is_ok();
}

}  // namespace

std::string default_lock_owner() { return host_name() + " pid " + std::to_string(::getpid()); }

bool lock_holder_is_dead(const std::string& holder) {
  const std::string prefix = host_name() + " pid ";
  if (holder.rfind(prefix, 0) != 0) return false;  // another machine: wait for the lease
  char* end = nullptr;
  const long pid = std::strtol(holder.c_str() + prefix.size(), &end, 10);
  if (end == holder.c_str() + prefix.size() || *end != '\0' || pid <= 0) return false;
  if (pid == ::getpid()) return false;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

RotationReport rotate_secret(vault::Vault& vault, const std::string& name,
                             const RunnerOptions& options, bool only_if_due) {
  const std::string owner = options.owner.empty() ? default_lock_owner() : options.owner;
  const vault::AuditContext& who = options.who;
  auto info = vault.find_rotation(name);
  if (!info.is_ok()) return failed(name, info.status().message());
  auto locked = vault.lock_rotation(name, owner, options.lease_seconds, lock_holder_is_dead);
  if (!locked.is_ok()) return failed(name, locked.status().message());
  if (!locked.value()) {
    RotationReport report;
    report.secret = name;
    report.result = RotationReport::Result::kSkippedLocked;
    report.message = "another rotator holds the lock (" + info->lock_owner + ")";
    return report;
  }
  // What was read before the lock may be stale: another rotator may just have finished.
  if (auto fresh = vault.find_rotation(name); fresh.is_ok()) info = std::move(fresh);
  if (!info->authentic) {
    // Never run an edited policy (its argv or options may not be the administrator's).
    const std::string why =
        "the rotation policy of '" + name +
        "' does not verify (edited in the file); set it again with `keyhold vault set-rotation`";
    (void)vault.finish_rotation(
        name, {.ok = false, .discard_pending = false, .step = "policy", .error = why}, owner, who);
    return failed(name, why);
  }
  const auto give_up = [&](const std::string& step, const Status& why, RotationStrategy* strategy) {
    bool discard = false;
    if (strategy != nullptr) {
      auto now_info = vault.find_rotation(name);
      discard = now_info.is_ok() && now_info->pending_version &&
                service_accepts_current(vault, name, *strategy);
    }
    const vault::RotationOutcome outcome{
        .ok = false, .discard_pending = discard, .step = step, .error = why.message()};
    if (auto s = vault.finish_rotation(name, outcome, owner, who); !s.is_ok()) {
      return failed(
          name, step + ": " + why.message() + " (and recording it failed: " + s.message() + ")");
    }
    return failed(name, step + ": " + why.message() +
                            (discard ? "; the pending version was discarded, current is unchanged"
                                     : "; current is unchanged, a pending version is kept and the "
                                       "next run resumes it"));
  };

  if (only_if_due) {
    if (!info->due(vault::clock_now())) {
      (void)vault.unlock_rotation(name, owner);
      RotationReport report;
      report.secret = name;
      report.result = RotationReport::Result::kNotDue;
      report.message = "no longer due (rotated elsewhere)";
      return report;
    }
  }
  auto strategy = make_strategy(info->policy, vault);
  if (!strategy.is_ok()) return give_up("prepare", strategy.status(), nullptr);
  RotationStrategy& s = *strategy.value();

  RotationReport report;
  report.secret = name;
  vault::SecretBuffer value;
  if (info->pending_version) {
    auto pending = vault.read_secret(name, *info->pending_version);
    if (!pending.is_ok()) return give_up("resume", pending.status(), nullptr);
    value = std::move(pending.value());
    report.resumed = true;
  } else {
    auto created = s.create_value();
    if (!created.is_ok()) return give_up("create", created.status(), nullptr);
    value = std::move(created.value());
    pause_at("created");
    vault::PutOptions put;
    put.stage = vault::Stage::kPending;
    put.must_exist = true;
    auto version = vault.put_secret(name, value.bytes(), put, who, "rotation.pending");
    if (!version.is_ok()) return give_up("create", version.status(), nullptr);
    pause_at("pending");
  }
  if (options.on_new_value) options.on_new_value(name, value);
  if (auto applied = s.apply(value.bytes()); !applied.is_ok()) return give_up("apply", applied, &s);
  pause_at("applied");
  if (auto tested = s.test(value.bytes()); !tested.is_ok()) return give_up("test", tested, &s);
  pause_at("tested");
  const vault::RotationOutcome done{.ok = true, .discard_pending = false, .step = "", .error = ""};
  if (auto finished = vault.finish_rotation(name, done, owner, who); !finished.is_ok()) {
    return failed(name, "finish: " + finished.message() + "; the next run resumes it");
  }
  pause_at("promoted");
  auto after = vault.find_rotation(name);
  report.result = RotationReport::Result::kRotated;
  report.version = after.is_ok() ? after->current_version.value_or(0) : 0;
  report.message = report.resumed ? "resumed the pending version and made it current"
                                  : "rotated; the new version is current";
  return report;
}

std::vector<RotationReport> rotate_due(vault::Vault& vault, const RunnerOptions& options) {
  std::vector<RotationReport> out;
  auto all = vault.list_rotations();
  if (!all.is_ok()) {
    out.push_back(failed("", all.status().message()));
    return out;
  }
  const vault::UnixSeconds now = vault::clock_now();
  for (const auto& info : all.value()) {
    if (auto dropped = vault.drop_expired_previous(info.secret, options.who); !dropped.is_ok()) {
      out.push_back(
          failed(info.secret, "dropping the previous version: " + dropped.status().message()));
    }
    if (!info.due(now)) continue;
    out.push_back(rotate_secret(vault, info.secret, options, /*only_if_due=*/true));
  }
  return out;
}

}  // namespace keyhold::rotation
