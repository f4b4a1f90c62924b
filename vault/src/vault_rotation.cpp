// Rotation policies and the state of rotations (issue 19). The policy says what runs when
// (a strategy, its options, for `command` an argv), so its row carries a MAC under the
// grant key with its own label: a policy edited in the file (say, another argv) is shown
// as tampered and never run. The state columns (last attempt, result, lock) are not under
// the MAC: editing them can only make a rotation run early, late or be reported wrongly.
#include <string>

#include "keyhold/vault/vault.hpp"
#include "secret_rows.hpp"
#include "vault_state.hpp"

namespace keyhold::vault {
namespace {

constexpr const char* kRotationColumns =
    "s.name, r.strategy, r.every, r.options, r.admin_secret, r.grace, r.drop_previous, r.mac, "
    "r.last_attempt_at, r.last_result, r.last_error, r.lock_owner, r.lock_until, s.id "
    "FROM rotation r JOIN secrets s ON s.id = r.secret_id";

crypto::Bytes policy_mac(const VaultState& state, std::int64_t secret_id, std::string_view name,
                         const RotationPolicy& p) {
  crypto::Encoder msg;
  msg.str("keyhold.vault.rotation-policy.v1")
      .bytes(state.vault_id)
      .i64(secret_id)
      .str(name)
      .str(p.strategy)
      .i64(p.every_seconds)
      .str(p.options)
      .str(p.admin_secret)
      .i64(p.grace_seconds)
      .u8(p.drop_previous ? 1 : 0);
  return crypto::mac(state.grant_key, msg.out());
}

struct StagedVersion {
  std::int64_t version = 0;
  UnixSeconds since = 0;
};

std::optional<StagedVersion> staged(SQLite::Database& db, std::int64_t secret_id,
                                    const char* stage) {
  SQLite::Statement query(db,
                          "SELECT version, coalesce(staged_at, created_at) FROM versions "
                          "WHERE secret_id = ? AND stage = ?");
  query.bind(1, secret_id);
  query.bind(2, stage);
  if (!query.executeStep()) return std::nullopt;
  return StagedVersion{query.getColumn(0).getInt64(), query.getColumn(1).getInt64()};
}

RotationInfo rotation_from_row(VaultState& state, SQLite::Statement& row) {
  RotationInfo info;
  info.secret = row.getColumn(0).getString();
  info.policy.strategy = row.getColumn(1).getString();
  info.policy.every_seconds = row.getColumn(2).getInt64();
  info.policy.options = row.getColumn(3).getString();
  info.policy.admin_secret = row.getColumn(4).getString();
  info.policy.grace_seconds = row.getColumn(5).getInt64();
  info.policy.drop_previous = row.getColumn(6).getInt64() != 0;
  const crypto::Bytes mac = column_bytes(row.getColumn(7));
  if (!row.getColumn(8).isNull()) info.last_attempt_at = row.getColumn(8).getInt64();
  info.last_result = row.getColumn(9).getString();
  info.last_error = row.getColumn(10).getString();
  if (!row.getColumn(11).isNull()) info.lock_owner = row.getColumn(11).getString();
  if (!row.getColumn(12).isNull()) info.lock_until = row.getColumn(12).getInt64();
  const std::int64_t secret_id = row.getColumn(13).getInt64();
  info.authentic = crypto::mac_equal(mac, policy_mac(state, secret_id, info.secret, info.policy));
  SQLite::Database& db = *state.db;
  if (auto current = staged(db, secret_id, "current")) {
    info.current_version = current->version;
    info.current_since = current->since;
  }
  if (auto pending = staged(db, secret_id, "pending")) info.pending_version = pending->version;
  if (auto previous = staged(db, secret_id, "previous")) {
    info.previous_version = previous->version;
    info.previous_since = previous->since;
  }
  return info;
}

std::optional<RotationInfo> find_in(VaultState& state, std::string_view name) {
  SQLite::Statement query(*state.db, std::string("SELECT ") + kRotationColumns +
                                         " WHERE s.name = ? AND s.removed_at IS NULL");
  query.bind(1, std::string(name));
  if (!query.executeStep()) return std::nullopt;
  return rotation_from_row(state, query);
}

Status no_policy(std::string_view name) {
  return Status(ErrorCode::kNotFound, "secret '" + std::string(name) +
                                          "' has no rotation policy (set one with `keyhold "
                                          "vault set-rotation`)");
}

AuditEntry rotation_entry(const AuditContext& who, std::string action, std::string_view secret,
                          std::string outcome, std::string detail) {
  AuditEntry entry;
  entry.actor = who.actor;
  entry.request_id = who.request_id;
  entry.action = std::move(action);
  entry.secret = std::string(secret);
  entry.outcome = std::move(outcome);
  entry.detail = std::move(detail);
  return entry;
}

}  // namespace

Status Vault::set_rotation(std::string_view name, const RotationPolicy& policy,
                           const AuditContext& who) {
  if (policy.every_seconds <= 0) {
    return Status(ErrorCode::kInvalidArgument, "a rotation period must be positive");
  }
  if (policy.grace_seconds < 0) {
    return Status(ErrorCode::kInvalidArgument, "a grace period cannot be negative");
  }
  return guarded(*state_, "setting a rotation policy", [&]() -> Status {
    VaultState& s = *state_;
    SQLite::Transaction txn(*s.db, SQLite::TransactionBehavior::IMMEDIATE);
    auto info = lookup(*s.db, name);
    if (!info || info->removed) return not_found(name);
    SQLite::Statement upsert(
        *s.db,
        "INSERT INTO rotation(secret_id, strategy, every, options, admin_secret, grace, "
        "drop_previous, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(secret_id) DO UPDATE "
        "SET strategy = excluded.strategy, every = excluded.every, options = excluded.options, "
        "admin_secret = excluded.admin_secret, grace = excluded.grace, "
        "drop_previous = excluded.drop_previous, mac = excluded.mac");
    upsert.bind(1, info->id);
    upsert.bind(2, policy.strategy);
    upsert.bind(3, policy.every_seconds);
    upsert.bind(4, policy.options);
    upsert.bind(5, policy.admin_secret);
    upsert.bind(6, policy.grace_seconds);
    upsert.bind(7, policy.drop_previous ? 1 : 0);
    bind_bytes(upsert, 8, policy_mac(s, info->id, name, policy));
    upsert.exec();
    SQLite::Statement every(*s.db, "UPDATE secrets SET rotate_every = ? WHERE id = ?");
    every.bind(1, policy.every_seconds);
    every.bind(2, info->id);
    every.exec();
    std::string detail =
        "strategy=" + policy.strategy + " every=" + std::to_string(policy.every_seconds) + "s";
    if (!policy.admin_secret.empty()) detail += " admin_secret=" + policy.admin_secret;
    detail += " grace=" + std::to_string(policy.grace_seconds) + "s";
    if (policy.drop_previous) detail += " drop_previous";
    s.append_audit_in_transaction(rotation_entry(who, "rotation.set", name, "ok", detail));
    txn.commit();
    return Status::ok();
  });
}

Status Vault::clear_rotation(std::string_view name, const AuditContext& who) {
  return guarded(*state_, "removing a rotation policy", [&]() -> Status {
    VaultState& s = *state_;
    SQLite::Transaction txn(*s.db, SQLite::TransactionBehavior::IMMEDIATE);
    auto info = lookup(*s.db, name);
    if (!info || info->removed) return not_found(name);
    SQLite::Statement remove(*s.db, "DELETE FROM rotation WHERE secret_id = ?");
    remove.bind(1, info->id);
    if (remove.exec() == 0) return no_policy(name);
    s.append_audit_in_transaction(rotation_entry(who, "rotation.clear", name, "ok", ""));
    txn.commit();
    return Status::ok();
  });
}

Result<RotationInfo> Vault::find_rotation(std::string_view name) {
  return guarded(*state_, "reading a rotation policy", [&]() -> Result<RotationInfo> {
    auto info = find_in(*state_, name);
    if (!info) {
      if (auto secret = lookup(*state_->db, name); !secret || secret->removed) {
        return not_found(name);
      }
      return no_policy(name);
    }
    return std::move(*info);
  });
}

Result<std::vector<RotationInfo>> Vault::list_rotations() {
  return guarded(*state_, "listing rotation policies", [&]() -> Result<std::vector<RotationInfo>> {
    SQLite::Statement query(*state_->db, std::string("SELECT ") + kRotationColumns +
                                             " WHERE s.removed_at IS NULL ORDER BY s.name");
    std::vector<RotationInfo> out;
    while (query.executeStep()) out.push_back(rotation_from_row(*state_, query));
    return out;
  });
}

Result<bool> Vault::lock_rotation(std::string_view name, const std::string& owner,
                                  std::int64_t lease_seconds,
                                  const std::function<bool(const std::string&)>& holder_is_dead) {
  return guarded(*state_, "locking a rotation", [&]() -> Result<bool> {
    VaultState& s = *state_;
    SQLite::Transaction txn(*s.db, SQLite::TransactionBehavior::IMMEDIATE);
    auto info = find_in(s, name);
    if (!info) return no_policy(name);
    const UnixSeconds now = now_seconds();
    const bool held_by_other = !info->lock_owner.empty() && info->lock_owner != owner &&
                               info->lock_until > now &&
                               !(holder_is_dead && holder_is_dead(info->lock_owner));
    if (held_by_other) return false;
    SQLite::Statement update(*s.db,
                             "UPDATE rotation SET lock_owner = ?, lock_until = ?, "
                             "last_attempt_at = ? WHERE secret_id = "
                             "(SELECT id FROM secrets WHERE name = ?)");
    update.bind(1, owner);
    update.bind(2, now + lease_seconds);
    update.bind(3, now);
    update.bind(4, std::string(name));
    update.exec();
    txn.commit();
    return true;
  });
}

Status Vault::unlock_rotation(std::string_view name, const std::string& owner) {
  return guarded(*state_, "unlocking a rotation", [&]() -> Status {
    SQLite::Transaction txn(*state_->db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement update(*state_->db,
                             "UPDATE rotation SET lock_owner = NULL, lock_until = NULL "
                             "WHERE lock_owner = ? AND secret_id = "
                             "(SELECT id FROM secrets WHERE name = ?)");
    update.bind(1, owner);
    update.bind(2, std::string(name));
    update.exec();
    txn.commit();
    return Status::ok();
  });
}

Status Vault::finish_rotation(std::string_view name, const RotationOutcome& outcome,
                              const std::string& owner, const AuditContext& who) {
  return guarded(*state_, "finishing a rotation", [&]() -> Status {
    VaultState& s = *state_;
    SQLite::Transaction txn(*s.db, SQLite::TransactionBehavior::IMMEDIATE);
    auto secret = lookup(*s.db, name);
    if (!secret || secret->removed) return not_found(name);
    auto info = find_in(s, name);
    if (!info) return no_policy(name);
    const UnixSeconds now = now_seconds();
    std::string detail = "strategy=" + info->policy.strategy;
    if (outcome.ok) {
      if (!info->pending_version) {
        return Status(ErrorCode::kNotFound,
                      "secret '" + std::string(name) + "' has no pending version to promote");
      }
      make_current(*s.db, secret->id, *info->pending_version, now);
      detail += " version=" + std::to_string(*info->pending_version) + " stage=current";
      if (info->current_version) detail += " previous=" + std::to_string(*info->current_version);
    } else {
      if (info->pending_version) {
        detail += " pending=" + std::to_string(*info->pending_version);
        if (outcome.discard_pending) {
          set_stage(*s.db, secret->id, *info->pending_version, nullptr, now);
          detail += " discarded";
        } else {
          detail += " kept";
        }
      }
      detail += " step=" + outcome.step + " error=" + outcome.error;
    }
    SQLite::Statement update(*s.db,
                             "UPDATE rotation SET last_result = ?, last_error = ?, "
                             "lock_owner = CASE WHEN lock_owner = ? THEN NULL ELSE lock_owner END, "
                             "lock_until = CASE WHEN lock_owner = ? THEN NULL ELSE lock_until END "
                             "WHERE secret_id = ?");
    update.bind(1, outcome.ok ? "ok" : "failed");
    update.bind(2, outcome.ok ? std::string() : outcome.step + ": " + outcome.error);
    update.bind(3, owner);
    update.bind(4, owner);
    update.bind(5, secret->id);
    update.exec();
    s.append_audit_in_transaction(
        rotation_entry(who, "rotation", name, outcome.ok ? "ok" : "error", detail));
    txn.commit();
    return Status::ok();
  });
}

Result<bool> Vault::drop_expired_previous(std::string_view name, const AuditContext& who) {
  return guarded(*state_, "dropping a previous version", [&]() -> Result<bool> {
    VaultState& s = *state_;
    SQLite::Transaction txn(*s.db, SQLite::TransactionBehavior::IMMEDIATE);
    auto info = find_in(s, name);
    if (!info) return no_policy(name);
    if (!info->authentic || !info->policy.drop_previous || !info->previous_version) return false;
    if (now_seconds() < info->previous_since + info->policy.grace_seconds) return false;
    auto secret = lookup(*s.db, name);
    SQLite::Statement erase(*s.db, "DELETE FROM versions WHERE secret_id = ? AND version = ?");
    erase.bind(1, secret->id);
    erase.bind(2, *info->previous_version);
    erase.exec();
    s.append_audit_in_transaction(
        rotation_entry(who, "rotation.drop-previous", name, "ok",
                       "version=" + std::to_string(*info->previous_version) +
                           " grace=" + std::to_string(info->policy.grace_seconds) + "s"));
    txn.commit();
    return true;
  });
}

}  // namespace keyhold::vault
