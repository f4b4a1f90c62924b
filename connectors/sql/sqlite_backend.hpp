// sqlite_backend.hpp - the sql connector over one SQLite file (sqlite3 C API).
//
// Read-only instances are enforced by SQLite itself: the file is opened with
// SQLITE_OPEN_READONLY, statements for which sqlite3_stmt_readonly() is false are
// refused, an authorizer denies ATTACH/DETACH, transactions, every pragma that is not
// informational and every SQL function not reviewed as harmless (sqlite_functions.hpp:
// load_extension, fts3_tokenizer ...), extension loading and the FTS3 tokenizer pointer
// interface are switched off with sqlite3_db_config, and a progress handler stops statements at the
// timeout or when the request is cancelled. Exactly one statement per call: a non-empty tail is
// refused. With a `schemas` allowlist the authorizer also denies every read or write of a table,
// view, index or pragma in a database (main, temp) outside the list.
#pragma once

#include "sql_backend.hpp"

#include <memory>
#include <mutex>
#include <string>

struct sqlite3;

namespace keyhold::sql {

struct SqliteOptions {
  std::string path;  // absolute path of the database file
  bool read_only = true;
  std::vector<std::string> schemas;  // allowlist; empty = all ("main")
  // Bounds SQLITE_LIMIT_LENGTH (the largest string or blob) to 8 x this, at least 16 MiB.
  std::size_t max_result_bytes = 4 * 1024 * 1024;
};

class SqliteBackend : public Backend {
 public:
  // Opens the database; throws SqlError naming the path and SQLite's reason.
  explicit SqliteBackend(SqliteOptions options);
  ~SqliteBackend() override;

  std::vector<std::string> list_schemas(Context& ctx) override;
  json list_tables(Context& ctx, const std::string& schema) override;
  json describe_table(Context& ctx, const std::string& schema, const std::string& table) override;
  QueryResult query(Context& ctx, const std::string& sql, const json& params,
                    const CallLimits& limits) override;
  std::string explain(Context& ctx, const std::string& sql, const json& params,
                      const CallLimits& limits) override;
  QueryResult execute(Context& ctx, const std::string& sql, const json& params,
                      const CallLimits& limits, long long* rows_affected) override;
  std::string default_schema() const override { return "main"; }

  // The state the authorizer and progress handler read during one statement.
  struct Guard;

 private:
  enum class Mode { kReadOnly, kWrite, kInternal };
  QueryResult run(Context& ctx, const std::string& sql, const json& params,
                  const CallLimits& limits, Mode mode, long long* rows_affected);
  bool schema_allowed(const std::string& schema) const;
  // Throws the SqlError naming the schema when the authorizer refused one (see Guard).
  void throw_if_outside_allowlist() const;
  // Refuses `sql` when its compiled program opens a table or index in a database outside
  // the allowlist (for reads the authorizer saw without a database name).
  void check_opened_databases(const std::string& sql);

  SqliteOptions options_;
  sqlite3* db_ = nullptr;
  std::mutex mutex_;  // one statement at a time on the connection
  std::unique_ptr<Guard> guard_;
};

// Builds the demo database (customers, products, orders, order_items with foreign keys,
// an index and a view) at `path`, through a writable connection that is closed before
// returning. Writes to a temporary file and renames it, so a crash leaves no half file.
// Throws SqlError on failure.
void create_demo_database(const std::string& path);

}  // namespace keyhold::sql
