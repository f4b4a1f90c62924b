// The audit chain: entry n's MAC covers entry n and the MAC of entry n-1; the anchor row
// holds (count, head MAC) under its own MAC, so dropping the tail is detected too.
#include <charconv>
#include <string>
#include <string_view>

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

// Schema 2: the anchor also binds the generation of the grant set (see vault_grants.cpp).
crypto::Bytes anchor_mac(const SecretBuffer& key, const AuditAnchor& anchor) {
  crypto::Encoder msg;
  msg.str("keyhold.vault.audit-anchor.v2")
      .i64(anchor.count)
      .bytes(anchor.head)
      .i64(anchor.grant_generation);
  return crypto::mac(key, msg.out());
}

constexpr const char* kRepairAdvice =
    "nothing was changed. Check the chain with `keyhold vault audit --verify`; when only the "
    "anchor is reported, rebuild it with `keyhold vault audit --repair-anchor`, otherwise "
    "restore the vault from a backup";

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

void VaultState::write_audit_anchor(const AuditAnchor& anchor) {
  SQLite::Statement upsert(*db,
                           "INSERT OR REPLACE INTO audit_anchor(id, count, head, grant_generation, "
                           "mac) VALUES (1, ?, ?, ?, ?)");
  upsert.bind(1, anchor.count);
  bind_bytes(upsert, 2, anchor.head);
  upsert.bind(3, anchor.grant_generation);
  bind_bytes(upsert, 4, anchor_mac(audit_key, anchor));
  upsert.exec();
}

Result<AuditAnchor> VaultState::read_audit_anchor() {
  SQLite::Statement query(*db,
                          "SELECT count, head, grant_generation, mac, "
                          "(SELECT coalesce(max(seq), 0) FROM audit) FROM audit_anchor "
                          "WHERE id = 1");
  if (!query.executeStep()) {
    return Status(
        ErrorCode::kIntegrity,
        std::string("the audit anchor is missing (deleted outside keyhold); ") + kRepairAdvice);
  }
  AuditAnchor anchor;
  anchor.count = query.getColumn(0).getInt64();
  anchor.head = column_bytes(query.getColumn(1));
  anchor.grant_generation = query.getColumn(2).getInt64();
  if (!crypto::mac_equal(anchor_mac(audit_key, anchor), column_bytes(query.getColumn(3)))) {
    return Status(ErrorCode::kIntegrity,
                  std::string("the audit anchor was modified outside keyhold; ") + kRepairAdvice);
  }
  const std::int64_t last_seq = query.getColumn(4).getInt64();
  if (last_seq != anchor.count) {
    return Status(ErrorCode::kIntegrity,
                  "the audit anchor records " + std::to_string(anchor.count) +
                      " entries but the log ends at entry " + std::to_string(last_seq) +
                      ": entries were added or removed outside keyhold; " + kRepairAdvice);
  }
  return anchor;
}

bool VaultState::migrate_audit_anchor_to_v2(std::int64_t grant_generation) {
  SQLite::Statement query(*db,
                          "SELECT count, head, mac, (SELECT coalesce(max(seq), 0) FROM audit) "
                          "FROM audit_anchor WHERE id = 1");
  if (!query.executeStep()) return false;
  AuditAnchor anchor;
  anchor.count = query.getColumn(0).getInt64();
  anchor.head = column_bytes(query.getColumn(1));
  anchor.grant_generation = grant_generation;
  crypto::Encoder v1;
  v1.str("keyhold.vault.audit-anchor").i64(anchor.count).bytes(anchor.head);
  if (!crypto::mac_equal(crypto::mac(audit_key, v1.out()), column_bytes(query.getColumn(2))) ||
      query.getColumn(3).getInt64() != anchor.count) {
    return false;
  }
  write_audit_anchor(anchor);
  return true;
}

std::int64_t VaultState::append_audit_in_transaction(
    AuditEntry entry, std::optional<std::int64_t> new_grant_generation) {
  auto anchor = read_audit_anchor();
  if (!anchor.is_ok()) throw IntegrityError(anchor.status().message());
  entry.seq = anchor->count + 1;
  entry.at = now_seconds();
  if (entry.outcome.empty()) entry.outcome = "ok";
  if (entry.request_id.empty()) entry.request_id = crypto::to_hex(crypto::random_bytes(8));
  const crypto::Bytes mac = entry_mac(audit_key, anchor->head, entry);
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
  write_audit_anchor({entry.seq, mac, new_grant_generation.value_or(anchor->grant_generation)});
  return entry.seq;
}

Result<std::int64_t> Vault::append_audit(const AuditEntry& entry) {
  return guarded(*state_, "appending to the audit log", [&]() -> Result<std::int64_t> {
    SQLite::Transaction txn(*state_->db, SQLite::TransactionBehavior::IMMEDIATE);
    const std::int64_t seq = state_->append_audit_in_transaction(entry);
    txn.commit();
    return seq;
  });
}

Result<std::int64_t> Vault::append_audit(std::span<const AuditEntry> entries) {
  return guarded(*state_, "appending to the audit log", [&]() -> Result<std::int64_t> {
    SQLite::Transaction txn(*state_->db, SQLite::TransactionBehavior::IMMEDIATE);
    std::int64_t seq = 0;
    for (const AuditEntry& entry : entries) seq = state_->append_audit_in_transaction(entry);
    txn.commit();
    return seq;
  });
}

Result<std::vector<AuditEntry>> Vault::read_audit(const AuditFilter& filter) {
  return guarded(*state_, "reading the audit log", [&]() -> Result<std::vector<AuditEntry>> {
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

namespace {

// Actions whose detail the library writes itself, naming the grant generation they left.
bool records_grant_generation(const std::string& action) {
  return action == "grant" || action == "revoke" || action == "purge" || action == "migrate" ||
         action == "audit.repair-anchor";
}

std::optional<std::int64_t> grant_generation_in(const std::string& detail) {
  constexpr std::string_view kKey = "grant_generation=";
  const auto at = detail.find(kKey);
  if (at == std::string::npos) return std::nullopt;
  std::int64_t value = 0;
  const char* begin = detail.data() + at + kKey.size();
  auto [ptr, ec] = std::from_chars(begin, detail.data() + detail.size(), value);
  if (ec != std::errc() || ptr == begin) return std::nullopt;
  return value;
}

// The chain from entry 1 as far as it verifies.
struct ChainWalk {
  std::int64_t verified = 0;
  crypto::Bytes head;
  std::optional<std::int64_t> first_bad;
  std::string problem;
  std::int64_t grant_generation = 0;  // the last one a grant change recorded
};

ChainWalk walk_chain(VaultState& state) {
  ChainWalk walk;
  SQLite::Statement rows(*state.db,
                         std::string("SELECT ") + kEntryColumns + " FROM audit ORDER BY seq");
  std::int64_t expected = 1;
  while (rows.executeStep()) {
    const AuditEntry e = entry_from_row(rows);
    if (e.seq != expected) {
      walk.first_bad = expected;
      walk.problem = "audit entry " + std::to_string(expected) + " is missing (the next entry is " +
                     std::to_string(e.seq) + ")";
      return walk;
    }
    crypto::Bytes mac = column_bytes(rows.getColumn(10));
    if (!crypto::mac_equal(entry_mac(state.audit_key, walk.head, e), mac)) {
      walk.first_bad = e.seq;
      walk.problem = "audit entry " + std::to_string(e.seq) +
                     " does not verify: it was edited, reordered, or an entry before it was "
                     "altered";
      return walk;
    }
    if (records_grant_generation(e.action)) {
      if (auto g = grant_generation_in(e.detail)) walk.grant_generation = *g;
    }
    walk.head = std::move(mac);
    ++expected;
    ++walk.verified;
  }
  return walk;
}

}  // namespace

Result<AuditVerification> Vault::verify_audit() {
  return guarded(*state_, "verifying the audit log", [&]() -> Result<AuditVerification> {
    // One read transaction so the chain and the anchor are from the same snapshot.
    SQLite::Transaction txn(*state_->db);
    AuditVerification out;
    const ChainWalk walk = walk_chain(*state_);
    out.entries_checked = walk.verified;
    auto fail = [&](std::int64_t seq, std::string problem) {
      out.ok = false;
      out.first_bad_seq = seq;
      out.problem = std::move(problem);
      return out;
    };
    SQLite::Statement anchor(*state_->db,
                             "SELECT count, head, grant_generation, mac FROM audit_anchor "
                             "WHERE id = 1");
    const bool has_anchor = anchor.executeStep();
    AuditAnchor anchored;
    if (has_anchor) {
      anchored.count = anchor.getColumn(0).getInt64();
      anchored.head = column_bytes(anchor.getColumn(1));
      anchored.grant_generation = anchor.getColumn(2).getInt64();
      out.anchored_count = anchored.count;
    }
    if (walk.first_bad) return fail(*walk.first_bad, walk.problem);
    // The entries verify; what is left to check is the anchor (and so the tail).
    const char* kRepair =
        "; every entry verifies, so `keyhold vault audit --repair-anchor` can rebuild it (entries "
        "removed from the end before then cannot be detected afterwards)";
    if (!has_anchor) {
      out.anchor_only = true;
      return fail(1, std::string("the audit anchor is missing") + kRepair);
    }
    if (!crypto::mac_equal(anchor_mac(state_->audit_key, anchored),
                           column_bytes(anchor.getColumn(3)))) {
      out.anchor_only = true;
      return fail(1, std::string("the audit anchor (entry count and head) was modified") + kRepair);
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
    if (!crypto::mac_equal(walk.head, anchored.head) && out.anchored_count > 0) {
      return fail(out.anchored_count, "the last audit entry does not match the anchored head");
    }
    return out;
  });
}

Result<AnchorRepair> Vault::repair_audit_anchor(const AuditContext& who) {
  return guarded(*state_, "repairing the audit anchor", [&]() -> Result<AnchorRepair> {
    VaultState& s = *state_;
    SQLite::Transaction txn(*s.db, SQLite::TransactionBehavior::IMMEDIATE);
    const ChainWalk walk = walk_chain(s);
    if (walk.first_bad) {
      return Status(ErrorCode::kIntegrity,
                    "cannot repair the audit anchor: the chain itself is broken (" + walk.problem +
                        "); an anchor is only rebuilt over an intact chain. Restore the vault "
                        "from a backup; nothing was changed");
    }
    AnchorRepair out;
    out.entries = walk.verified;
    auto current = s.read_audit_anchor();
    if (current.is_ok() && crypto::mac_equal(current->head, walk.head)) return out;
    out.repaired = true;
    // The first clause of the refusal (the rest is advice this repair is following).
    out.previous_problem = current.is_ok() ? "the anchored head does not match the last entry"
                                           : current.status().message().substr(
                                                 0, current.status().message().find(';'));
    // What the anchor said, kept in the chain: a repair over a truncated log stays visible.
    std::string previous = "anchor=missing";
    if (SQLite::Statement row(*s.db, "SELECT count FROM audit_anchor WHERE id = 1");
        row.executeStep()) {
      previous = "anchored_count=" + std::to_string(row.getColumn(0).getInt64());
    }
    // The grant set keeps counting only when its own anchor verifies and carries the
    // generation the last grant change recorded in the (verified) chain; otherwise a grant
    // table copied back from an older file would come back to life here.
    const auto grants = s.read_grant_anchor();
    out.grants_kept = grants && grants->generation == walk.grant_generation;
    s.write_audit_anchor({walk.verified, walk.head, walk.grant_generation});
    AuditEntry entry;
    entry.actor = who.actor;
    entry.request_id = who.request_id;
    entry.action = "audit.repair-anchor";
    entry.detail = "entries=" + std::to_string(walk.verified) + " " + previous +
                   " grant_generation=" + std::to_string(walk.grant_generation) +
                   (out.grants_kept ? " grants=kept" : " grants=ignored");
    s.append_audit_in_transaction(entry);
    txn.commit();
    return out;
  });
}

Result<std::optional<std::string>> Vault::audit_mac_at(std::int64_t seq) {
  return guarded(*state_, "reading the audit log", [&]() -> Result<std::optional<std::string>> {
    SQLite::Statement query(*state_->db, "SELECT mac FROM audit WHERE seq = ?");
    query.bind(1, seq);
    if (!query.executeStep()) return std::optional<std::string>();
    return std::optional<std::string>(crypto::to_hex(column_bytes(query.getColumn(0))));
  });
}

}  // namespace keyhold::vault
