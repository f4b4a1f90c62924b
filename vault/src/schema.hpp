#pragma once
// Internal: the SQL schema of a vault file and its migrations.
#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>

#include "keyhold/vault/status.hpp"

namespace keyhold::vault {

struct VaultState;

// Creates every table of the current schema version (inside the caller's transaction).
void create_schema(SQLite::Database& db);
// The schema version stored in the file; kUnsupported when the file is not a vault.
Result<std::int64_t> read_schema_version(SQLite::Database& db);
// kUnsupported (with advice) when the file's schema is newer than this build.
Status check_schema_supported(SQLite::Database& db);
// Brings an older schema up to kSchemaVersion in one IMMEDIATE transaction; kUnsupported
// when the file is newer than this build. Needs the unlocked state: steps re-MAC rows.
Status migrate_schema(VaultState& state);

}  // namespace keyhold::vault
