#pragma once
// Internal: the SQL schema of a vault file and its migrations.
#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>

#include "keyhold/vault/status.hpp"

namespace keyhold::vault {

// Creates every table of the current schema version (inside the caller's transaction).
void create_schema(SQLite::Database& db);
// The schema version stored in the file; kUnsupported when the file is not a vault.
Result<std::int64_t> read_schema_version(SQLite::Database& db);
// Brings an older schema up to kSchemaVersion in one IMMEDIATE transaction; kUnsupported
// when the file is newer than this build.
Status migrate_schema(SQLite::Database& db);

}  // namespace keyhold::vault
