// Secrets, their versions and staging labels.
#include <string>

#include "keyhold/vault/record_codec.hpp"
#include "keyhold/vault/vault.hpp"
#include "secret_rows.hpp"
#include "vault_state.hpp"

namespace keyhold::vault {
namespace {

constexpr const char* kSecretColumns =
    "s.id, s.name, s.description, s.created_at, s.updated_at, s.rotate_every, s.removed_at, "
    "c.version, c.staged_at FROM secrets s LEFT JOIN versions c "
    "ON c.secret_id = s.id AND c.stage = 'current'";

SecretInfo secret_from_row(SQLite::Statement& row) {
  SecretInfo info;
  info.id = row.getColumn(0).getInt64();
  info.name = row.getColumn(1).getString();
  info.description = row.getColumn(2).getString();
  info.created_at = row.getColumn(3).getInt64();
  info.updated_at = row.getColumn(4).getInt64();
  if (!row.getColumn(5).isNull()) info.rotate_every_seconds = row.getColumn(5).getInt64();
  info.removed = !row.getColumn(6).isNull();
  if (!row.getColumn(7).isNull()) info.current_version = row.getColumn(7).getInt64();
  info.current_since = row.getColumn(8).isNull() ? 0 : row.getColumn(8).getInt64();
  return info;
}

Stage stage_from_text(const std::string& text) {
  if (text == "current") return Stage::kCurrent;
  if (text == "previous") return Stage::kPrevious;
  if (text == "pending") return Stage::kPending;
  return Stage::kNone;
}

AuditEntry admin_entry(const AuditContext& who, std::string_view action, std::string_view secret,
                       std::string detail) {
  AuditEntry entry;
  entry.actor = who.actor;
  entry.request_id = who.request_id;
  entry.action = std::string(action);
  entry.secret = std::string(secret);
  entry.detail = std::move(detail);
  return entry;
}

}  // namespace

Status not_found(std::string_view name) {
  return Status(ErrorCode::kNotFound,
                "no secret named '" + std::string(name) + "' (see `keyhold vault list`)");
}

std::optional<SecretInfo> lookup(SQLite::Database& db, std::string_view name) {
  SQLite::Statement query(db, std::string("SELECT ") + kSecretColumns + " WHERE s.name = ?");
  query.bind(1, std::string(name));
  if (!query.executeStep()) return std::nullopt;
  return secret_from_row(query);
}

void set_stage(SQLite::Database& db, std::int64_t secret_id, std::int64_t version,
               const char* stage, UnixSeconds now) {
  SQLite::Statement update(db,
                           "UPDATE versions SET stage = ?, staged_at = ? "
                           "WHERE secret_id = ? AND version = ?");
  if (stage == nullptr) {
    update.bind(1);
  } else {
    update.bind(1, stage);
  }
  update.bind(2, now);
  update.bind(3, secret_id);
  update.bind(4, version);
  update.exec();
}

std::optional<std::int64_t> version_with_stage(SQLite::Database& db, std::int64_t secret_id,
                                               const char* stage) {
  SQLite::Statement query(db, "SELECT version FROM versions WHERE secret_id = ? AND stage = ?");
  query.bind(1, secret_id);
  query.bind(2, stage);
  if (!query.executeStep()) return std::nullopt;
  return query.getColumn(0).getInt64();
}

void make_current(SQLite::Database& db, std::int64_t secret_id, std::int64_t version,
                  UnixSeconds now) {
  const auto old_current = version_with_stage(db, secret_id, "current");
  if (old_current == version) return;
  set_stage(db, secret_id, version, nullptr, now);
  if (const auto old_previous = version_with_stage(db, secret_id, "previous")) {
    set_stage(db, secret_id, *old_previous, nullptr, now);
  }
  if (old_current) set_stage(db, secret_id, *old_current, "previous", now);
  set_stage(db, secret_id, version, "current", now);
}

Result<SecretInfo> Vault::find_secret(std::string_view name) {
  return guarded(*state_, "looking up a secret", [&]() -> Result<SecretInfo> {
    auto info = lookup(*state_->db, name);
    if (!info || info->removed) return not_found(name);
    return std::move(*info);
  });
}

Result<std::vector<SecretInfo>> Vault::list_secrets() {
  return guarded(*state_, "listing secrets", [&]() -> Result<std::vector<SecretInfo>> {
    SQLite::Statement query(*state_->db, std::string("SELECT ") + kSecretColumns +
                                             " WHERE s.removed_at IS NULL ORDER BY s.name");
    std::vector<SecretInfo> out;
    while (query.executeStep()) out.push_back(secret_from_row(query));
    return out;
  });
}

Result<std::vector<VersionInfo>> Vault::list_versions(std::string_view name) {
  return guarded(*state_, "listing versions", [&]() -> Result<std::vector<VersionInfo>> {
    auto info = lookup(*state_->db, name);
    if (!info || info->removed) return not_found(name);
    SQLite::Statement query(*state_->db,
                            "SELECT version, stage, term, created_at FROM versions "
                            "WHERE secret_id = ? ORDER BY version");
    query.bind(1, info->id);
    std::vector<VersionInfo> out;
    while (query.executeStep()) {
      VersionInfo v;
      v.version = query.getColumn(0).getInt64();
      v.stage = query.getColumn(1).isNull() ? Stage::kNone
                                            : stage_from_text(query.getColumn(1).getString());
      v.key_term = query.getColumn(2).getInt64();
      v.created_at = query.getColumn(3).getInt64();
      out.push_back(v);
    }
    return out;
  });
}

Result<SecretBuffer> Vault::read_secret(std::string_view name,
                                        std::optional<std::int64_t> version) {
  return guarded(*state_, "reading a secret", [&]() -> Result<SecretBuffer> {
    const std::string name_text(name);
    static const std::string kByVersion =
        "SELECT s.id, v.version, v.term, v.blob FROM secrets s JOIN versions v "
        "ON v.secret_id = s.id WHERE s.name = ? AND s.removed_at IS NULL AND v.version = ?";
    static const std::string kCurrent =
        "SELECT s.id, v.version, v.term, v.blob FROM secrets s JOIN versions v "
        "ON v.secret_id = s.id WHERE s.name = ? AND s.removed_at IS NULL "
        "AND v.stage = 'current'";
    ScopedStatement cached(*state_, version ? kByVersion : kCurrent);
    SQLite::Statement& query = *cached;
    query.bind(1, name_text);
    if (version) query.bind(2, *version);
    if (!query.executeStep()) {
      if (!version) return not_found(name);
      if (auto s = find_secret(name); !s.is_ok()) return s.status();
      return Status(ErrorCode::kNotFound, "secret '" + name_text + "' has no version " +
                                              std::to_string(*version) +
                                              " (see `keyhold vault history " + name_text + "`)");
    }
    const RecordLocation location{query.getColumn(0).getInt64(), name_text,
                                  query.getColumn(1).getInt64(), query.getColumn(2).getInt64()};
    const auto where = [&] {  // built on error paths only: reveal is a hot path
      return "secret '" + name_text + "' version " + std::to_string(location.version) +
             " (key term " + std::to_string(location.key_term) + ")";
    };
    const auto* blob_data = static_cast<const std::uint8_t*>(query.getColumn(3).getBlob());
    const std::span<const std::uint8_t> blob(
        blob_data, static_cast<std::size_t>(query.getColumn(3).getBytes()));
    auto decoded = decode_record(blob);
    if (!decoded.is_ok()) {
      return Status(decoded.status().code(), "cannot read " + where() + ": " +
                                                 decoded.status().message() +
                                                 "; other secrets are unaffected");
    }
    auto key = state_->term_key(location.key_term);
    if (!key.is_ok()) {
      return Status(ErrorCode::kIntegrity,
                    "cannot read " + where() + ": " + key.status().message());
    }
    SecretBuffer plain;
    if (!crypto::open(*key.value(), decoded->sealed, record_associated_data(location), plain)) {
      return Status(ErrorCode::kIntegrity,
                    "integrity check failed for " + where() +
                        ": the stored record was modified, moved or damaged; other secrets are "
                        "unaffected. Restore it from a backup or store a new value with "
                        "`keyhold vault set`");
    }
    return plain;
  });
}

Result<std::int64_t> Vault::put_secret(std::string_view name, std::span<const std::uint8_t> value,
                                       const PutOptions& options, const AuditContext& who,
                                       std::string_view action) {
  if (auto problem = validate_secret_name(name)) {
    return Status(ErrorCode::kInvalidArgument, "invalid secret name: " + *problem);
  }
  if (options.stage != Stage::kCurrent && options.stage != Stage::kPending) {
    return Status(ErrorCode::kInvalidArgument, "a new version is staged current or pending");
  }
  return guarded(*state_, "storing a secret", [&]() -> Result<std::int64_t> {
    VaultState& s = *state_;
    const std::string name_text(name);
    const UnixSeconds now = now_seconds();
    SQLite::Transaction txn(*s.db, SQLite::TransactionBehavior::IMMEDIATE);
    auto existing = lookup(*s.db, name);
    if (!existing && options.must_exist) return not_found(name);
    std::int64_t secret_id = 0;
    if (!existing) {
      SQLite::Statement insert(*s.db,
                               "INSERT INTO secrets(name, description, created_at, updated_at, "
                               "rotate_every) VALUES (?, ?, ?, ?, ?)");
      insert.bind(1, name_text);
      insert.bind(2, options.description.value_or(""));
      insert.bind(3, now);
      insert.bind(4, now);
      if (options.rotate_every_seconds && *options.rotate_every_seconds > 0) {
        insert.bind(5, *options.rotate_every_seconds);
      } else {
        insert.bind(5);
      }
      insert.exec();
      secret_id = s.db->getLastInsertRowid();
    } else {
      secret_id = existing->id;
      SQLite::Statement update(*s.db,
                               "UPDATE secrets SET updated_at = ?, removed_at = NULL, "
                               "description = coalesce(?, description), "
                               "rotate_every = CASE WHEN ? THEN ? ELSE rotate_every END "
                               "WHERE id = ?");
      update.bind(1, now);
      if (options.description) {
        update.bind(2, *options.description);
      } else {
        update.bind(2);
      }
      update.bind(3, options.rotate_every_seconds.has_value() ? 1 : 0);
      if (options.rotate_every_seconds && *options.rotate_every_seconds > 0) {
        update.bind(4, *options.rotate_every_seconds);
      } else {
        update.bind(4);
      }
      update.bind(5, secret_id);
      update.exec();
    }
    SQLite::Statement max_version(
        *s.db, "SELECT coalesce(max(version), 0) FROM versions WHERE secret_id = ?");
    max_version.bind(1, secret_id);
    max_version.executeStep();
    const std::int64_t version = max_version.getColumn(0).getInt64() + 1;
    auto term = s.active_term();
    if (!term.is_ok()) return term.status();
    auto key = s.term_key(term.value());
    if (!key.is_ok()) return key.status();
    const RecordLocation location{secret_id, name_text, version, term.value()};
    crypto::Bytes blob = crypto::seal(*key.value(), value, record_associated_data(location));
    blob.insert(blob.begin(), kRecordFormat);

    SQLite::Statement insert(*s.db,
                             "INSERT INTO versions(secret_id, version, term, blob, created_at) "
                             "VALUES (?, ?, ?, ?, ?)");
    insert.bind(1, secret_id);
    insert.bind(2, version);
    insert.bind(3, term.value());
    bind_bytes(insert, 4, blob);
    insert.bind(5, now);
    insert.exec();
    if (options.stage == Stage::kCurrent) {
      make_current(*s.db, secret_id, version, now);
    } else {
      if (auto old_pending = version_with_stage(*s.db, secret_id, "pending")) {
        set_stage(*s.db, secret_id, *old_pending, nullptr, now);
      }
      set_stage(*s.db, secret_id, version, "pending", now);
    }
    s.append_audit_in_transaction(
        admin_entry(who, action, name,
                    "version=" + std::to_string(version) + " stage=" + stage_name(options.stage)));
    txn.commit();
    return version;
  });
}

Status Vault::promote_pending(std::string_view name, const AuditContext& who) {
  return guarded(*state_, "promoting a pending version", [&]() -> Status {
    SQLite::Transaction txn(*state_->db, SQLite::TransactionBehavior::IMMEDIATE);
    auto info = lookup(*state_->db, name);
    if (!info || info->removed) return not_found(name);
    const auto pending = version_with_stage(*state_->db, info->id, "pending");
    if (!pending) {
      return Status(ErrorCode::kNotFound,
                    "secret '" + std::string(name) + "' has no pending version");
    }
    make_current(*state_->db, info->id, *pending, now_seconds());
    state_->append_audit_in_transaction(
        admin_entry(who, "promote", name, "version=" + std::to_string(*pending)));
    txn.commit();
    return Status::ok();
  });
}

Status Vault::rollback(std::string_view name, std::optional<std::int64_t> to,
                       const AuditContext& who) {
  return guarded(*state_, "rolling back a secret", [&]() -> Status {
    SQLite::Transaction txn(*state_->db, SQLite::TransactionBehavior::IMMEDIATE);
    auto info = lookup(*state_->db, name);
    if (!info || info->removed) return not_found(name);
    std::optional<std::int64_t> target = to;
    if (!target) target = version_with_stage(*state_->db, info->id, "previous");
    if (!target) {
      return Status(ErrorCode::kNotFound,
                    "secret '" + std::string(name) + "' has no previous version to roll back to");
    }
    SQLite::Statement exists(*state_->db,
                             "SELECT 1 FROM versions WHERE secret_id = ? AND version = ?");
    exists.bind(1, info->id);
    exists.bind(2, *target);
    if (!exists.executeStep()) {
      return Status(ErrorCode::kNotFound,
                    "secret '" + std::string(name) + "' has no version " + std::to_string(*target));
    }
    if (info->current_version == target) {
      return Status(ErrorCode::kInvalidArgument,
                    "version " + std::to_string(*target) + " is already current");
    }
    make_current(*state_->db, info->id, *target, now_seconds());
    state_->append_audit_in_transaction(
        admin_entry(who, "rollback", name,
                    "from=" + std::to_string(info->current_version.value_or(0)) +
                        " to=" + std::to_string(*target)));
    txn.commit();
    return Status::ok();
  });
}

Status Vault::remove_secret(std::string_view name, bool purge, const AuditContext& who) {
  auto status = guarded(*state_, "removing a secret", [&]() -> Status {
    SQLite::Transaction txn(*state_->db, SQLite::TransactionBehavior::IMMEDIATE);
    auto info = lookup(*state_->db, name);
    if (!info || (info->removed && !purge)) return not_found(name);
    const std::string name_text(name);
    if (purge) {
      SQLite::Statement versions(*state_->db, "DELETE FROM versions WHERE secret_id = ?");
      versions.bind(1, info->id);
      versions.exec();
      SQLite::Statement policy(*state_->db, "DELETE FROM rotation WHERE secret_id = ?");
      policy.bind(1, info->id);
      policy.exec();
      SQLite::Statement secret(*state_->db, "DELETE FROM secrets WHERE id = ?");
      secret.bind(1, info->id);
      secret.exec();
      std::string detail;
      const auto generation = state_->remove_grants_on(name_text, &detail);
      state_->append_audit_in_transaction(admin_entry(who, "purge", name, detail), generation);
    } else {
      SQLite::Statement hide(*state_->db, "UPDATE secrets SET removed_at = ? WHERE id = ?");
      hide.bind(1, now_seconds());
      hide.bind(2, info->id);
      hide.exec();
      state_->append_audit_in_transaction(admin_entry(who, "rm", name, ""));
    }
    txn.commit();
    return Status::ok();
  });
  if (status.is_ok() && purge) return checkpoint();
  return status;
}

}  // namespace keyhold::vault
