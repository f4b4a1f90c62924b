#include "schema.hpp"

#include <functional>
#include <string>
#include <vector>

#include "keyhold/vault/vault.hpp"
#include "vault_state.hpp"

namespace keyhold::vault {
namespace {

constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE schema_version(version INTEGER NOT NULL);
CREATE TABLE header(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  format INTEGER NOT NULL,
  vault_id BLOB NOT NULL,
  unlock_method TEXT NOT NULL,
  opslimit INTEGER NOT NULL,
  memlimit INTEGER NOT NULL,
  salt BLOB NOT NULL,
  wrapped_root BLOB NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE keyring(
  term INTEGER PRIMARY KEY,
  wrapped_key BLOB,
  state TEXT NOT NULL CHECK (state IN ('active', 'retired')),
  created_at INTEGER NOT NULL);
CREATE TABLE secrets(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  rotate_every INTEGER,
  removed_at INTEGER);
CREATE TABLE versions(
  secret_id INTEGER NOT NULL REFERENCES secrets(id),
  version INTEGER NOT NULL,
  term INTEGER NOT NULL,
  blob BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  stage TEXT CHECK (stage IN ('current', 'previous', 'pending')),
  staged_at INTEGER,
  PRIMARY KEY (secret_id, version));
CREATE UNIQUE INDEX versions_by_stage ON versions(secret_id, stage) WHERE stage IS NOT NULL;
CREATE INDEX versions_by_term ON versions(term);
CREATE TABLE grants(
  instance TEXT NOT NULL,
  pattern TEXT NOT NULL,
  operations INTEGER NOT NULL,
  expires_at INTEGER,
  created_at INTEGER NOT NULL,
  mac BLOB NOT NULL,
  serial INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (instance, pattern));
CREATE TABLE grant_anchor(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  generation INTEGER NOT NULL,
  live BLOB NOT NULL,
  mac BLOB NOT NULL);
CREATE TABLE audit(
  seq INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  secret TEXT NOT NULL,
  instance TEXT NOT NULL,
  operation TEXT NOT NULL,
  request_id TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL,
  mac BLOB NOT NULL);
CREATE TABLE audit_anchor(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  count INTEGER NOT NULL,
  head BLOB NOT NULL,
  mac BLOB NOT NULL,
  grant_generation INTEGER NOT NULL DEFAULT 0);
)sql";

// Schema 3 (issue 19): a secret's rotation policy (under a MAC, see vault_rotation.cpp) and
// the state of its last attempt and its lock, beside the versions it moves.
constexpr const char* kRotationTable = R"sql(
CREATE TABLE rotation(
  secret_id INTEGER PRIMARY KEY REFERENCES secrets(id),
  strategy TEXT NOT NULL,
  every INTEGER NOT NULL,
  options TEXT NOT NULL,
  admin_secret TEXT NOT NULL,
  grace INTEGER NOT NULL,
  drop_previous INTEGER NOT NULL,
  mac BLOB NOT NULL,
  last_attempt_at INTEGER,
  last_result TEXT NOT NULL DEFAULT '',
  last_error TEXT NOT NULL DEFAULT '',
  lock_owner TEXT,
  lock_until INTEGER);
)sql";

// Schema 1 -> 2: grants gain a serial bound into their MAC, the grant set an anchor row, and
// the audit anchor the grant generation (issue 16: a revoked grant could be copied back).
constexpr const char* kSchemaV1ToV2 = R"sql(
ALTER TABLE grants ADD COLUMN serial INTEGER NOT NULL DEFAULT 0;
CREATE TABLE grant_anchor(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  generation INTEGER NOT NULL,
  live BLOB NOT NULL,
  mac BLOB NOT NULL);
ALTER TABLE audit_anchor ADD COLUMN grant_generation INTEGER NOT NULL DEFAULT 0;
)sql";

void migrate_v1_to_v2(VaultState& state) {
  state.db->exec(kSchemaV1ToV2);
  const std::int64_t generation = state.migrate_grants_to_v2();
  if (state.migrate_audit_anchor_to_v2(generation)) {
    AuditEntry entry;
    entry.actor = "keyhold:migrate";
    entry.action = "migrate";
    entry.detail = "schema=2 grant_generation=" + std::to_string(generation);
    state.append_audit_in_transaction(entry, generation);
  }
}

// Schema 2 -> 3: the rotation table. The `migrate` entry is appended when the audit anchor
// verifies; over a broken anchor the table is still added (verify_audit reports the anchor).
void migrate_v2_to_v3(VaultState& state) {
  state.db->exec(kRotationTable);
  if (!state.read_audit_anchor().is_ok()) return;
  AuditEntry entry;
  entry.actor = "keyhold:migrate";
  entry.action = "migrate";
  entry.detail = "schema=3";
  state.append_audit_in_transaction(entry);
}

// migrations[i] upgrades schema version i+1 to i+2 inside the caller's transaction, with
// the vault unlocked (a step may re-MAC rows).
const std::vector<std::function<void(VaultState&)>>& migrations() {
  static const std::vector<std::function<void(VaultState&)>> steps = {migrate_v1_to_v2,
                                                                      migrate_v2_to_v3};
  return steps;
}

}  // namespace

void create_schema(SQLite::Database& db) {
  db.exec(kSchemaV1);
  db.exec(kRotationTable);
  db.exec("INSERT INTO schema_version(version) VALUES (" + std::to_string(kSchemaVersion) + ")");
}

Result<std::int64_t> read_schema_version(SQLite::Database& db) {
  if (!db.tableExists("schema_version") || !db.tableExists("header")) {
    return Status(ErrorCode::kUnsupported,
                  "the file is an SQLite database but not a keyhold vault");
  }
  SQLite::Statement query(db, "SELECT version FROM schema_version");
  if (!query.executeStep()) {
    return Status(ErrorCode::kIntegrity, "the vault has no schema version row");
  }
  return query.getColumn(0).getInt64();
}

Status check_schema_supported(SQLite::Database& db) {
  auto version = read_schema_version(db);
  if (!version.is_ok()) return version.status();
  if (version.value() > kSchemaVersion) {
    return Status(ErrorCode::kUnsupported,
                  "the vault has schema version " + std::to_string(version.value()) +
                      ", newer than this keyhold understands (" + std::to_string(kSchemaVersion) +
                      "); upgrade keyhold");
  }
  return Status::ok();
}

Status migrate_schema(VaultState& state) {
  SQLite::Database& db = *state.db;
  if (auto s = check_schema_supported(db); !s.is_ok()) return s;
  if (read_schema_version(db).value() == kSchemaVersion) return Status::ok();
  SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
  auto current = read_schema_version(db);  // another process may have migrated meanwhile
  if (!current.is_ok()) return current.status();
  for (std::int64_t v = current.value(); v < kSchemaVersion; ++v) {
    const auto index = static_cast<std::size_t>(v - 1);
    if (index >= migrations().size()) {
      return Status(ErrorCode::kUnsupported,
                    "no migration from schema version " + std::to_string(v));
    }
    migrations()[index](state);
  }
  db.exec("UPDATE schema_version SET version = " + std::to_string(kSchemaVersion));
  txn.commit();
  return Status::ok();
}

}  // namespace keyhold::vault
