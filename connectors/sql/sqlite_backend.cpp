#include "sqlite_backend.hpp"

#include "result_budget.hpp"
#include "schema_allowlist.hpp"
#include "sqlite_functions.hpp"
#include "value_format.hpp"

#include <sqlite3.h>
#include <keyhold/sdk/base64.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <map>
#include <set>

namespace keyhold::sql {

struct SqliteBackend::Guard {
  bool read_only = true;
  // The `schemas` allowlist, applied to every statement once the database is open; empty
  // = every schema. The first database name it refused, for the error message.
  std::vector<std::string> schemas;
  std::string denied_schema;
  std::string denied_object;
  // A table read without a database name (SQLite reports none when no column of it is used,
  // as in count(*) or EXISTS): run() then checks the databases the compiled program opens.
  std::string unnamed_read;
  // The first function the authorizer refused (sqlite_functions.hpp), and why.
  std::string denied_function;
  std::string_view denied_function_reason;
  Context* ctx = nullptr;
  std::chrono::steady_clock::time_point deadline{};
  bool timed_out = false;
  bool cancelled = false;
};

namespace {

// Pragmas that only report; allowed on read-only instances (with a table/index argument).
const std::set<std::string, std::less<>> kInformationalPragmas = {
    "table_info",      "table_xinfo",       "table_list",       "index_list",
    "index_info",      "index_xinfo",       "foreign_key_list", "database_list",
    "collation_list",  "function_list",     "module_list",      "pragma_list",
    "compile_options", "foreign_key_check", "integrity_check",  "quick_check"};
// Settings that may be read (no argument) but not set on read-only instances.
const std::set<std::string, std::less<>> kReadablePragmas = {
    "user_version", "schema_version", "application_id", "encoding",     "journal_mode",
    "page_count",   "page_size",      "freelist_count", "foreign_keys", "auto_vacuum"};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// SQLite database names are case-insensitive (`MAIN.t` is main.t).
bool sqlite_schema_allowed(const std::vector<std::string>& allowlist, std::string_view schema) {
  if (allowlist.empty()) return true;
  const std::string name = lower(schema);
  for (const auto& s : allowlist)
    if (lower(s) == name) return true;
  return false;
}

int authorize(void* user, int action, const char* arg1, const char* arg2, const char* database,
              const char*) {
  auto* guard = static_cast<SqliteBackend::Guard*>(user);
  if (!guard->schemas.empty()) {
    // SQLite names the database of every table, column, index, trigger and view it reads or
    // changes (main, temp; ATTACH is denied below). A pragma without a schema name counts
    // as main.
    const char* schema = database != nullptr       ? database
                         : action == SQLITE_PRAGMA ? "main"
                                                   : nullptr;
    if (schema == nullptr && action == SQLITE_READ && arg1 != nullptr &&
        guard->unnamed_read.empty())
      guard->unnamed_read = arg1;
    if (schema != nullptr && !sqlite_schema_allowed(guard->schemas, schema)) {
      if (guard->denied_schema.empty()) {
        guard->denied_schema = schema;
        guard->denied_object = (action == SQLITE_PRAGMA ? "PRAGMA " : "") + std::string(schema) +
                               "." + (arg1 != nullptr ? arg1 : "");
      }
      return SQLITE_DENY;
    }
  }
  switch (action) {
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
      return SQLITE_DENY;
    case SQLITE_FUNCTION: {
      // Every function a statement names, also through a view, is judged by name; the
      // authorizer sees no arity, so a function is refused with all its forms.
      const auto verdict = sqlite_function_verdict(arg2 != nullptr ? arg2 : "");
      if (verdict.allowed) return SQLITE_OK;
      if (guard->denied_function.empty()) {
        guard->denied_function = arg2 != nullptr ? arg2 : "";
        guard->denied_function_reason = verdict.reason;
      }
      return SQLITE_DENY;
    }
    case SQLITE_PRAGMA: {
      const std::string name = arg1 == nullptr ? std::string() : lower(arg1);
      if (name == "writable_schema" || name == "trusted_schema") return SQLITE_DENY;
      if (!guard->read_only) return SQLITE_OK;
      if (kInformationalPragmas.contains(name)) return SQLITE_OK;
      if (arg2 == nullptr && kReadablePragmas.contains(name)) return SQLITE_OK;
      return SQLITE_DENY;
    }
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
      // A transaction left open would pin a snapshot (or a write lock) across calls.
      return SQLITE_DENY;
    default:
      return SQLITE_OK;
  }
}

int on_progress(void* user) {
  auto* guard = static_cast<SqliteBackend::Guard*>(user);
  if (guard->ctx != nullptr && guard->ctx->cancelled()) {
    guard->cancelled = true;
    return 1;
  }
  if (std::chrono::steady_clock::now() >= guard->deadline) {
    guard->timed_out = true;
    return 1;
  }
  return 0;
}

// The SQLITE_LIMIT_LENGTH of a connection: 8 x max_result_bytes (room for the
// intermediate values of a query whose result fits), at least 16 MiB, at most SQLite's
// compiled maximum.
std::size_t max_value_bytes(std::size_t max_result_bytes) {
  const std::size_t floor = 16 * 1024 * 1024;
  const std::size_t ceiling = 1000000000;
  return std::min(ceiling, std::max(floor, max_result_bytes * 8));
}

class Statement {
 public:
  Statement() = default;
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt** out() { return &stmt_; }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

std::string errmsg(sqlite3* db) { return sqlite3_errmsg(db); }

// True when the tail holds another statement (not just whitespace, ';' or comments).
bool tail_has_statement(sqlite3* db, const char* tail) {
  while (tail != nullptr && *tail != '\0') {
    Statement next;
    const char* rest = nullptr;
    if (sqlite3_prepare_v2(db, tail, -1, next.out(), &rest) != SQLITE_OK) return true;
    if (next.get() != nullptr) return true;
    if (rest == tail) break;
    tail = rest;
  }
  return false;
}

void bind_params(sqlite3* db, sqlite3_stmt* stmt, const json& params) {
  const int expected = sqlite3_bind_parameter_count(stmt);
  const int given = params.is_array() ? static_cast<int>(params.size()) : 0;
  if (given != expected)
    throw SqlError("the statement has " + std::to_string(expected) + " parameter(s) but " +
                   std::to_string(given) + " were given in params");
  for (int i = 0; i < given; ++i) {
    const json& v = params[static_cast<std::size_t>(i)];
    int rc = SQLITE_OK;
    if (v.is_null()) {
      rc = sqlite3_bind_null(stmt, i + 1);
    } else if (v.is_boolean()) {
      rc = sqlite3_bind_int(stmt, i + 1, v.get<bool>() ? 1 : 0);
    } else if (v.is_number_integer()) {
      rc = v.is_number_unsigned() && v.get<std::uint64_t>() > INT64_MAX
               ? sqlite3_bind_double(stmt, i + 1, v.get<double>())
               : sqlite3_bind_int64(stmt, i + 1, v.get<sqlite3_int64>());
    } else if (v.is_number_float()) {
      rc = sqlite3_bind_double(stmt, i + 1, v.get<double>());
    } else if (v.is_string()) {
      const auto& s = v.get_ref<const std::string&>();
      rc = sqlite3_bind_text64(stmt, i + 1, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    } else if (is_blob_param(v)) {
      const auto bytes = sdk::base64_decode(v["base64"].get<std::string>());
      if (!bytes) throw SqlError("params[" + std::to_string(i) + "].base64 is not valid base64");
      rc = sqlite3_bind_blob64(stmt, i + 1, bytes->data(), bytes->size(), SQLITE_TRANSIENT);
    } else {
      const std::string text = v.dump();  // arrays/objects bind as JSON text
      rc =
          sqlite3_bind_text64(stmt, i + 1, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    }
    if (rc != SQLITE_OK)
      throw SqlError("cannot bind params[" + std::to_string(i) + "]: " + errmsg(db));
  }
}

// A lower bound of the value's size as JSON, without converting it: sqlite3_column_bytes
// on a number would write it out as text, and after such a conversion
// sqlite3_column_type is undefined (SQLite's documentation). A number takes at least one
// byte, a text or blob at least its bytes.
std::size_t raw_size(sqlite3_stmt* stmt, int c) {
  switch (sqlite3_column_type(stmt, c)) {
    case SQLITE_TEXT:
    case SQLITE_BLOB:
      return static_cast<std::size_t>(sqlite3_column_bytes(stmt, c));
    default:
      return 1;
  }
}

json column_value(sqlite3_stmt* stmt, int c) {
  switch (sqlite3_column_type(stmt, c)) {
    case SQLITE_INTEGER:
      return static_cast<std::int64_t>(sqlite3_column_int64(stmt, c));
    case SQLITE_FLOAT: {
      const double d = sqlite3_column_double(stmt, c);
      if (std::isfinite(d)) return d;
      return std::isnan(d) ? "NaN" : (d > 0 ? "Infinity" : "-Infinity");
    }
    case SQLITE_TEXT:
      return std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, c)),
                         static_cast<std::size_t>(sqlite3_column_bytes(stmt, c)));
    case SQLITE_BLOB: {
      const void* data = sqlite3_column_blob(stmt, c);
      const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt, c));
      return blob_to_json(std::string_view(static_cast<const char*>(data), data ? size : 0));
    }
    default:
      return nullptr;
  }
}

}  // namespace

SqliteBackend::SqliteBackend(SqliteOptions options)
    : options_(std::move(options)), guard_(std::make_unique<Guard>()) {
  guard_->read_only = options_.read_only;
  const int flags = (options_.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
                    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  const int rc = sqlite3_open_v2(options_.path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    const std::string why = db_ != nullptr ? errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw SqlError("cannot open SQLite database " + options_.path + ": " + why +
                   " (check the `path` option; set create_demo = true to create a demo database)");
  }
  sqlite3_db_config(db_, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, nullptr);
  sqlite3_db_config(db_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(db_, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  // Debian builds with SQLITE_ENABLE_FTS3_TOKENIZER: the two-argument fts3_tokenizer()
  // installs a pointer given in SQL. The authorizer refuses the function too.
  sqlite3_db_config(db_, SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, 0, nullptr);
  sqlite3_extended_result_codes(db_, 1);
  // No single string or blob, stored or computed (randomblob, printf, group_concat), may
  // outgrow a bound tied to max_result_bytes: the connector's memory stays bounded.
  sqlite3_limit(db_, SQLITE_LIMIT_LENGTH,
                static_cast<int>(max_value_bytes(options_.max_result_bytes)));
  sqlite3_busy_timeout(db_, 2000);
  sqlite3_set_authorizer(db_, &authorize, guard_.get());
  sqlite3_progress_handler(db_, 1000, &on_progress, guard_.get());
  // Opening is lazy: read the schema now so a file that is not a database fails here.
  Statement probe;
  if (sqlite3_prepare_v2(db_, "SELECT count(*) FROM sqlite_schema", -1, probe.out(), nullptr) !=
          SQLITE_OK ||
      sqlite3_step(probe.get()) != SQLITE_ROW) {
    const std::string why = errmsg(db_);
    sqlite3_finalize(*probe.out());
    *probe.out() = nullptr;
    sqlite3_close(db_);
    db_ = nullptr;
    throw SqlError("cannot read SQLite database " + options_.path + ": " + why);
  }
  guard_->schemas = options_.schemas;
}

SqliteBackend::~SqliteBackend() { sqlite3_close(db_); }

bool SqliteBackend::schema_allowed(const std::string& schema) const {
  return schema == "main" && schema_in_allowlist(options_.schemas, schema);
}

void SqliteBackend::throw_if_outside_allowlist() const {
  if (guard_->denied_schema.empty()) return;
  std::string allowed;
  for (const auto& s : guard_->schemas) allowed += (allowed.empty() ? "" : ", ") + s;
  throw SqlError("refused: schema " + guard_->denied_schema +
                 " is not in this instance's `schemas` allowlist (" + allowed +
                 "); the statement uses " + guard_->denied_object);
}

namespace {
// `sql` without a leading EXPLAIN or EXPLAIN QUERY PLAN (the explain tool adds one), so the
// statement it explains can be listed with EXPLAIN (which does not nest).
std::string without_explain_prefix(const std::string& sql) {
  std::size_t i = 0;
  const auto skip_space = [&] {
    while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i]))) ++i;
  };
  const auto keyword = [&](std::string_view word) {
    skip_space();
    if (sql.size() - i <= word.size() || lower(sql.substr(i, word.size())) != word ||
        !std::isspace(static_cast<unsigned char>(sql[i + word.size()])))
      return false;
    i += word.size();
    return true;
  };
  if (!keyword("explain")) return sql;
  const std::size_t after_explain = i;
  if (!(keyword("query") && keyword("plan"))) i = after_explain;
  return sql.substr(i);
}
}  // namespace

void SqliteBackend::check_opened_databases(const std::string& sql) {
  // Every b-tree cursor of the program (OpenRead/OpenWrite/ReopenIdx) names its database
  // in P3. EXPLAIN lists the program without running it.
  const std::string table = guard_->unnamed_read;
  Statement program;
  const std::string text = "EXPLAIN " + without_explain_prefix(sql);
  if (sqlite3_prepare_v2(db_, text.c_str(), static_cast<int>(text.size()), program.out(),
                         nullptr) != SQLITE_OK ||
      program.get() == nullptr)
    throw SqlError(
        "refused: cannot check which databases the statement reads against the "
        "`schemas` allowlist: " +
        errmsg(db_));
  int rc;
  while ((rc = sqlite3_step(program.get())) == SQLITE_ROW) {
    const auto* op = reinterpret_cast<const char*>(sqlite3_column_text(program.get(), 1));
    const std::string_view opcode = op != nullptr ? op : "";
    if (opcode != "OpenRead" && opcode != "OpenWrite" && opcode != "ReopenIdx") continue;
    const char* database = sqlite3_db_name(db_, sqlite3_column_int(program.get(), 4));
    const std::string schema = database != nullptr ? database : "?";
    if (!sqlite_schema_allowed(guard_->schemas, schema)) {
      guard_->denied_schema = schema;
      guard_->denied_object = schema + "." + table;
      throw_if_outside_allowlist();
    }
  }
  if (rc != SQLITE_DONE)
    throw SqlError(
        "refused: cannot check which databases the statement reads against the "
        "`schemas` allowlist: " +
        errmsg(db_));
}

QueryResult SqliteBackend::run(Context& ctx, const std::string& sql, const json& params,
                               const CallLimits& limits, Mode mode, long long* rows_affected) {
  std::lock_guard lock(mutex_);
  // Internal catalog queries run under the same rules as the client's.
  guard_->ctx = &ctx;
  guard_->deadline = std::chrono::steady_clock::now() + limits.statement_timeout;
  guard_->timed_out = false;
  guard_->cancelled = false;
  guard_->denied_schema.clear();
  guard_->denied_object.clear();
  guard_->unnamed_read.clear();
  guard_->denied_function.clear();
  guard_->denied_function_reason = {};
  struct Reset {
    Guard* g;
    ~Reset() { g->ctx = nullptr; }
  } reset{guard_.get()};

  Statement stmt;
  const char* tail = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), stmt.out(), &tail) !=
      SQLITE_OK) {
    if (guard_->cancelled) throw Cancelled();
    throw_if_outside_allowlist();
    if (!guard_->denied_function.empty())
      throw SqlError(
          "refused: the SQLite function " + guard_->denied_function +
          "() is not allowed on this connector: " + std::string(guard_->denied_function_reason));
    if (sqlite3_errcode(db_) == SQLITE_AUTH)
      throw SqlError("refused: SQLite: " + errmsg(db_) +
                     " (this instance denies ATTACH/DETACH, transaction control, pragmas that "
                     "change settings, and functions that reach past the statement such as "
                     "load_extension and fts3_tokenizer)");
    throw SqlError("SQLite: " + errmsg(db_));
  }
  if (stmt.get() == nullptr) throw SqlError("no SQL statement was given");
  if (tail_has_statement(db_, tail))
    throw SqlError(
        "refused: the text holds more than one statement; send exactly one statement per call");
  if (!guard_->unnamed_read.empty()) check_opened_databases(sql);
  if (mode != Mode::kWrite && !sqlite3_stmt_readonly(stmt.get()))
    throw SqlError(
        "refused: this instance is read-only and the statement would write to the database");
  bind_params(db_, stmt.get(), params);

  QueryResult result;
  const int n = sqlite3_column_count(stmt.get());
  for (int c = 0; c < n; ++c) {
    const char* decl = sqlite3_column_decltype(stmt.get(), c);
    result.columns.push_back({sqlite3_column_name(stmt.get(), c), decl ? decl : ""});
  }
  ResultBudget budget(limits.max_result_bytes);
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    if (result.rows.size() >= limits.row_limit) {
      mark_truncated(result, Truncation::kRowLimit);
      break;
    }
    // The progress handler watches SQLite's work; this watches ours between rows, so the
    // deadline and cancellation cover the whole call. Not for a write: its changes were
    // all made by the first step and commit when the statement ends, so stopping between
    // its RETURNING rows would report a committed write as cancelled (the rows past the
    // limits are left unread, and the result says so).
    if (mode != Mode::kWrite && on_progress(guard_.get()) != 0) break;
    // Sizes first: a value too large for what is left is never copied.
    std::size_t raw = 0;
    for (int c = 0; c < n; ++c) raw += raw_size(stmt.get(), c);
    if (!budget.may_fit(raw)) {
      mark_truncated(result, Truncation::kResultBytes);
      break;
    }
    json row = json::array();
    for (int c = 0; c < n; ++c) row.push_back(column_value(stmt.get(), c));
    if (!budget.take(row)) {
      mark_truncated(result, Truncation::kResultBytes);
      break;
    }
    result.rows.push_back(std::move(row));
  }
  result.result_bytes = budget.used();
  if (guard_->cancelled) throw Cancelled();
  if (guard_->timed_out)
    throw SqlError("canceling statement due to statement timeout (" +
                   std::to_string(limits.statement_timeout.count()) + " ms)");
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    if (guard_->cancelled) throw Cancelled();
    throw_if_outside_allowlist();
    if (guard_->timed_out)
      throw SqlError("canceling statement due to statement timeout (" +
                     std::to_string(limits.statement_timeout.count()) + " ms)");
    if (sqlite3_errcode(db_) == SQLITE_TOOBIG)
      throw SqlError("SQLite: " + errmsg(db_) + " (one value may hold at most " +
                     std::to_string(max_value_bytes(options_.max_result_bytes)) +
                     " bytes on this instance: 8 x max_result_bytes, at least 16 MiB)");
    throw SqlError("SQLite: " + errmsg(db_));
  }
  // A statement left before SQLITE_DONE (rows past the limits) ends here, so its changes
  // are committed and counted now (sqlite3_changes counts finished statements only).
  if (rc == SQLITE_ROW && sqlite3_reset(stmt.get()) != SQLITE_OK)
    throw SqlError("SQLite: " + errmsg(db_));
  if (rows_affected != nullptr) *rows_affected = sqlite3_changes64(db_);
  return result;
}

std::vector<std::string> SqliteBackend::list_schemas(Context&) {
  if (schema_allowed("main")) return {"main"};
  return {};
}

json SqliteBackend::list_tables(Context& ctx, const std::string& schema) {
  json out = json::array();
  if (!schema.empty() && !schema_allowed(schema)) return out;
  if (!schema_allowed("main")) return out;
  const auto r =
      run(ctx,
          "SELECT name, type FROM sqlite_schema WHERE type IN ('table','view') AND "
          "name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
          json::array(), CallLimits{100000, std::chrono::seconds(15)}, Mode::kInternal, nullptr);
  for (const auto& row : r.rows)
    out.push_back({{"schema", "main"}, {"name", row[0]}, {"type", row[1]}});
  return out;
}

json SqliteBackend::describe_table(Context& ctx, const std::string& schema,
                                   const std::string& table) {
  const std::string s = schema.empty() ? "main" : schema;
  if (!schema_allowed(s)) throw SqlError("schema " + s + " is not offered by this instance");
  const CallLimits internal{100000, std::chrono::seconds(15)};
  const auto kind =
      run(ctx, "SELECT type FROM sqlite_schema WHERE name = ?1 AND type IN ('table','view')",
          json::array({table}), internal, Mode::kInternal, nullptr);
  if (kind.rows.empty()) throw SqlError("no such table: " + s + "." + table);

  json columns = json::array();
  std::vector<std::pair<long long, std::string>> pk;
  const auto cols = run(ctx,
                        "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM "
                        "pragma_table_xinfo(?1) ORDER BY cid",
                        json::array({table}), internal, Mode::kInternal, nullptr);
  for (const auto& c : cols.rows) {
    if (c[5].get<long long>() == 1) continue;  // hidden column of a virtual table
    columns.push_back({{"name", c[0]},
                       {"type", c[1]},
                       {"nullable", c[2].get<long long>() == 0},
                       {"default", c[3]}});
    if (c[4].get<long long>() > 0) pk.emplace_back(c[4].get<long long>(), c[0].get<std::string>());
  }
  std::sort(pk.begin(), pk.end());
  json primary_key = json::array();
  for (const auto& [_, name] : pk) primary_key.push_back(name);

  json foreign_keys = json::array();
  const auto fks = run(ctx,
                       "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM "
                       "pragma_foreign_key_list(?1) ORDER BY id, seq",
                       json::array({table}), internal, Mode::kInternal, nullptr);
  for (const auto& f : fks.rows) {
    if (foreign_keys.empty() || foreign_keys.back()["id"] != f[0]) {
      foreign_keys.push_back({{"id", f[0]},
                              {"columns", json::array()},
                              {"references_schema", "main"},
                              {"references_table", f[1]},
                              {"references_columns", json::array()},
                              {"on_update", f[4]},
                              {"on_delete", f[5]}});
    }
    foreign_keys.back()["columns"].push_back(f[2]);
    foreign_keys.back()["references_columns"].push_back(f[3]);
  }
  for (auto& f : foreign_keys) f.erase("id");

  json indexes = json::array();
  const auto idx =
      run(ctx, "SELECT name, \"unique\", origin FROM pragma_index_list(?1) ORDER BY name",
          json::array({table}), internal, Mode::kInternal, nullptr);
  for (const auto& i : idx.rows) {
    const auto parts = run(ctx, "SELECT name FROM pragma_index_info(?1) ORDER BY seqno",
                           json::array({i[0]}), internal, Mode::kInternal, nullptr);
    json names = json::array();
    for (const auto& p : parts.rows) names.push_back(p[0]);
    indexes.push_back({{"name", i[0]},
                       {"unique", i[1].get<long long>() != 0},
                       {"primary", i[2] == "pk"},
                       {"columns", names}});
  }
  return {{"schema", s},
          {"name", table},
          {"type", kind.rows[0][0]},
          {"columns", columns},
          {"primary_key", primary_key},
          {"foreign_keys", foreign_keys},
          {"indexes", indexes}};
}

QueryResult SqliteBackend::query(Context& ctx, const std::string& sql, const json& params,
                                 const CallLimits& limits) {
  return run(ctx, sql, params, limits, Mode::kReadOnly, nullptr);
}

std::string SqliteBackend::explain(Context& ctx, const std::string& sql, const json& params,
                                   const CallLimits& limits) {
  CallLimits plan_limits = limits;
  plan_limits.row_limit = 10000;
  const auto r =
      run(ctx, "EXPLAIN QUERY PLAN " + sql, params, plan_limits, Mode::kReadOnly, nullptr);
  // Rows are (id, parent, notused, detail): indent each line under its parent.
  std::map<long long, int> depth;
  std::string out = "QUERY PLAN\n";
  for (const auto& row : r.rows) {
    const long long id = row[0].get<long long>();
    const long long parent = row[1].get<long long>();
    const int d = parent == 0 ? 0 : depth[parent] + 1;
    depth[id] = d;
    out += std::string(static_cast<std::size_t>(d) * 2, ' ') + "`--" + cell_text(row[3]) + "\n";
  }
  return out;
}

QueryResult SqliteBackend::execute(Context& ctx, const std::string& sql, const json& params,
                                   const CallLimits& limits, long long* rows_affected) {
  if (options_.read_only) throw SqlError("refused: this instance is read-only");
  return run(ctx, sql, params, limits, Mode::kWrite, rows_affected);
}

}  // namespace keyhold::sql
