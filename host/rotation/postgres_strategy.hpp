#pragma once
// `postgres`: a new random password for a PostgreSQL role. apply sets it with
// ALTER ROLE ... PASSWORD through an administrator's login whose password is itself a vault
// secret (policy.admin_secret, read as the instance `rotation`, which needs a reveal grant
// on it); the password travels to the server only as a SCRAM-SHA-256 verifier computed
// here (PQencryptPasswordConn), so it never reaches the server log. test logs in as the
// role with the value. Options (JSON): host, port, dbname (postgres), role (required),
// admin_user (postgres), sslmode (prefer), connect_timeout (10), length (32), alphabet
// (alnum).
#include <cstddef>
#include <string>

#include "rotation/rotation_strategy.hpp"

namespace keyhold::rotation {

struct PostgresOptions {
  std::string host = "localhost";
  std::string port = "5432";
  std::string dbname = "postgres";
  std::string role;
  std::string admin_user = "postgres";
  std::string sslmode = "prefer";
  std::string connect_timeout = "10";
  std::size_t length = 32;
  std::string alphabet = "alnum";
};

// Parses the policy's options; kInvalidArgument naming the bad option.
Result<PostgresOptions> parse_postgres_options(const std::string& options_json);

class PostgresStrategy : public RotationStrategy {
 public:
  // admin_secret names the vault secret with admin_user's password; vault must outlive this.
  PostgresStrategy(PostgresOptions options, std::string admin_secret, vault::Vault& vault)
      : options_(std::move(options)), admin_secret_(std::move(admin_secret)), vault_(vault) {}
  Result<vault::SecretBuffer> create_value() override;
  Status apply(std::span<const std::uint8_t> value) override;
  Status test(std::span<const std::uint8_t> value) override;

 private:
  PostgresOptions options_;
  std::string admin_secret_;
  vault::Vault& vault_;
};

}  // namespace keyhold::rotation
