// postgres_backend.hpp - the sql connector over PostgreSQL (libpq).
//
// Every statement goes through the extended query protocol (PQsendQueryParams), which
// carries exactly one statement, so `COMMIT; DROP TABLE t` is refused by the server
// itself. Read-only instances connect with default_transaction_read_only = on and run
// every statement inside BEGIN READ ONLY with SET LOCAL statement_timeout, and always end
// with ROLLBACK, so even a session setting changed by the statement is undone. A call's
// statements are sent in libpq's pipeline mode: a read-only call is one round trip. The query
// tool is read-only on every instance; execute (read_only = false only) commits.
//
// Credentials: the secret alias `url` (a whole connection URL) or `password` is revealed
// for the duration of PQconnectdbParams only, copied into a buffer wiped right after; no
// error message carries it. A small pool keeps idle connections and drops any that broke
// (server restart), reconnecting on the next call. A cancelled request sends PQcancel.
// A connection goes back to the pool only after DISCARD ALL (advisory locks, prepared
// statements, cursors, LISTEN, session settings a statement left behind are gone).
//
// Read-only instances refuse at connect a role that could act outside the transaction
// (superuser, REPLICATION, BYPASSRLS, pg_execute_server_program, pg_read/write_server_files,
// pg_signal_backend, owner of an allowlisted schema) and, with a `schemas` allowlist, a
// role that may use a schema outside it, read a large object or call dblink (SQL run by
// query_to_xml and friends is bounded only by privileges), unless allow_privileged_role.
//
// With a `schemas` allowlist, query and explain first run EXPLAIN (VERBOSE, FORMAT JSON)
// of the statement with its params in the same read-only transaction and refuse it when a
// scanned relation lies outside the allowlist (schema_allowlist.hpp). Defence in depth:
// functions, and statements EXPLAIN cannot plan, are not covered; see README.md.
#pragma once

#include "sql_backend.hpp"

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

typedef struct pg_conn PGconn;

namespace keyhold::sql {

struct PostgresOptions {
  // libpq keywords without secrets: host, port, dbname, user, sslmode, connect_timeout ...
  std::vector<std::pair<std::string, std::string>> connection;
  bool read_only = true;
  std::vector<std::string> schemas;  // allowlist; empty = every non-system schema
  int pool_size = 4;
  // See check_role(): serve a read-only instance with a privileged role anyway.
  bool allow_privileged_role = false;
};

class PostgresBackend : public Backend {
 public:
  // Does not connect: the first call does (the server may be down at load time).
  PostgresBackend(Host host, PostgresOptions options);
  ~PostgresBackend() override;

  std::vector<std::string> list_schemas(Context& ctx) override;
  json list_tables(Context& ctx, const std::string& schema) override;
  json describe_table(Context& ctx, const std::string& schema, const std::string& table) override;
  QueryResult query(Context& ctx, const std::string& sql, const json& params,
                    const CallLimits& limits) override;
  std::string explain(Context& ctx, const std::string& sql, const json& params,
                      const CallLimits& limits) override;
  QueryResult execute(Context& ctx, const std::string& sql, const json& params,
                      const CallLimits& limits, long long* rows_affected) override;
  std::string default_schema() const override { return "public"; }

 private:
  enum class Mode { kReadOnly, kWrite };
  // `allowlist_check`: the statement to plan and check against the `schemas` allowlist
  // before `sql` runs (nullptr: no check; internal catalog queries).
  QueryResult run(Context& ctx, const std::string& sql, const json& params,
                  const CallLimits& limits, Mode mode, long long* rows_affected,
                  const std::string* allowlist_check = nullptr);
  QueryResult run_once(PGconn* conn, Context& ctx, const std::string& sql, const json& params,
                       const CallLimits& limits, Mode mode, long long* rows_affected,
                       const std::string* allowlist_check, bool* connection_lost,
                       bool* user_statement_sent, bool* session_reset);
  PGconn* connect(Context& ctx);
  // On read-only instances: refuses (closes `conn`, throws SqlError) a role that can act
  // outside the read-only transaction, unless allow_privileged_role, which logs a warning.
  void check_role(PGconn* conn);
  PGconn* take(Context& ctx);
  // Pools `conn` if it is healthy, after a ROLLBACK of a transaction left open and a
  // DISCARD ALL unless `session_reset` (the call's own pipeline ran it); closes it otherwise.
  void give_back(PGconn* conn, bool session_reset);
  void drop_idle();  // closes every pooled connection (after one was found lost)
  std::string type_name(PGconn* conn, unsigned oid);
  bool schema_allowed(const std::string& schema) const;

  Host host_;
  PostgresOptions options_;
  std::mutex pool_mutex_;
  std::vector<PGconn*> idle_;
  std::mutex types_mutex_;
  std::map<unsigned, std::string> type_names_;
};

}  // namespace keyhold::sql
