// Grants: which plugin instance may do what with which secrets. Deny by default.
//
// Each row carries a MAC under a root-derived key over its fields and its serial (the grant
// generation at which it was written, never reused). The grant anchor row holds, under its
// own MAC, the last generation and the serials that are live; every grant change rewrites it
// in the same transaction, and the audit anchor records the same generation. So a row
// written into the file by hand, a widened row, and a row copied back after it was revoked,
// renewed or narrowed (MAC included) are all ignored, as is a grant table copied back
// together with its anchor from an older file while the audit log moved on.
#include <algorithm>
#include <string>

#include "keyhold/vault/vault.hpp"
#include "vault_state.hpp"

namespace keyhold::vault {
namespace {

constexpr const char* kGrantColumns =
    "instance, pattern, operations, expires_at, created_at, serial, mac";

crypto::Bytes grant_mac(const SecretBuffer& key, const crypto::Bytes& vault_id, const Grant& g,
                        std::int64_t serial) {
  crypto::Encoder msg;
  msg.str("keyhold.vault.grant.v2")
      .bytes(vault_id)
      .i64(serial)
      .str(g.instance)
      .str(g.pattern)
      .u64(g.operations)
      .u8(g.expires_at ? 1 : 0)
      .i64(g.expires_at.value_or(0))
      .i64(g.created_at);
  return crypto::mac(key, msg.out());
}

crypto::Bytes encode_live(const std::vector<std::int64_t>& live) {
  crypto::Encoder out;
  for (std::int64_t serial : live) out.i64(serial);
  return out.out();
}

crypto::Bytes grant_anchor_mac(const SecretBuffer& key, const crypto::Bytes& vault_id,
                               std::int64_t generation, const crypto::Bytes& live) {
  crypto::Encoder msg;
  msg.str("keyhold.vault.grant-anchor").bytes(vault_id).i64(generation).bytes(live);
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

// Serials of the rows that match (instance, pattern), or every row of pattern when instance
// is empty.
std::vector<std::int64_t> serials_of(SQLite::Database& db, const std::string& instance,
                                     const std::string& pattern) {
  SQLite::Statement query(db, instance.empty()
                                  ? "SELECT serial FROM grants WHERE pattern = ?"
                                  : "SELECT serial FROM grants WHERE pattern = ? AND instance = ?");
  query.bind(1, pattern);
  if (!instance.empty()) query.bind(2, instance);
  std::vector<std::int64_t> out;
  while (query.executeStep()) out.push_back(query.getColumn(0).getInt64());
  return out;
}

// The live set after removing removed and adding added (if any), starting from the trusted
// live set, or from nothing when the set is not trusted: a change never revives a row that
// was not live.
std::vector<std::int64_t> next_live(const GrantSet& set, const std::vector<std::int64_t>& removed,
                                    std::optional<std::int64_t> added) {
  std::vector<std::int64_t> live = set.trusted ? set.live : std::vector<std::int64_t>{};
  std::erase_if(live, [&](std::int64_t s) {
    return std::find(removed.begin(), removed.end(), s) != removed.end();
  });
  if (added) live.push_back(*added);
  std::sort(live.begin(), live.end());
  return live;
}

std::string generation_detail(const GrantSet& set, std::int64_t generation) {
  return "grant_generation=" + std::to_string(generation) + (set.trusted ? "" : " grant_set=reset");
}

}  // namespace

bool GrantSet::is_live(std::int64_t serial) const {
  return trusted && std::binary_search(live.begin(), live.end(), serial);
}

std::optional<VaultState::GrantAnchor> VaultState::read_grant_anchor() {
  SQLite::Statement query(*db, "SELECT generation, live, mac FROM grant_anchor WHERE id = 1");
  if (!query.executeStep()) return std::nullopt;
  const std::int64_t generation = query.getColumn(0).getInt64();
  const crypto::Bytes live = column_bytes(query.getColumn(1));
  if (live.size() % 8 != 0 ||
      !crypto::mac_equal(grant_anchor_mac(grant_key, vault_id, generation, live),
                         column_bytes(query.getColumn(2)))) {
    return std::nullopt;
  }
  GrantAnchor anchor;
  anchor.generation = generation;
  for (std::size_t i = 0; i < live.size(); i += 8) {
    std::uint64_t v = 0;
    for (std::size_t b = 0; b < 8; ++b) v |= std::uint64_t{live[i + b]} << (8 * b);
    anchor.live.push_back(static_cast<std::int64_t>(v));
  }
  std::sort(anchor.live.begin(), anchor.live.end());
  return anchor;
}

void VaultState::write_grant_anchor(std::int64_t generation,
                                    const std::vector<std::int64_t>& live) {
  const crypto::Bytes encoded = encode_live(live);
  SQLite::Statement upsert(*db,
                           "INSERT OR REPLACE INTO grant_anchor(id, generation, live, mac) "
                           "VALUES (1, ?, ?, ?)");
  upsert.bind(1, generation);
  bind_bytes(upsert, 2, encoded);
  bind_bytes(upsert, 3, grant_anchor_mac(grant_key, vault_id, generation, encoded));
  upsert.exec();
}

GrantSet VaultState::read_grant_set() {
  auto audit = read_audit_anchor();
  if (!audit.is_ok()) throw IntegrityError(audit.status().message());
  GrantSet set;
  set.generation = audit->grant_generation;
  const auto anchor = read_grant_anchor();
  if (!anchor) {
    set.problem = "the grant anchor is missing or was modified outside keyhold";
  } else if (anchor->generation != audit->grant_generation) {
    set.problem = "the grant table is from generation " + std::to_string(anchor->generation) +
                  " but the audit log recorded generation " +
                  std::to_string(audit->grant_generation) +
                  " (grants copied back from an older file)";
  } else {
    set.trusted = true;
    set.live = anchor->live;
  }
  // The next generation must exceed every serial that may exist anywhere, so a row saved
  // from this file can never match a serial issued later.
  if (anchor) set.generation = std::max(set.generation, anchor->generation);
  set.generation = std::max(
      set.generation, db->execAndGet("SELECT coalesce(max(serial), 0) FROM grants").getInt64());
  return set;
}

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
  return guarded(*state_, "granting access", [&]() -> Status {
    VaultState& s = *state_;
    Grant g;
    g.instance = std::string(instance);
    g.pattern = std::string(pattern);
    g.operations = operations;
    g.expires_at = expires_at;
    g.created_at = now_seconds();
    SQLite::Transaction txn(*s.db, SQLite::TransactionBehavior::IMMEDIATE);
    const GrantSet set = s.read_grant_set();
    const std::int64_t generation = set.generation + 1;
    const auto replaced = serials_of(*s.db, g.instance, g.pattern);
    SQLite::Statement insert(*s.db, std::string("INSERT OR REPLACE INTO grants(") + kGrantColumns +
                                        ") VALUES (?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, g.instance);
    insert.bind(2, g.pattern);
    insert.bind(3, static_cast<std::int64_t>(g.operations));
    if (g.expires_at) {
      insert.bind(4, *g.expires_at);
    } else {
      insert.bind(4);
    }
    insert.bind(5, g.created_at);
    insert.bind(6, generation);
    bind_bytes(insert, 7, grant_mac(s.grant_key, s.vault_id, g, generation));
    insert.exec();
    s.write_grant_anchor(generation, next_live(set, replaced, generation));
    AuditEntry entry;
    entry.actor = who.actor;
    entry.request_id = who.request_id;
    entry.action = "grant";
    entry.secret = g.pattern;
    entry.instance = g.instance;
    entry.operation = format_operations(g.operations);
    if (g.expires_at) entry.detail = "expires_at=" + std::to_string(*g.expires_at) + " ";
    entry.detail += generation_detail(set, generation);
    s.append_audit_in_transaction(entry, generation);
    txn.commit();
    return Status::ok();
  });
}

Status Vault::revoke(std::string_view instance, std::string_view pattern, const AuditContext& who) {
  return guarded(*state_, "revoking access", [&]() -> Status {
    VaultState& s = *state_;
    SQLite::Transaction txn(*s.db, SQLite::TransactionBehavior::IMMEDIATE);
    const GrantSet set = s.read_grant_set();
    const auto removed = serials_of(*s.db, std::string(instance), std::string(pattern));
    SQLite::Statement remove(*s.db, "DELETE FROM grants WHERE instance = ? AND pattern = ?");
    remove.bind(1, std::string(instance));
    remove.bind(2, std::string(pattern));
    if (remove.exec() == 0) {
      return Status(ErrorCode::kNotFound, "instance '" + std::string(instance) +
                                              "' has no grant on '" + std::string(pattern) +
                                              "' (see `keyhold vault grants`)");
    }
    const std::int64_t generation = set.generation + 1;
    s.write_grant_anchor(generation, next_live(set, removed, std::nullopt));
    AuditEntry entry;
    entry.actor = who.actor;
    entry.request_id = who.request_id;
    entry.action = "revoke";
    entry.secret = std::string(pattern);
    entry.instance = std::string(instance);
    entry.detail = generation_detail(set, generation);
    s.append_audit_in_transaction(entry, generation);
    txn.commit();
    return Status::ok();
  });
}

std::optional<std::int64_t> VaultState::remove_grants_on(const std::string& pattern,
                                                         std::string* detail) {
  const GrantSet set = read_grant_set();
  const auto removed = serials_of(*db, "", pattern);
  if (removed.empty()) return std::nullopt;
  SQLite::Statement remove(*db, "DELETE FROM grants WHERE pattern = ?");
  remove.bind(1, pattern);
  remove.exec();
  const std::int64_t generation = set.generation + 1;
  write_grant_anchor(generation, next_live(set, removed, std::nullopt));
  *detail = generation_detail(set, generation);
  return generation;
}

std::int64_t VaultState::migrate_grants_to_v2() {
  // The schema 1 MAC: the same fields, no serial.
  const auto v1_mac = [&](const Grant& g) {
    crypto::Encoder msg;
    msg.str("keyhold.vault.grant")
        .bytes(vault_id)
        .str(g.instance)
        .str(g.pattern)
        .u64(g.operations)
        .u8(g.expires_at ? 1 : 0)
        .i64(g.expires_at.value_or(0))
        .i64(g.created_at);
    return crypto::mac(grant_key, msg.out());
  };
  SQLite::Statement rows(*db, std::string("SELECT ") + kGrantColumns +
                                  ", rowid FROM grants ORDER BY instance, pattern");
  SQLite::Statement update(*db, "UPDATE grants SET serial = ?, mac = ? WHERE rowid = ?");
  std::int64_t generation = 0;
  std::vector<std::int64_t> live;
  while (rows.executeStep()) {
    const Grant g = grant_from_row(rows);
    // A row that fails its v1 MAC keeps serial 0, which is never live: still ignored.
    if (!crypto::mac_equal(v1_mac(g), column_bytes(rows.getColumn(6)))) continue;
    ++generation;
    update.bind(1, generation);
    bind_bytes(update, 2, grant_mac(grant_key, vault_id, g, generation));
    update.bind(3, rows.getColumn(7).getInt64());
    update.exec();
    update.reset();
    live.push_back(generation);
  }
  write_grant_anchor(generation, live);
  return generation;
}

Result<std::vector<Grant>> Vault::list_grants(std::optional<std::string_view> instance) {
  return guarded(*state_, "listing grants", [&]() -> Result<std::vector<Grant>> {
    VaultState& s = *state_;
    SQLite::Transaction txn(*s.db);  // the rows and the anchors from one snapshot
    GrantSet set;
    try {
      set = s.read_grant_set();
    } catch (const IntegrityError& e) {
      set = GrantSet{};  // a broken audit anchor: no grant counts, but they are listed
      set.problem = e.what();
    }
    SQLite::Statement query(*s.db, std::string("SELECT ") + kGrantColumns + " FROM grants" +
                                       (instance ? " WHERE instance = ?" : "") +
                                       " ORDER BY instance, pattern");
    if (instance) query.bind(1, std::string(*instance));
    std::vector<Grant> out;
    while (query.executeStep()) {
      Grant g = grant_from_row(query);
      const std::int64_t serial = query.getColumn(5).getInt64();
      g.authentic =
          set.is_live(serial) && crypto::mac_equal(grant_mac(s.grant_key, s.vault_id, g, serial),
                                                   column_bytes(query.getColumn(6)));
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
