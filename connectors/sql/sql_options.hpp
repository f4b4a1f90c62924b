// sql_options.hpp - the instance options of the sql connector, read and checked once in
// create(). Pure: no database is touched; tests/sql/sql_options_test.cpp covers it.
#pragma once

#include "sql_backend.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace keyhold::sql {

struct SqlOptions {
  std::string backend = "sqlite";  // "sqlite" | "postgres"
  bool read_only = true;
  CallLimits limits;                 // row_limit, statement_timeout
  std::vector<std::string> schemas;  // allowlist; empty = every schema

  // sqlite
  std::string path;  // absolute after resolve
  bool create_demo = false;

  // postgres: libpq keywords (host, port, dbname, user, sslmode, ...) without secrets.
  std::vector<std::pair<std::string, std::string>> connection;
  int pool_size = 4;
  // Serve a read-only instance even when the role can act outside the read-only
  // transaction (superuser, pg_execute_server_program ...); logged at every connection.
  bool allow_privileged_role = false;
};

// Reads the options JSON. Throws std::invalid_argument with a message that names the
// option and says what is accepted. `environment` supplies XDG_DATA_HOME and HOME for
// resolving a relative SQLite path (see resolve_data_path).
SqlOptions parse_options(const json& options,
                         const std::map<std::string, std::string>& environment);

// A relative `path` is resolved against, in order: the `data_dir` option, then
// $XDG_DATA_HOME/keyhold, then $HOME/.local/share/keyhold. An absolute path is kept.
std::string resolve_data_path(const std::string& path, const std::string& data_dir,
                              const std::map<std::string, std::string>& environment);

}  // namespace keyhold::sql
