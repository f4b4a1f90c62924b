// Grants: which plugin instance may do what with which secrets. Deny by default; each row
// carries a MAC under a root-derived key so a grant written into the file by hand is ignored.
#include <string>

#include "keyhold/vault/vault.hpp"
#include "vault_state.hpp"

namespace keyhold::vault {
namespace {

crypto::Bytes grant_mac(const SecretBuffer& key, const crypto::Bytes& vault_id, const Grant& g) {
  crypto::Encoder msg;
  msg.str("keyhold.vault.grant")
      .bytes(vault_id)
      .str(g.instance)
      .str(g.pattern)
      .u64(g.operations)
      .u8(g.expires_at ? 1 : 0)
      .i64(g.expires_at.value_or(0))
      .i64(g.created_at);
  return crypto::mac(key, msg.out());
}

Grant grant_from_row(SQLite::Statement& row) {
  Grant g;
  g.instance = row.getColumn(0).getString();
  g.pattern = row.getColumn(1).getString();
  g.operations = static_cast<std::uint32_t>(row.getColumn(2).getInt64());
  if (!row.getColumn(3).isNull()) g.expires_at = row.getColumn(3).getInt64();
  g.created_at = row.getColumn(4).getInt64();
  return g;
}

}  // namespace

Status Vault::grant(std::string_view instance, std::string_view pattern, std::uint32_t operations,
                    std::optional<UnixSeconds> expires_at, const AuditContext& who) {
  if (auto problem = validate_instance_name(instance)) {
    return Status(ErrorCode::kInvalidArgument, "invalid instance name: " + *problem);
  }
  if (auto problem = validate_grant_pattern(pattern)) {
    return Status(ErrorCode::kInvalidArgument,
                  "invalid secret name or pattern (NAME or PREFIX/*): " + *problem);
  }
  if (operations == 0 || operations > 7) {
    return Status(ErrorCode::kInvalidArgument, "a grant needs operations from reveal, sign, env");
  }
  return guarded("granting access", [&]() -> Status {
    Grant g;
    g.instance = std::string(instance);
    g.pattern = std::string(pattern);
    g.operations = operations;
    g.expires_at = expires_at;
    g.created_at = now_seconds();
    SQLite::Transaction txn(*state_->db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement insert(*state_->db,
                             "INSERT OR REPLACE INTO grants(instance, pattern, operations, "
                             "expires_at, created_at, mac) VALUES (?, ?, ?, ?, ?, ?)");
    insert.bind(1, g.instance);
    insert.bind(2, g.pattern);
    insert.bind(3, static_cast<std::int64_t>(g.operations));
    if (g.expires_at) {
      insert.bind(4, *g.expires_at);
    } else {
      insert.bind(4);
    }
    insert.bind(5, g.created_at);
    bind_bytes(insert, 6, grant_mac(state_->grant_key, state_->vault_id, g));
    insert.exec();
    AuditEntry entry;
    entry.actor = who.actor;
    entry.request_id = who.request_id;
    entry.action = "grant";
    entry.secret = g.pattern;
    entry.instance = g.instance;
    entry.operation = format_operations(g.operations);
    if (g.expires_at) entry.detail = "expires_at=" + std::to_string(*g.expires_at);
    state_->append_audit_in_transaction(entry);
    txn.commit();
    return Status::ok();
  });
}

Status Vault::revoke(std::string_view instance, std::string_view pattern, const AuditContext& who) {
  return guarded("revoking access", [&]() -> Status {
    SQLite::Transaction txn(*state_->db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement remove(*state_->db, "DELETE FROM grants WHERE instance = ? AND pattern = ?");
    remove.bind(1, std::string(instance));
    remove.bind(2, std::string(pattern));
    if (remove.exec() == 0) {
      return Status(ErrorCode::kNotFound, "instance '" + std::string(instance) +
                                              "' has no grant on '" + std::string(pattern) +
                                              "' (see `keyhold vault grants`)");
    }
    AuditEntry entry;
    entry.actor = who.actor;
    entry.request_id = who.request_id;
    entry.action = "revoke";
    entry.secret = std::string(pattern);
    entry.instance = std::string(instance);
    state_->append_audit_in_transaction(entry);
    txn.commit();
    return Status::ok();
  });
}

Result<std::vector<Grant>> Vault::list_grants(std::optional<std::string_view> instance) {
  return guarded("listing grants", [&]() -> Result<std::vector<Grant>> {
    SQLite::Statement query(*state_->db,
                            instance ? "SELECT instance, pattern, operations, expires_at, "
                                       "created_at, mac FROM grants WHERE instance = ? "
                                       "ORDER BY instance, pattern"
                                     : "SELECT instance, pattern, operations, expires_at, "
                                       "created_at, mac FROM grants ORDER BY instance, pattern");
    if (instance) query.bind(1, std::string(*instance));
    std::vector<Grant> out;
    while (query.executeStep()) {
      Grant g = grant_from_row(query);
      g.authentic = crypto::mac_equal(grant_mac(state_->grant_key, state_->vault_id, g),
                                      column_bytes(query.getColumn(5)));
      out.push_back(std::move(g));
    }
    return out;
  });
}

Status Vault::check_grant(std::string_view instance, std::string_view secret_name, Operation op,
                          UnixSeconds now) {
  auto grants = list_grants(instance);
  if (!grants.is_ok()) return grants.status();
  const GrantDecision decision = decide_grant(grants.value(), secret_name, op, now);
  if (decision == GrantDecision::kAllowed) return Status::ok();
  const bool expired = decision == GrantDecision::kExpired;
  return Status(ErrorCode::kPermissionDenied,
                "instance '" + std::string(instance) + "' may not " + operation_name(op) + " '" +
                    std::string(secret_name) + "'" + (expired ? " (its grant expired)" : "") +
                    "; an administrator can run `keyhold vault grant " + std::string(instance) +
                    " " + std::string(secret_name) + " --ops " + operation_name(op) + "`");
}

}  // namespace keyhold::vault
