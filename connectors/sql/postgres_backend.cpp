#include "postgres_backend.hpp"

#include "pg_values.hpp"
#include "result_budget.hpp"
#include "schema_allowlist.hpp"
#include "value_format.hpp"

#include <keyhold/sdk/secret_handle.hpp>

#include <libpq-fe.h>
#include <poll.h>

#include <string.h>  // explicit_bzero
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>

namespace keyhold::sql {

namespace {

using Clock = std::chrono::steady_clock;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// The database's message with its SQLSTATE, detail and hint; never the connection string.
std::string describe_error(const PGresult* r, PGconn* conn) {
  const char* primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  if (primary == nullptr) {
    std::string text = r ? PQresultErrorMessage(r) : "";
    if (text.empty()) text = PQerrorMessage(conn);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return "PostgreSQL: " + (text.empty() ? std::string("unknown error") : text);
  }
  std::string out = "PostgreSQL: ";
  out += primary;
  if (const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE))
    out += std::string(" (SQLSTATE ") + state + ")";
  if (const char* detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL))
    out += std::string("\nDETAIL: ") + detail;
  if (const char* hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT))
    out += std::string("\nHINT: ") + hint;
  return out;
}

void send_cancel(PGconn* conn) {
  if (PGcancel* cancel = PQgetCancel(conn)) {
    char error[256];
    PQcancel(cancel, error, sizeof error);
    PQfreeCancel(cancel);
  }
}

// The statements of one call go through the extended protocol in libpq's pipeline mode:
// sent in one write, their results read in order, so a call costs one round trip to the
// server instead of one per statement. The reader waits in 50 ms steps so a cancelled
// request or the client-side deadline can send PQcancel.
struct Outcome {
  QueryResult rows;
  long long affected = -1;
  std::string error;
  std::string sqlstate;
  bool failed = false;
  bool aborted = false;  // never run: an earlier statement of its pipeline segment failed
  bool connection_lost = false;
  bool cancelled = false;  // the request was cancelled and the server told
};

class StatementRunner {
 public:
  StatementRunner(PGconn* conn, Context* ctx, Clock::time_point hard_deadline)
      : conn_(conn), ctx_(ctx), deadline_(hard_deadline) {}

  // Queues one statement (sent at the next sync()). False: the connection is gone.
  bool send(const std::string& sql, const std::vector<std::optional<std::string>>& params = {}) {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    return PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.empty() ? nullptr : values.data(), nullptr, nullptr, 0) == 1;
  }
  // Ends a pipeline segment and sends what is queued: an error in a segment skips the
  // rest of that segment only.
  bool sync() { return PQpipelineSync(conn_) == 1; }

  // The results of the next statement sent. `row_limit`/`keep_rows`/`budget` as for the
  // rows of a query (the budget is the max_result_bytes cap; nullptr: none); the rows are
  // read one at a time (single-row mode) when `keep_rows`. Past the limits, the rows of a
  // read are stopped by a cancel; a write (`may_cancel` false) runs to its end, and the
  // rows it returns past them are read and dropped: whether it commits must not depend on
  // when a cancel arrives.
  Outcome read(std::size_t row_limit, bool keep_rows, ResultBudget* budget = nullptr,
               bool may_cancel = true) {
    Outcome out;
    oids_.clear();
    if (keep_rows) PQsetSingleRowMode(conn_);
    bool stop_reading = false;
    // Stops the server producing rows we will not read (the error it answers with is
    // expected and ignored).
    const auto stop = [&] {
      stop_reading = true;
      if (may_cancel) cancel();
    };
    while (true) {
      if (!wait(&out)) return lost(out);
      Result r(PQgetResult(conn_));
      if (!r) break;
      switch (PQresultStatus(r.get())) {
        case PGRES_SINGLE_TUPLE:
        case PGRES_TUPLES_OK:
          if (out.rows.columns.empty()) columns(r.get(), out.rows);
          // The command tag of a write with RETURNING (INSERT 0 n) ends its rows.
          if (const char* n = PQcmdTuples(r.get()); n != nullptr && *n != '\0')
            out.affected = std::atoll(n);
          if (stop_reading) break;
          for (int row = 0; row < PQntuples(r.get()) && !stop_reading; ++row) {
            if (out.rows.rows.size() >= row_limit) {
              // More rows than the limit: say so, and stop the server producing them.
              mark_truncated(out.rows, Truncation::kRowLimit);
              stop();
              break;
            }
            if (!keep_rows) continue;
            // The deadline and cancellation cover reading the rows too, not only the
            // server's work.
            if (ctx_ != nullptr && ctx_->cancelled()) {
              out.cancelled = true;
              record_error(out, "the request was cancelled");
              stop();
              break;
            }
            if (Clock::now() > deadline_) {
              record_error(out, "PostgreSQL: the call passed its deadline while reading rows");
              out.sqlstate = "57014";
              stop();
              break;
            }
            // A value larger than what is left is never converted (a 100 MB array would
            // take seconds to parse).
            if (budget != nullptr && !budget->may_fit(raw_size(r.get(), row))) {
              mark_truncated(out.rows, Truncation::kResultBytes);
              stop();
              break;
            }
            json row_values = values_of(r.get(), row);
            if (budget != nullptr && !budget->take(row_values)) {
              mark_truncated(out.rows, Truncation::kResultBytes);
              stop();
              break;
            }
            out.rows.rows.push_back(std::move(row_values));
          }
          break;
        case PGRES_COMMAND_OK: {
          const char* n = PQcmdTuples(r.get());
          if (n != nullptr && *n != '\0') out.affected = std::atoll(n);
          break;
        }
        case PGRES_COPY_OUT: {
          char* buffer = nullptr;
          while (PQgetCopyData(conn_, &buffer, 0) > 0) PQfreemem(buffer);
          record_error(out, "refused: COPY is not supported by this connector");
          break;
        }
        case PGRES_COPY_IN:
          PQputCopyEnd(conn_, "COPY is not supported by this connector");
          record_error(out, "refused: COPY is not supported by this connector");
          break;
        case PGRES_EMPTY_QUERY:
          record_error(out, "no SQL statement was given");
          break;
        case PGRES_PIPELINE_ABORTED:
          out.aborted = true;
          record_error(out, "PostgreSQL: not run: an earlier statement of the call failed");
          break;
        case PGRES_PIPELINE_SYNC:
          // Never here while the reads follow the sends; a lost count ends the call.
          record_error(out, "PostgreSQL: the statement results went out of step");
          out.connection_lost = true;
          return out;
        default:
          if (stop_reading) break;  // the cancel we sent after row_limit
          if (!out.failed) {
            out.failed = true;
            out.error = describe_error(r.get(), conn_);
            if (const char* s = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE)) out.sqlstate = s;
          }
          if (PQstatus(conn_) == CONNECTION_BAD) out.connection_lost = true;
          break;
      }
      if (out.connection_lost) break;
    }
    if (PQstatus(conn_) == CONNECTION_BAD) {
      out.connection_lost = true;
      if (!out.failed) record_error(out, "PostgreSQL: connection lost: " + message());
    }
    return out;
  }

  // The end of a segment. False: the connection is gone or the results are out of step.
  bool read_sync() {
    Outcome unused;
    if (!wait(&unused)) return false;
    Result r(PQgetResult(conn_));
    return r && PQresultStatus(r.get()) == PGRES_PIPELINE_SYNC;
  }

 private:
  // Waits until a result can be taken without blocking; sends the cancel once when the
  // request is cancelled or the deadline passed. False: the connection is gone.
  bool wait(Outcome* out) {
    while (PQisBusy(conn_)) {
      pollfd pfd{PQsocket(conn_), POLLIN, 0};
      ::poll(&pfd, 1, 50);
      if (!PQconsumeInput(conn_)) return false;
      if (!cancel_sent_ && ((ctx_ != nullptr && ctx_->cancelled()) || Clock::now() > deadline_)) {
        if (ctx_ != nullptr && ctx_->cancelled()) out->cancelled = true;
        cancel();
      }
    }
    return true;
  }
  void cancel() {
    if (cancel_sent_) return;
    send_cancel(conn_);
    cancel_sent_ = true;
  }
  Outcome& lost(Outcome& out) {
    out.failed = true;
    out.connection_lost = true;  // whatever happened, its results cannot be trusted
    out.error = "PostgreSQL: " + message();
    return out;
  }
  std::string message() const {
    std::string m = PQerrorMessage(conn_);
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    return m;
  }
  static void record_error(Outcome& out, const std::string& message) {
    if (out.failed) return;
    out.failed = true;
    out.error = message;
  }
  void columns(PGresult* r, QueryResult& rows) {
    for (int c = 0; c < PQnfields(r); ++c) {
      rows.columns.push_back({PQfname(r, c), std::to_string(PQftype(r, c))});
      oids_.push_back(PQftype(r, c));
    }
  }
  static std::size_t raw_size(PGresult* r, int row) {
    std::size_t bytes = 0;
    for (int c = 0; c < PQnfields(r); ++c)
      bytes += static_cast<std::size_t>(PQgetlength(r, row, c));
    return bytes;
  }
  json values_of(PGresult* r, int row) const {
    json values = json::array();
    for (int c = 0; c < PQnfields(r); ++c) {
      if (PQgetisnull(r, row, c))
        values.push_back(nullptr);
      else
        values.push_back(
            pg_text_to_json(oids_[static_cast<std::size_t>(c)],
                            std::string_view(PQgetvalue(r, row, c),
                                             static_cast<std::size_t>(PQgetlength(r, row, c)))));
    }
    return values;
  }

  PGconn* conn_;
  Context* ctx_;
  Clock::time_point deadline_;
  bool cancel_sent_ = false;
  std::vector<unsigned> oids_;
};

std::vector<std::optional<std::string>> to_params(const json& params) {
  std::vector<std::optional<std::string>> out;
  if (!params.is_array()) return out;
  for (std::size_t i = 0; i < params.size(); ++i) out.push_back(pg_param_text(params[i], i));
  return out;
}

bool reset_session(PGconn* conn) {
  Result r(PQexec(conn, "DISCARD ALL"));
  return PQresultStatus(r.get()) == PGRES_COMMAND_OK;
}

// Ends a transaction a failed call left open. False: the connection cannot be reused.
bool end_transaction(PGconn* conn) {
  switch (PQtransactionStatus(conn)) {
    case PQTRANS_IDLE:
      return true;
    case PQTRANS_INTRANS:
    case PQTRANS_INERROR: {
      Result r(PQexec(conn, "ROLLBACK"));
      return PQresultStatus(r.get()) == PGRES_COMMAND_OK &&
             PQtransactionStatus(conn) == PQTRANS_IDLE;
    }
    default:
      return false;
  }
}

// The first line of a connection failure, without the libpq prefix noise.
std::string first_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

PostgresBackend::PostgresBackend(Host host, PostgresOptions options)
    : host_(host), options_(std::move(options)) {}

PostgresBackend::~PostgresBackend() {
  for (PGconn* c : idle_) PQfinish(c);
}

bool PostgresBackend::schema_allowed(const std::string& schema) const {
  if (options_.schemas.empty()) return true;
  for (const auto& s : options_.schemas)
    if (s == schema) return true;
  return false;
}

PGconn* PostgresBackend::connect(Context& ctx) {
  std::vector<std::pair<std::string, std::string>> settings = options_.connection;
  bool has_application_name = false;
  for (const auto& [k, _] : settings) has_application_name |= k == "application_name";
  if (!has_application_name) settings.emplace_back("application_name", "keyhold-sql");
  std::string session = "-c DateStyle=ISO";
  if (options_.read_only) session += " -c default_transaction_read_only=on";
  settings.emplace_back("options", session);

  PGconn* conn = nullptr;
  std::string error;
  // Builds the keyword arrays around an optional credential and connects. `secret` is
  // only borrowed for this call; libpq copies what it needs.
  const auto attempt = [&](const char* secret_keyword, const char* secret) {
    std::vector<const char*> keys;
    std::vector<const char*> values;
    if (secret_keyword != nullptr && std::strcmp(secret_keyword, "dbname") == 0) {
      keys.push_back("dbname");  // first, so the URL is expanded and the options override it
      values.push_back(secret);
    }
    for (const auto& [k, v] : settings) {
      keys.push_back(k.c_str());
      values.push_back(v.c_str());
    }
    if (secret_keyword != nullptr && std::strcmp(secret_keyword, "password") == 0) {
      keys.push_back("password");
      values.push_back(secret);
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    conn = PQconnectdbParams(keys.data(), values.data(), 1);
    if (conn == nullptr) {
      error = "out of memory";
    } else if (PQstatus(conn) != CONNECTION_OK) {
      error = first_line(PQerrorMessage(conn));
      PQfinish(conn);
      conn = nullptr;
    }
  };

  bool revealed = false;
  for (const char* alias : {"url", "password"}) {
    sdk::SecretHandle handle;  // released at the end of this iteration, or by a throw
    const int32_t status = handle.acquire(ctx, alias);
    if (status == KH_NOT_GRANTED || status == KH_UNSUPPORTED || status == KH_NOT_FOUND) continue;
    if (status != KH_OK)
      throw SqlError(std::string("cannot use the secret alias `") + alias + "` (host status " +
                     std::to_string(status) +
                     "); check the instance's "
                     "[secrets] and `keyhold vault grant`");
    const int32_t reveal_status =
        ctx.reveal_secret(handle.get(), [&](std::string_view value) noexcept {
          // Runs inside the host's reveal call: nothing may throw across it.
          try {
            // A NUL-terminated copy for libpq, wiped as soon as the connect call returns.
            const std::size_t size = value.size() + 1;
            std::unique_ptr<char[]> buffer(new char[size]);
            struct Wipe {
              char* data;
              std::size_t size;
              ~Wipe() { explicit_bzero(data, size); }
            } wipe{buffer.get(), size};
            std::memcpy(buffer.get(), value.data(), value.size());
            buffer[value.size()] = '\0';
            attempt(std::strcmp(alias, "url") == 0 ? "dbname" : "password", buffer.get());
            if (!error.empty()) error = scrub_secret(error, value);
          } catch (...) {
            if (conn != nullptr) PQfinish(conn);
            conn = nullptr;
            error = "out of memory while connecting";
          }
        });
    handle.release();
    if (reveal_status != KH_OK)
      throw SqlError(std::string("cannot reveal the secret alias `") + alias + "` (host status " +
                     std::to_string(reveal_status) +
                     "); grant it with `keyhold vault grant "
                     "<instance> <secret> --ops reveal`");
    revealed = true;
    break;
  }
  if (!revealed) attempt(nullptr, nullptr);
  if (conn == nullptr)
    throw SqlError("cannot connect to PostgreSQL: " + error +
                   " (check host, port, dbname, user and the password secret; is the server up?)");
  if (options_.read_only) check_role(conn);
  return conn;
}

namespace {

// What the connected role can reach, by itself or through a role it may SET ROLE to
// (pg_has_role MEMBER): each column a comma-separated list of role or schema names.
constexpr const char* kRoleCheckSql = R"(
WITH me AS (SELECT oid FROM pg_roles WHERE rolname = current_user),
reach AS (SELECT r.* FROM pg_roles r, me WHERE pg_has_role(me.oid, r.oid, 'MEMBER'))
SELECT current_user::text,
  coalesce((SELECT string_agg(rolname::text, ', ' ORDER BY rolname) FROM reach WHERE rolsuper), ''),
  coalesce((SELECT string_agg(rolname::text, ', ' ORDER BY rolname) FROM reach WHERE rolreplication), ''),
  coalesce((SELECT string_agg(rolname::text, ', ' ORDER BY rolname) FROM reach WHERE rolbypassrls), ''),
  coalesce((SELECT string_agg(rolname::text, ', ' ORDER BY rolname) FROM reach WHERE rolname IN
    ('pg_execute_server_program', 'pg_write_server_files', 'pg_read_server_files',
     'pg_signal_backend')), ''),
  coalesce((SELECT string_agg(n.nspname::text, ', ' ORDER BY n.nspname) FROM pg_namespace n, me
    WHERE n.nspname IN (SELECT json_array_elements_text($1::json))
      AND pg_has_role(me.oid, n.nspowner, 'MEMBER')), ''),
  -- With an allowlist: what the role reaches outside it, where no plan shows it.
  coalesce((SELECT string_agg(n.nspname::text, ', ' ORDER BY n.nspname) FROM pg_namespace n, me
    WHERE json_array_length($1::json) > 0
      AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
      AND n.nspname NOT IN (SELECT json_array_elements_text($1::json))
      AND has_schema_privilege(me.oid, n.oid, 'USAGE')), ''),
  (SELECT count(*) FROM pg_largeobject_metadata m, me
    WHERE json_array_length($1::json) > 0
      AND (current_setting('lo_compat_privileges')::bool
        OR pg_has_role(me.oid, m.lomowner, 'MEMBER')
        OR EXISTS (SELECT 1 FROM aclexplode(m.lomacl) a WHERE a.privilege_type = 'SELECT'
                   AND (a.grantee = 0 OR pg_has_role(me.oid, a.grantee, 'MEMBER')))))::text,
  coalesce((SELECT string_agg(DISTINCT n.nspname || '.' || p.proname, ', ') FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace, me
    WHERE json_array_length($1::json) > 0 AND p.proname LIKE 'dblink%'
      AND has_schema_privilege(me.oid, n.oid, 'USAGE')
      AND has_function_privilege(me.oid, p.oid, 'EXECUTE')), '')
)";

// Why each predefined role defeats a read-only transaction.
std::string predefined_role_risk(std::string_view role) {
  if (role == "pg_execute_server_program")
    return "pg_execute_server_program (COPY ... TO PROGRAM runs shell commands on the server)";
  if (role == "pg_write_server_files")
    return "pg_write_server_files (COPY ... TO a file writes server files)";
  if (role == "pg_read_server_files")
    return "pg_read_server_files (COPY ... FROM a file and pg_read_file read any server file)";
  if (role == "pg_signal_backend")
    return "pg_signal_backend (pg_terminate_backend ends other roles' sessions)";
  return std::string(role);
}

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < list.size()) {
    const std::size_t end = list.find(", ", start);
    out.push_back(list.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 2;
  }
  return out;
}

}  // namespace

void PostgresBackend::check_role(PGconn* conn) {
  const std::string schemas = json(options_.schemas).dump();
  const char* values[] = {schemas.c_str()};
  Result r(PQexecParams(conn, kRoleCheckSql, 1, nullptr, values, nullptr, nullptr, 0));
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) {
    const std::string why = describe_error(r.get(), conn);
    PQfinish(conn);
    throw SqlError(
        "refused: cannot check what the PostgreSQL role may do outside a read-only "
        "transaction: " +
        why);
  }
  const auto column = [&](int c) { return std::string(PQgetvalue(r.get(), 0, c)); };
  const std::string role = column(0);
  std::vector<std::string> findings;
  // A power the role has itself, or one it may SET ROLE to.
  const auto via = [&](const std::string& roles) {
    for (const auto& name : split_list(roles))
      if (name == role) return std::string();
    return " (through SET ROLE " + roles + ")";
  };
  const bool superuser = !column(1).empty();
  if (const auto s = column(1); !s.empty())
    findings.push_back("is a superuser" + via(s) +
                       ": it may run programs, read and write server files and change "
                       "anything, whatever the transaction mode");
  if (const auto s = column(2); !s.empty())
    findings.push_back("has REPLICATION" + via(s) +
                       ": replication slots it creates survive the rollback");
  if (const auto s = column(3); !s.empty())
    findings.push_back("has BYPASSRLS" + via(s) + ": row-level security does not bind it");
  if (const auto s = column(4); !s.empty() && !superuser)
    for (const auto& predefined : split_list(s))
      findings.push_back("is a member of " + predefined_role_risk(predefined));
  if (const auto s = column(5); !s.empty())
    findings.push_back("owns the allowlisted schema(s) " + s +
                       ": an owner is not bound by the privileges the `schemas` allowlist "
                       "relies on (it may grant itself any of them)");
  // The plan check sees relations the statement scans, not SQL run by a function
  // (query_to_xml, table_to_xml, a function body), large objects or dblink: for those the
  // role's privileges must stop at the allowlist.
  if (const auto s = column(6); !s.empty())
    findings.push_back("may use schema(s) " + s +
                       " outside the `schemas` allowlist: functions that run SQL text "
                       "(query_to_xml, table_to_xml, any function body) read them unseen by "
                       "the plan check; revoke USAGE (for public also from PUBLIC) or add "
                       "them to `schemas`");
  if (const auto s = column(7); !s.empty() && s != "0")
    findings.push_back("may read " + s +
                       " large object(s), which lie outside every schema (lo_get, "
                       "lo_export): revoke SELECT on them or change their owner");
  if (const auto s = column(8); !s.empty())
    findings.push_back("may call " + s +
                       " (dblink runs SQL on any database it can log in to): revoke EXECUTE "
                       "or drop the extension");
  if (findings.empty()) return;
  std::string list;
  for (const auto& f : findings) list += (list.empty() ? "" : "; ") + f;
  if (options_.allow_privileged_role) {
    host_.log(KH_LOG_WARNING,
              "sql: SECURITY WARNING: serving a read-only instance as PostgreSQL role \"" + role +
                  "\", which " + list +
                  ". read_only does not hold against this role; allow_privileged_role = true "
                  "accepts that. Remove the option and connect as a least-privilege role "
                  "(connectors/sql/README.md).");
    return;
  }
  PQfinish(conn);
  throw SqlError(
      "refused: this read-only instance connects as PostgreSQL role \"" + role + "\", which " +
      list +
      ". A statement could act outside the read-only transaction or the `schemas` "
      "allowlist. Connect as a role "
      "without these powers (connectors/sql/README.md has the SQL to create one), or set "
      "allow_privileged_role = true to accept the risk (logged at every connection).");
}

PGconn* PostgresBackend::take(Context& ctx) {
  {
    std::lock_guard lock(pool_mutex_);
    while (!idle_.empty()) {
      PGconn* c = idle_.back();
      idle_.pop_back();
      if (PQstatus(c) == CONNECTION_OK) return c;
      PQfinish(c);
    }
  }
  return connect(ctx);
}

void PostgresBackend::drop_idle() {
  std::vector<PGconn*> idle;
  {
    std::lock_guard lock(pool_mutex_);
    idle.swap(idle_);
  }
  for (PGconn* c : idle) PQfinish(c);
}

void PostgresBackend::give_back(PGconn* conn, bool session_reset) {
  if (conn == nullptr) return;
  // A call's pipeline is read to its end before the call returns; one that was not (a
  // bug, or results out of step) cannot be reused.
  const bool usable = PQstatus(conn) == CONNECTION_OK &&
                      (PQpipelineStatus(conn) == PQ_PIPELINE_OFF || PQexitPipelineMode(conn) == 1);
  // The ROLLBACK that ends every call leaves what is not transactional: advisory locks,
  // prepared statements, WITH HOLD cursors, session settings made outside a transaction.
  // DISCARD ALL clears them (the settings return to the connection's startup values) and
  // releases the locks now rather than when the connection is next used. A call's own
  // pipeline ends with it; after a failure it may not have run.
  if (usable && end_transaction(conn) && (session_reset || reset_session(conn))) {
    std::lock_guard lock(pool_mutex_);
    if (idle_.size() < static_cast<std::size_t>(options_.pool_size)) {
      idle_.push_back(conn);
      return;
    }
  }
  PQfinish(conn);
}

// A read is one pipeline, so it costs one round trip to the server and one write:
//   BEGIN READ ONLY; set_config(statement_timeout); statement; ROLLBACK; DISCARD ALL | SYNC
// A failure skips the rest of the pipeline, so the statement never runs when BEGIN or the
// timeout failed; after a failed statement give_back() sends the ROLLBACK and DISCARD ALL
// that were skipped (two more round trips, on errors only). With a `schemas` allowlist
// the EXPLAIN check goes first, in its own segment, and the statement waits for its verdict.
// A write pipelines only BEGIN; set_config | SYNC, then leaves pipeline mode: its statement
// is sent once BEGIN is known to have worked (a connection found dead then, after a server
// restart, is retried, which is safe only while the statement was never sent), COPY FROM
// STDIN must be answered before anything else is sent, and COMMIT or ROLLBACK is chosen on
// the statement's outcome, so a write reported failed never committed.
QueryResult PostgresBackend::run_once(PGconn* conn, Context& ctx, const std::string& sql,
                                      const json& params, const CallLimits& limits, Mode mode,
                                      long long* rows_affected, const std::string* allowlist_check,
                                      bool* connection_lost, bool* user_statement_sent,
                                      bool* session_reset) {
  const auto hard_deadline = Clock::now() + limits.statement_timeout + std::chrono::seconds(2);
  StatementRunner runner(conn, &ctx, hard_deadline);
  const auto params_text = to_params(params);
  // The connection's own message, never anything of ours: it carries no secret.
  const auto gone = [&]() -> SqlError {
    *connection_lost = true;
    return SqlError("PostgreSQL: connection lost: " + first_line(PQerrorMessage(conn)));
  };
  const auto check_sent = [&](bool ok) {
    if (!ok) throw gone();
  };
  // Reads a statement's outcome; a lost connection ends the call (nothing more can be read).
  const auto read = [&](std::size_t row_limit, bool keep_rows, ResultBudget* budget = nullptr,
                        bool may_cancel = true) {
    Outcome o = runner.read(row_limit, keep_rows, budget, may_cancel);
    if (o.connection_lost) {
      *connection_lost = true;
      throw SqlError(o.error);
    }
    return o;
  };
  const auto read_sync = [&] {
    if (!runner.read_sync()) throw gone();
  };
  const bool read_only = mode == Mode::kReadOnly;
  // What ends the transaction and resets the session, ending the pipeline.
  const auto send_reset = [&] {
    check_sent(runner.send("ROLLBACK"));
    check_sent(runner.send("DISCARD ALL"));
    check_sent(runner.sync());
  };
  // A read's statement, then the reset.
  const auto send_statement = [&] {
    *user_statement_sent = true;
    check_sent(runner.send(sql, params_text));
    send_reset();
  };
  // A cancelled request is told so, whatever the server said to the cancel.
  const auto throw_failure = [&](const Outcome& o) {
    if (o.cancelled || ctx.cancelled()) throw Cancelled();
    throw SqlError(o.error);
  };
  // After a refusal or a cancel before the statement: ends the transaction, resets.
  const auto abandon = [&] {
    send_reset();
    read(1, false);
    const Outcome discard = read(1, false);
    read_sync();
    *session_reset = !discard.failed;
  };

  if (PQenterPipelineMode(conn) != 1) throw gone();
  check_sent(runner.send(read_only ? "BEGIN READ ONLY" : "BEGIN"));
  check_sent(runner.send("SELECT set_config('statement_timeout', $1, true)",
                         {std::to_string(limits.statement_timeout.count())}));
  if (allowlist_check != nullptr)
    // Same transaction, snapshot rules, search_path and params as the statement itself.
    check_sent(runner.send("EXPLAIN (VERBOSE, FORMAT JSON) " + *allowlist_check, params_text));
  const bool statement_now = read_only && allowlist_check == nullptr;
  if (statement_now)
    send_statement();
  else
    check_sent(runner.sync());

  const Outcome begin = read(1, false);
  const Outcome timeout = read(1, false);
  if (!statement_now) {
    std::optional<Outcome> plan;
    if (allowlist_check != nullptr) plan = read(1, true);
    read_sync();
    if (const Outcome* failed = begin.failed ? &begin : timeout.failed ? &timeout : nullptr) {
      abandon();
      throw_failure(*failed);
    }
    if (plan) {
      if (plan->cancelled || (ctx.cancelled() && plan->failed)) {
        abandon();
        throw Cancelled();
      }
      std::optional<std::string> refusal;
      if (plan->failed) {
        refusal = plan->error;
        if (plan->sqlstate == "42601")
          *refusal +=
              "\n(this instance has a `schemas` allowlist, so each statement is first checked "
              "with EXPLAIN, which accepts SELECT, TABLE, VALUES, WITH ... SELECT and EXECUTE; "
              "other commands such as SHOW, SET, CALL, DO or COPY are refused)";
      } else if (plan->rows.rows.size() != 1 || !plan->rows.rows[0][0].is_array() ||
                 plan->rows.rows[0][0].empty()) {
        refusal = "refused: could not read the plan to check the `schemas` allowlist";
      } else if (const auto outside =
                     first_disallowed_relation(plan->rows.rows[0][0], options_.schemas)) {
        refusal = allowlist_refusal(*outside, options_.schemas);
      }
      if (refusal) {
        abandon();
        throw SqlError(*refusal);
      }
    }
    if (read_only) send_statement();
  }

  ResultBudget budget(limits.max_result_bytes);
  Outcome o;
  Outcome end;  // ROLLBACK or COMMIT
  if (read_only) {
    o = read(limits.row_limit, true, &budget);
    end = read(1, false);  // its failure is give_back's to mend
    const Outcome discard = read(1, false);
    read_sync();
    *session_reset = !discard.failed;
    if (PQexitPipelineMode(conn) != 1) throw gone();
  } else {
    // A cancel that came while BEGIN ran but did not fail it: the write is not sent.
    if (ctx.cancelled()) {
      abandon();
      throw Cancelled();
    }
    if (PQexitPipelineMode(conn) != 1) throw gone();
    *user_statement_sent = true;
    check_sent(runner.send(sql, params_text));
    o = read(limits.row_limit, true, &budget, false);
    const bool commit = !o.failed;
    check_sent(runner.send(commit ? "COMMIT" : "ROLLBACK"));
    try {
      end = read(1, false);
    } catch (const SqlError&) {
      if (!commit) throw;
      throw SqlError(
          "PostgreSQL: the connection was lost while the write was committing; it may or may "
          "not have been committed (check before running it again)");
    }
  }
  o.rows.result_bytes = budget.used();

  // BEGIN and the timeout failed only before the statement when they shared its segment.
  for (const Outcome* setup : {&begin, &timeout})
    if (setup->failed) throw_failure(*setup);
  // A write that committed is reported as done, even when a cancel came too late to stop it.
  const bool committed = !read_only && !o.failed && !end.failed;
  if (!committed && (o.cancelled || (ctx.cancelled() && o.failed))) throw Cancelled();
  if (o.failed) {
    if (o.sqlstate == "57014" && !ctx.cancelled())
      throw SqlError(o.error + " (statement_timeout is " +
                     std::to_string(limits.statement_timeout.count()) + " ms)");
    throw SqlError(o.error);
  }
  if (!read_only && end.failed) throw SqlError(end.error);
  if (rows_affected != nullptr) *rows_affected = o.affected < 0 ? 0 : o.affected;
  for (auto& c : o.rows.columns)
    c.type = type_name(conn, static_cast<unsigned>(std::stoul(c.type)));
  return std::move(o.rows);
}

QueryResult PostgresBackend::run(Context& ctx, const std::string& sql, const json& params,
                                 const CallLimits& limits, Mode mode, long long* rows_affected,
                                 const std::string* allowlist_check) {
  for (int attempt = 0;; ++attempt) {
    // The retry connects afresh: after a server restart every pooled connection is dead,
    // and another one from the pool would fail the same way.
    PGconn* conn = attempt == 0 ? take(ctx) : connect(ctx);
    bool connection_lost = false;
    bool user_statement_sent = false;
    bool session_reset = false;
    try {
      QueryResult r = run_once(conn, ctx, sql, params, limits, mode, rows_affected, allowlist_check,
                               &connection_lost, &user_statement_sent, &session_reset);
      give_back(conn, session_reset);
      return r;
    } catch (...) {
      const bool lost = connection_lost || PQstatus(conn) == CONNECTION_BAD;
      if (lost) {
        PQfinish(conn);
        drop_idle();  // they went to the same server: most likely lost too
      } else {
        give_back(conn, session_reset);
      }
      // A connection that broke (server restart) is replaced once: always for read-only
      // statements, and for writes only when the statement itself was never sent.
      const bool retry = lost && attempt == 0 &&
                         (mode == Mode::kReadOnly || !user_statement_sent) && !ctx.cancelled();
      if (!retry) throw;
      host_.log(KH_LOG_INFO, "sql: the PostgreSQL connection was lost; reconnecting");
    }
  }
}

std::string PostgresBackend::type_name(PGconn* conn, unsigned oid) {
  std::string name = pg_builtin_type_name(oid);
  if (!name.empty()) return name;
  {
    std::lock_guard lock(types_mutex_);
    if (const auto it = type_names_.find(oid); it != type_names_.end()) return it->second;
  }
  const std::string oid_text = std::to_string(oid);
  const char* values[] = {oid_text.c_str()};
  Result r(PQexecParams(conn, "SELECT format_type($1::oid, NULL)", 1, nullptr, values, nullptr,
                        nullptr, 0));
  if (PQresultStatus(r.get()) == PGRES_TUPLES_OK && PQntuples(r.get()) == 1)
    name = PQgetvalue(r.get(), 0, 0);
  else
    name = "oid " + oid_text;
  std::lock_guard lock(types_mutex_);
  type_names_[oid] = name;
  return name;
}

std::vector<std::string> PostgresBackend::list_schemas(Context& ctx) {
  const auto r =
      run(ctx,
          "SELECT nspname::text FROM pg_namespace WHERE nspname !~ '^pg_' AND "
          "nspname <> 'information_schema' ORDER BY 1",
          json::array(), CallLimits{100000, std::chrono::seconds(15)}, Mode::kReadOnly, nullptr);
  std::vector<std::string> out;
  for (const auto& row : r.rows)
    if (schema_allowed(row[0].get<std::string>())) out.push_back(row[0].get<std::string>());
  return out;
}

json PostgresBackend::list_tables(Context& ctx, const std::string& schema) {
  const auto r = run(ctx,
                     "SELECT n.nspname::text, c.relname::text, CASE c.relkind WHEN 'v' THEN "
                     "'view' WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' "
                     "ELSE 'table' END FROM pg_class c JOIN pg_namespace n ON n.oid = "
                     "c.relnamespace WHERE c.relkind IN ('r','p','v','m','f') AND n.nspname !~ "
                     "'^pg_' AND n.nspname <> 'information_schema' AND ($1 = '' OR n.nspname = "
                     "$1) ORDER BY 1, 2",
                     json::array({schema}), CallLimits{100000, std::chrono::seconds(15)},
                     Mode::kReadOnly, nullptr);
  json out = json::array();
  for (const auto& row : r.rows)
    if (schema_allowed(row[0].get<std::string>()))
      out.push_back({{"schema", row[0]}, {"name", row[1]}, {"type", row[2]}});
  return out;
}

json PostgresBackend::describe_table(Context& ctx, const std::string& schema,
                                     const std::string& table) {
  if (!schema_allowed(schema))
    throw SqlError("schema " + schema + " is not offered by this instance");
  const CallLimits internal{100000, std::chrono::seconds(15)};
  const auto rel = run(ctx,
                       "SELECT c.oid::int8, CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN "
                       "'materialized view' WHEN 'f' THEN 'foreign table' ELSE 'table' END FROM "
                       "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname "
                       "= $1 AND c.relname = $2 AND c.relkind IN ('r','p','v','m','f')",
                       json::array({schema, table}), internal, Mode::kReadOnly, nullptr);
  if (rel.rows.empty()) throw SqlError("no such table: " + schema + "." + table);
  const std::string oid = std::to_string(rel.rows[0][0].get<long long>());

  json columns = json::array();
  const auto cols = run(ctx,
                        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), NOT "
                        "a.attnotnull, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a LEFT "
                        "JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE "
                        "a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY "
                        "a.attnum",
                        json::array({oid}), internal, Mode::kReadOnly, nullptr);
  for (const auto& c : cols.rows)
    columns.push_back({{"name", c[0]}, {"type", c[1]}, {"nullable", c[2]}, {"default", c[3]}});

  const auto pk = run(ctx,
                      "SELECT ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH "
                      "ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = con.conrelid "
                      "AND a.attnum = k.attnum ORDER BY k.ord) FROM pg_constraint con WHERE "
                      "con.conrelid = $1::oid AND con.contype = 'p'",
                      json::array({oid}), internal, Mode::kReadOnly, nullptr);
  const json primary_key = pk.rows.empty() ? json::array() : pk.rows[0][0];

  json foreign_keys = json::array();
  const auto fks =
      run(ctx,
          "SELECT con.conname::text, ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH "
          "ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n "
          "ORDER BY k.o), nf.nspname::text, cf.relname::text, ARRAY(SELECT a.attname::text FROM "
          "unnest(con.confkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = "
          "con.confrelid AND a.attnum = k.n ORDER BY k.o), con.confupdtype::text, "
          "con.confdeltype::text FROM pg_constraint con JOIN pg_class cf ON cf.oid = con.confrelid "
          "JOIN pg_namespace nf ON nf.oid = cf.relnamespace WHERE con.conrelid = $1::oid AND "
          "con.contype = 'f' ORDER BY 1",
          json::array({oid}), internal, Mode::kReadOnly, nullptr);
  const auto action = [](const json& code) {
    const std::string c = code.get<std::string>();
    return c == "c"   ? "CASCADE"
           : c == "n" ? "SET NULL"
           : c == "d" ? "SET DEFAULT"
           : c == "r" ? "RESTRICT"
                      : "NO ACTION";
  };
  for (const auto& f : fks.rows)
    foreign_keys.push_back({{"name", f[0]},
                            {"columns", f[1]},
                            {"references_schema", f[2]},
                            {"references_table", f[3]},
                            {"references_columns", f[4]},
                            {"on_update", action(f[5])},
                            {"on_delete", action(f[6])}});

  json indexes = json::array();
  const auto idx = run(ctx,
                       "SELECT ic.relname::text, i.indisunique, i.indisprimary, ARRAY(SELECT "
                       "a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o) "
                       "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY "
                       "k.o), pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class ic ON "
                       "ic.oid = i.indexrelid WHERE i.indrelid = $1::oid ORDER BY 1",
                       json::array({oid}), internal, Mode::kReadOnly, nullptr);
  for (const auto& i : idx.rows)
    indexes.push_back({{"name", i[0]},
                       {"unique", i[1]},
                       {"primary", i[2]},
                       {"columns", i[3]},
                       {"definition", i[4]}});
  return {{"schema", schema},           {"name", table},
          {"type", rel.rows[0][1]},     {"columns", columns},
          {"primary_key", primary_key}, {"foreign_keys", foreign_keys},
          {"indexes", indexes}};
}

QueryResult PostgresBackend::query(Context& ctx, const std::string& sql, const json& params,
                                   const CallLimits& limits) {
  return run(ctx, sql, params, limits, Mode::kReadOnly, nullptr,
             options_.schemas.empty() ? nullptr : &sql);
}

std::string PostgresBackend::explain(Context& ctx, const std::string& sql, const json& params,
                                     const CallLimits& limits) {
  CallLimits plan_limits = limits;
  plan_limits.row_limit = 100000;
  // EXPLAIN without ANALYZE plans the statement and runs nothing; one statement still.
  const auto r = run(ctx, "EXPLAIN " + sql, params, plan_limits, Mode::kReadOnly, nullptr,
                     options_.schemas.empty() ? nullptr : &sql);
  std::string out;
  for (const auto& row : r.rows) out += cell_text(row[0]) + "\n";
  return out;
}

QueryResult PostgresBackend::execute(Context& ctx, const std::string& sql, const json& params,
                                     const CallLimits& limits, long long* rows_affected) {
  if (options_.read_only) throw SqlError("refused: this instance is read-only");
  return run(ctx, sql, params, limits, Mode::kWrite, rows_affected);
}

}  // namespace keyhold::sql
