// The audit chain: entry n's MAC covers entry n and the MAC of entry n-1; the anchor row
// holds (count, head MAC) under its own MAC, so dropping the tail is detected too.
#include <string>

#include "keyhold/vault/vault.hpp"
#include "vault_state.hpp"

namespace keyhold::vault {
namespace {

crypto::Bytes entry_mac(const SecretBuffer& key, const crypto::Bytes& previous,
                        const AuditEntry& e) {
  crypto::Encoder msg;
  msg.str("keyhold.vault.audit")
      .bytes(previous)
      .i64(e.seq)
      .i64(e.at)
      .str(e.actor)
      .str(e.action)
      .str(e.secret)
      .str(e.instance)
      .str(e.operation)
      .str(e.request_id)
      .str(e.outcome)
      .str(e.detail);
  return crypto::mac(key, msg.out());
}

crypto::Bytes anchor_mac(const SecretBuffer& key, std::int64_t count, const crypto::Bytes& head) {
  crypto::Encoder msg;
  msg.str("keyhold.vault.audit-anchor").i64(count).bytes(head);
  return crypto::mac(key, msg.out());
}

constexpr const char* kEntryColumns =
    "seq, at, actor, action, secret, instance, operation, request_id, outcome, detail, mac";

AuditEntry entry_from_row(SQLite::Statement& row) {
  AuditEntry e;
  e.seq = row.getColumn(0).getInt64();
  e.at = row.getColumn(1).getInt64();
  e.actor = row.getColumn(2).getString();
  e.action = row.getColumn(3).getString();
  e.secret = row.getColumn(4).getString();
  e.instance = row.getColumn(5).getString();
  e.operation = row.getColumn(6).getString();
  e.request_id = row.getColumn(7).getString();
  e.outcome = row.getColumn(8).getString();
  e.detail = row.getColumn(9).getString();
  return e;
}

}  // namespace

void VaultState::write_audit_anchor(std::int64_t count, const crypto::Bytes& head) {
  SQLite::Statement upsert(*db,
                           "INSERT OR REPLACE INTO audit_anchor(id, count, head, mac) "
                           "VALUES (1, ?, ?, ?)");
  upsert.bind(1, count);
  bind_bytes(upsert, 2, head);
  bind_bytes(upsert, 3, anchor_mac(audit_key, count, head));
  upsert.exec();
}

std::int64_t VaultState::append_audit_in_transaction(AuditEntry entry) {
  SQLite::Statement anchor(*db, "SELECT count, head FROM audit_anchor WHERE id = 1");
  std::int64_t count = 0;
  crypto::Bytes head;
  if (anchor.executeStep()) {
    count = anchor.getColumn(0).getInt64();
    head = column_bytes(anchor.getColumn(1));
  }
  entry.seq = count + 1;
  entry.at = now_seconds();
  if (entry.outcome.empty()) entry.outcome = "ok";
  if (entry.request_id.empty()) entry.request_id = crypto::to_hex(crypto::random_bytes(8));
  const crypto::Bytes mac = entry_mac(audit_key, head, entry);
  SQLite::Statement insert(*db, std::string("INSERT INTO audit(") + kEntryColumns +
                                    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  insert.bind(1, entry.seq);
  insert.bind(2, entry.at);
  insert.bind(3, entry.actor);
  insert.bind(4, entry.action);
  insert.bind(5, entry.secret);
  insert.bind(6, entry.instance);
  insert.bind(7, entry.operation);
  insert.bind(8, entry.request_id);
  insert.bind(9, entry.outcome);
  insert.bind(10, entry.detail);
  bind_bytes(insert, 11, mac);
  insert.exec();
  write_audit_anchor(entry.seq, mac);
  return entry.seq;
}

Result<std::int64_t> Vault::append_audit(const AuditEntry& entry) {
  return guarded("appending to the audit log", [&]() -> Result<std::int64_t> {
    SQLite::Transaction txn(*state_->db, SQLite::TransactionBehavior::IMMEDIATE);
    const std::int64_t seq = state_->append_audit_in_transaction(entry);
    txn.commit();
    return seq;
  });
}

Result<std::int64_t> Vault::append_audit(std::span<const AuditEntry> entries) {
  return guarded("appending to the audit log", [&]() -> Result<std::int64_t> {
    SQLite::Transaction txn(*state_->db, SQLite::TransactionBehavior::IMMEDIATE);
    std::int64_t seq = 0;
    for (const AuditEntry& entry : entries) seq = state_->append_audit_in_transaction(entry);
    txn.commit();
    return seq;
  });
}

Result<std::vector<AuditEntry>> Vault::read_audit(const AuditFilter& filter) {
  return guarded("reading the audit log", [&]() -> Result<std::vector<AuditEntry>> {
    std::string sql = std::string("SELECT ") + kEntryColumns + " FROM audit WHERE 1";
    if (filter.since) sql += " AND at >= :since";
    if (filter.instance) sql += " AND instance = :instance";
    if (filter.secret) sql += " AND secret = :secret";
    sql += " ORDER BY seq";
    SQLite::Statement query(*state_->db, sql);
    if (filter.since) query.bind(":since", *filter.since);
    if (filter.instance) query.bind(":instance", *filter.instance);
    if (filter.secret) query.bind(":secret", *filter.secret);
    std::vector<AuditEntry> out;
    while (query.executeStep()) out.push_back(entry_from_row(query));
    return out;
  });
}

Result<AuditVerification> Vault::verify_audit() {
  return guarded("verifying the audit log", [&]() -> Result<AuditVerification> {
    // One read transaction so the chain and the anchor are from the same snapshot.
    SQLite::Transaction txn(*state_->db);
    AuditVerification out;
    auto fail = [&](std::int64_t seq, std::string problem) {
      out.ok = false;
      out.first_bad_seq = seq;
      out.problem = std::move(problem);
      return out;
    };
    SQLite::Statement anchor(*state_->db, "SELECT count, head, mac FROM audit_anchor WHERE id = 1");
    if (!anchor.executeStep()) return fail(1, "the audit anchor is missing");
    out.anchored_count = anchor.getColumn(0).getInt64();
    const crypto::Bytes anchored_head = column_bytes(anchor.getColumn(1));
    if (!crypto::mac_equal(anchor_mac(state_->audit_key, out.anchored_count, anchored_head),
                           column_bytes(anchor.getColumn(2)))) {
      return fail(1, "the audit anchor (entry count and head) was modified");
    }
    SQLite::Statement rows(*state_->db,
                           std::string("SELECT ") + kEntryColumns + " FROM audit ORDER BY seq");
    crypto::Bytes previous;
    std::int64_t expected = 1;
    while (rows.executeStep()) {
      const AuditEntry e = entry_from_row(rows);
      if (e.seq != expected) {
        return fail(expected, "audit entry " + std::to_string(expected) +
                                  " is missing (the next entry is " + std::to_string(e.seq) + ")");
      }
      crypto::Bytes mac = column_bytes(rows.getColumn(10));
      if (!crypto::mac_equal(entry_mac(state_->audit_key, previous, e), mac)) {
        return fail(e.seq, "audit entry " + std::to_string(e.seq) +
                               " does not verify: it was edited, reordered, or an entry before "
                               "it was altered");
      }
      previous = std::move(mac);
      ++expected;
      ++out.entries_checked;
    }
    if (out.entries_checked < out.anchored_count) {
      return fail(out.entries_checked + 1,
                  "the audit log was truncated: " + std::to_string(out.entries_checked) +
                      " entries found, " + std::to_string(out.anchored_count) + " anchored");
    }
    if (out.entries_checked > out.anchored_count) {
      return fail(out.anchored_count + 1, "audit entry " + std::to_string(out.anchored_count + 1) +
                                              " and later were added outside keyhold");
    }
    if (!crypto::mac_equal(previous, anchored_head) && out.anchored_count > 0) {
      return fail(out.anchored_count, "the last audit entry does not match the anchored head");
    }
    return out;
  });
}

}  // namespace keyhold::vault
