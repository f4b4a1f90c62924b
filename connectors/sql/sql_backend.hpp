// sql_backend.hpp - what the sql connector needs from a database, whatever its engine.
//
// A backend owns its connections and is safe to call from several threads at once
// (tool calls run concurrently). Every method throws SqlError with the database's own
// message on failure, and keyhold::Cancelled when the request was cancelled.
#pragma once

#include <keyhold/plugin.hpp>

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace keyhold::sql {

// A failure the client should see as an isError result. The message comes from the
// database (or says which rule refused the statement) and never carries a credential.
struct SqlError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Column {
  std::string name;
  std::string type;  // the engine's type name; may be empty (SQLite expressions)
};

// Which limit cut a result short.
enum class Truncation { kNone, kRowLimit, kResultBytes };

// The rows of one statement, each an array of JSON values (see value_format.hpp for
// how engine types map to JSON).
struct QueryResult {
  std::vector<Column> columns;
  json rows = json::array();
  bool truncated = false;  // more rows existed than row_limit or max_result_bytes allowed
  Truncation truncated_by = Truncation::kNone;
  std::size_t result_bytes = 0;  // the rows' size as JSON (see ResultBudget)
};

// Per-call limits, taken from the instance options.
struct CallLimits {
  std::size_t row_limit = 500;
  std::chrono::milliseconds statement_timeout{15000};
  // The most bytes of rows (as JSON) one call returns; the rows past it are not read.
  std::size_t max_result_bytes = 4 * 1024 * 1024;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Schema names the instance may show (already filtered by the `schemas` allowlist).
  virtual std::vector<std::string> list_schemas(Context& ctx) = 0;
  // [{"schema","name","type"}] for tables and views; schema empty = every allowed one.
  virtual json list_tables(Context& ctx, const std::string& schema) = 0;
  // {"schema","name","columns":[...],"primary_key":[...],"foreign_keys":[...],
  //  "indexes":[...]}; throws SqlError when the table does not exist.
  virtual json describe_table(Context& ctx, const std::string& schema,
                              const std::string& table) = 0;
  // Runs one read-only statement with bound parameters.
  virtual QueryResult query(Context& ctx, const std::string& sql, const json& params,
                            const CallLimits& limits) = 0;
  // The plan of one statement, as text.
  virtual std::string explain(Context& ctx, const std::string& sql, const json& params,
                              const CallLimits& limits) = 0;
  // Runs one statement that may write; returns rows (if any) and the affected count.
  // Only offered on instances with read_only = false.
  virtual QueryResult execute(Context& ctx, const std::string& sql, const json& params,
                              const CallLimits& limits, long long* rows_affected) = 0;
  // The schema a table name without one refers to ("main", "public").
  virtual std::string default_schema() const = 0;
};

}  // namespace keyhold::sql
