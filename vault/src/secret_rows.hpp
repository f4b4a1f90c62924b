#pragma once
// Internal: row-level helpers on secrets and their staging labels, shared by
// vault_secrets.cpp and vault_rotation.cpp. Each runs inside the caller's transaction.
#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <optional>
#include <string_view>

#include "keyhold/vault/status.hpp"
#include "keyhold/vault/types.hpp"

namespace keyhold::vault {

// kNotFound naming the secret and where to look.
Status not_found(std::string_view name);
// The secret row named name, including removed ones.
std::optional<SecretInfo> lookup(SQLite::Database& db, std::string_view name);
// Labels version with stage (nullptr: no label), recording when.
void set_stage(SQLite::Database& db, std::int64_t secret_id, std::int64_t version,
               const char* stage, UnixSeconds now);
// The version of secret_id that carries stage, if any.
std::optional<std::int64_t> version_with_stage(SQLite::Database& db, std::int64_t secret_id,
                                               const char* stage);
// Makes version current; the old current (if any, and different) becomes previous and the
// old previous loses its label.
void make_current(SQLite::Database& db, std::int64_t secret_id, std::int64_t version,
                  UnixSeconds now);

}  // namespace keyhold::vault
