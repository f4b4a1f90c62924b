#include "rotation/postgres_strategy.hpp"

#include <libpq-fe.h>
#include <sodium.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "rotation/random_value.hpp"

namespace keyhold::rotation {
namespace {

// The instance name admin secrets are read as: `keyhold vault grant rotation NAME --ops reveal`.
constexpr const char* kRotationInstance = "rotation";

// The audit entry of one use of the admin secret.
vault::AuditEntry admin_use(const std::string& secret, const char* outcome) {
  vault::AuditEntry entry;
  entry.actor = "keyhold:rotation";
  entry.action = "rotation.admin-use";
  entry.secret = secret;
  entry.instance = kRotationInstance;
  entry.operation = "reveal";
  entry.outcome = outcome;
  return entry;
}

struct ConnCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using Connection = std::unique_ptr<PGconn, ConnCloser>;

// The first line of libpq's message (names and reasons only: libpq never echoes a password).
std::string pq_error(PGconn* conn) {
  std::string text = conn != nullptr ? PQerrorMessage(conn) : "out of memory";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (auto& c : text) {
    if (c == '\n') c = ' ';
  }
  return text;
}

// A NUL-terminated copy of value in guarded memory, for libpq's C strings.
Result<vault::SecretBuffer> c_string(std::span<const std::uint8_t> value) {
  if (std::memchr(value.data(), 0, value.size()) != nullptr) {
    return invalid_argument("a PostgreSQL password cannot contain a NUL byte");
  }
  vault::SecretBuffer out(value.size() + 1);
  std::memcpy(out.data(), value.data(), value.size());
  return out;
}

// Logs in as user with password; the connection on success.
Result<Connection> login(const PostgresOptions& o, const std::string& user,
                         std::span<const std::uint8_t> password) {
  auto secret = c_string(password);
  if (!secret.is_ok()) return secret.status();
  const char* keys[] = {"host",     "port",    "dbname",          "user",
                        "password", "sslmode", "connect_timeout", "application_name",
                        nullptr};
  const char* values[] = {o.host.c_str(),
                          o.port.c_str(),
                          o.dbname.c_str(),
                          user.c_str(),
                          reinterpret_cast<const char*>(secret->data()),
                          o.sslmode.c_str(),
                          o.connect_timeout.c_str(),
                          "keyhold-rotation",
                          nullptr};
  Connection conn(PQconnectdbParams(keys, values, 0));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    return unavailable("cannot log in to PostgreSQL at " + o.host + ":" + o.port + " as '" + user +
                       "': " + pq_error(conn.get()));
  }
  return conn;
}

Result<std::string> string_option(const nlohmann::json& j, const char* key, std::string fallback) {
  if (!j.contains(key)) return fallback;
  if (j[key].is_string()) return j[key].get<std::string>();
  if (j[key].is_number_integer()) return std::to_string(j[key].get<long long>());
  return invalid_argument(std::string("postgres option '") + key + "' must be a string");
}

}  // namespace

Result<PostgresOptions> parse_postgres_options(const std::string& options_json) {
  const auto j = nlohmann::json::parse(options_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid_argument("options are not a JSON object");
  PostgresOptions o;
  for (const auto& [key, field] :
       std::vector<std::pair<const char*, std::string*>>{{"host", &o.host},
                                                         {"port", &o.port},
                                                         {"dbname", &o.dbname},
                                                         {"role", &o.role},
                                                         {"admin_user", &o.admin_user},
                                                         {"sslmode", &o.sslmode},
                                                         {"connect_timeout", &o.connect_timeout},
                                                         {"alphabet", &o.alphabet}}) {
    auto value = string_option(j, key, *field);
    if (!value.is_ok()) return value.status();
    *field = value.value();
  }
  if (j.contains("length")) {
    if (!j["length"].is_number_unsigned()) return invalid_argument("length must be a number");
    o.length = j["length"].get<std::size_t>();
  }
  if (o.role.empty())
    return invalid_argument("the postgres strategy needs --role (the role to rotate)");
  if (alphabet_characters(o.alphabet).empty()) {
    return invalid_argument("unknown alphabet '" + o.alphabet + "'");
  }
  return o;
}

Result<vault::SecretBuffer> PostgresStrategy::create_value() {
  return random_value(options_.length, options_.alphabet);
}

Status PostgresStrategy::apply(std::span<const std::uint8_t> value) {
  const auto now = vault::clock_now();
  if (auto granted =
          vault_.check_grant(kRotationInstance, admin_secret_, vault::Operation::kReveal, now);
      !granted.is_ok()) {
    (void)vault_.append_audit(admin_use(admin_secret_, "denied"));
    return Status(ErrorCode::kPermissionDenied,
                  "the admin secret '" + admin_secret_ +
                      "' is not granted to the rotation; grant it with `keyhold vault grant " +
                      kRotationInstance + " " + admin_secret_ + " --ops reveal`");
  }
  auto admin_password = vault_.read_secret(admin_secret_);
  if (!admin_password.is_ok()) {
    return Status(admin_password.status().code(),
                  "cannot read the admin secret: " + admin_password.status().message());
  }
  if (auto audited = vault_.append_audit(admin_use(admin_secret_, "ok")); !audited.is_ok()) {
    return audited.status();  // no audit, no use
  }
  auto admin = login(options_, options_.admin_user, admin_password->bytes());
  if (!admin.is_ok()) return admin.status();
  PGconn* conn = admin->get();
  auto password = c_string(value);
  if (!password.is_ok()) return password.status();
  char* verifier = PQencryptPasswordConn(conn, reinterpret_cast<const char*>(password->data()),
                                         options_.role.c_str(), "scram-sha-256");
  if (verifier == nullptr) {
    return internal_error("cannot compute a SCRAM verifier: " + pq_error(conn));
  }
  char* role = PQescapeIdentifier(conn, options_.role.c_str(), options_.role.size());
  char* literal = PQescapeLiteral(conn, verifier, std::strlen(verifier));
  sodium_memzero(verifier, std::strlen(verifier));
  PQfreemem(verifier);
  if (role == nullptr || literal == nullptr) {
    PQfreemem(role);
    PQfreemem(literal);
    return internal_error("cannot quote the ALTER ROLE statement: " + pq_error(conn));
  }
  std::string sql = std::string("ALTER ROLE ") + role + " PASSWORD " + literal;
  PQfreemem(role);
  sodium_memzero(literal, std::strlen(literal));
  PQfreemem(literal);
  PGresult* result = PQexec(conn, sql.c_str());
  sodium_memzero(sql.data(), sql.size());
  const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
  std::string error = ok ? std::string() : pq_error(conn);
  PQclear(result);
  if (!ok) {
    return unavailable("ALTER ROLE " + options_.role + " failed as '" + options_.admin_user +
                       "': " + error);
  }
  return Status::ok();
}

Status PostgresStrategy::test(std::span<const std::uint8_t> value) {
  auto conn = login(options_, options_.role, value);
  if (!conn.is_ok()) return conn.status();
  PGresult* result = PQexec(conn->get(), "SELECT 1");
  const bool ok = PQresultStatus(result) == PGRES_TUPLES_OK;
  PQclear(result);
  if (!ok)
    return unavailable("a query as '" + options_.role + "' failed: " + pq_error(conn->get()));
  return Status::ok();
}

}  // namespace keyhold::rotation
