#include "schema.hpp"

#include <functional>
#include <string>
#include <vector>

#include "keyhold/vault/vault.hpp"

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
  PRIMARY KEY (instance, pattern));
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
  mac BLOB NOT NULL);
)sql";

// migrations[i] upgrades schema version i+1 to i+2. Empty while only version 1 exists; a
// new version appends its step here and bumps kSchemaVersion.
const std::vector<std::function<void(SQLite::Database&)>>& migrations() {
  static const std::vector<std::function<void(SQLite::Database&)>> steps;
  return steps;
}

}  // namespace

void create_schema(SQLite::Database& db) {
  db.exec(kSchemaV1);
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

Status migrate_schema(SQLite::Database& db) {
  auto version = read_schema_version(db);
  if (!version.is_ok()) return version.status();
  if (version.value() > kSchemaVersion) {
    return Status(ErrorCode::kUnsupported,
                  "the vault has schema version " + std::to_string(version.value()) +
                      ", newer than this keyhold understands (" + std::to_string(kSchemaVersion) +
                      "); upgrade keyhold");
  }
  if (version.value() == kSchemaVersion) return Status::ok();
  SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
  auto current = read_schema_version(db);  // another process may have migrated meanwhile
  if (!current.is_ok()) return current.status();
  for (std::int64_t v = current.value(); v < kSchemaVersion; ++v) {
    const auto index = static_cast<std::size_t>(v - 1);
    if (index >= migrations().size()) {
      return Status(ErrorCode::kUnsupported,
                    "no migration from schema version " + std::to_string(v));
    }
    migrations()[index](db);
  }
  db.exec("UPDATE schema_version SET version = " + std::to_string(kSchemaVersion));
  txn.commit();
  return Status::ok();
}

}  // namespace keyhold::vault
