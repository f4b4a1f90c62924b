// Grants: deny by default, patterns, operations, expiry, tamper-evidence.
#include "vault_test_support.hpp"

namespace keyhold::vault::testing {
namespace {

constexpr auto kReveal = Operation::kReveal;
constexpr auto kSign = Operation::kSign;
constexpr auto kEnv = Operation::kEnv;

TEST_CASE("grants deny by default and allow exactly what was granted", "[vault][grants]") {
  ScratchDir dir;
  Vault vault = make_keyfile_vault(dir);
  const UnixSeconds now = 1'000'000;
  CHECK(vault.check_grant("pg", "prod/db", kReveal, now).code() == ErrorCode::kPermissionDenied);

  REQUIRE(vault.grant("pg", "prod/db", parse_operations("reveal,env"), std::nullopt, test_actor())
              .is_ok());
  CHECK(vault.check_grant("pg", "prod/db", kReveal, now).is_ok());
  CHECK(vault.check_grant("pg", "prod/db", kEnv, now).is_ok());
  CHECK(vault.check_grant("pg", "prod/db", kSign, now).code() == ErrorCode::kPermissionDenied);
  CHECK(vault.check_grant("other", "prod/db", kReveal, now).code() == ErrorCode::kPermissionDenied);
  CHECK(vault.check_grant("pg", "prod/db2", kReveal, now).code() == ErrorCode::kPermissionDenied);

  REQUIRE(vault.grant("s3", "aws/*", parse_operations("sign"), now + 3600, test_actor()).is_ok());
  CHECK(vault.check_grant("s3", "aws/secret-key", kSign, now).is_ok());
  CHECK(vault.check_grant("s3", "aws/deep/key", kSign, now).is_ok());
  CHECK(vault.check_grant("s3", "aws", kSign, now).code() == ErrorCode::kPermissionDenied);
  CHECK(vault.check_grant("s3", "awsx/key", kSign, now).code() == ErrorCode::kPermissionDenied);
  auto expired = vault.check_grant("s3", "aws/secret-key", kSign, now + 3600);
  CHECK(expired.code() == ErrorCode::kPermissionDenied);
  CHECK_THAT(expired.message(), Catch::Contains("expired"));

  REQUIRE(vault.revoke("pg", "prod/db", test_actor()).is_ok());
  CHECK(vault.check_grant("pg", "prod/db", kReveal, now).code() == ErrorCode::kPermissionDenied);
  CHECK(vault.revoke("pg", "prod/db", test_actor()).code() == ErrorCode::kNotFound);
  CHECK(vault.list_grants().value().size() == 1);
  CHECK(vault.list_grants("s3").value().front().pattern == "aws/*");
}

TEST_CASE("grant arguments are validated", "[vault][grants]") {
  ScratchDir dir;
  Vault vault = make_keyfile_vault(dir);
  CHECK(parse_operations("reveal,bogus") == 0);
  CHECK(parse_operations("") == 0);
  CHECK(parse_operations("reveal,") == 0);
  CHECK(format_operations(parse_operations("env,reveal")) == "reveal,env");
  CHECK(vault.grant("bad name", "x", 1, std::nullopt, test_actor()).code() ==
        ErrorCode::kInvalidArgument);
  CHECK(vault.grant("ok", "*", 1, std::nullopt, test_actor()).code() ==
        ErrorCode::kInvalidArgument);
  CHECK(vault.grant("ok", "a/*/b", 1, std::nullopt, test_actor()).code() ==
        ErrorCode::kInvalidArgument);
  CHECK(vault.grant("ok", "x", 0, std::nullopt, test_actor()).code() ==
        ErrorCode::kInvalidArgument);
}

TEST_CASE("a grant row edited or inserted in the file is ignored", "[vault][grants]") {
  ScratchDir dir;
  {
    Vault vault = make_keyfile_vault(dir);
    REQUIRE(vault.grant("pg", "prod/db", parse_operations("reveal"), std::nullopt, test_actor())
                .is_ok());
  }
  {
    auto db = raw_db(dir / "vault.db");
    db.exec("UPDATE grants SET operations = 7");  // widen reveal to everything
    db.exec(
        "INSERT INTO grants SELECT 'evil', pattern, operations, expires_at, created_at, mac, "
        "serial FROM grants");
  }
  Vault vault = std::move(Vault::open(dir / "vault.db", keyfile_for(dir))).value();
  CHECK(vault.check_grant("pg", "prod/db", Operation::kReveal, 0).code() ==
        ErrorCode::kPermissionDenied);
  CHECK(vault.check_grant("evil", "prod/db", Operation::kReveal, 0).code() ==
        ErrorCode::kPermissionDenied);
  for (const Grant& g : vault.list_grants().value()) CHECK_FALSE(g.authentic);
}

// What an attacker with write access to the file does: keep a copy of rows (MAC included)
// in a table of the same file and put them back later.
void save_rows(const ScratchDir& dir, const std::string& table, const std::string& from) {
  auto db = raw_db(dir / "vault.db");
  db.exec("DROP TABLE IF EXISTS " + table);
  db.exec("CREATE TABLE " + table + " AS SELECT * FROM " + from);
}

void put_back(const ScratchDir& dir, const std::string& table, const std::string& into) {
  auto db = raw_db(dir / "vault.db");
  db.exec("INSERT OR REPLACE INTO " + into + " SELECT * FROM " + table);
}

Vault reopen(const ScratchDir& dir) {
  auto vault = Vault::open(dir / "vault.db", keyfile_for(dir));
  INFO(vault.status().message());
  REQUIRE(vault.is_ok());
  return std::move(vault).value();
}

bool authentic(Vault& vault, const std::string& instance) {
  auto grants = vault.list_grants(instance);
  REQUIRE(grants.is_ok());
  REQUIRE(grants.value().size() == 1);
  return grants.value().front().authentic;
}

TEST_CASE("a revoked grant copied back into the file, MAC included, is not authentic",
          "[vault][grants]") {
  ScratchDir dir;
  {
    Vault vault = make_keyfile_vault(dir);
    REQUIRE(vault.grant("pg", "prod/db", parse_operations("reveal"), std::nullopt, test_actor())
                .is_ok());
    CHECK(authentic(vault, "pg"));
  }
  save_rows(dir, "saved", "grants");
  {
    Vault vault = reopen(dir);
    REQUIRE(vault.revoke("pg", "prod/db", test_actor()).is_ok());
  }
  put_back(dir, "saved", "grants");
  Vault vault = reopen(dir);
  CHECK_FALSE(authentic(vault, "pg"));
  CHECK(vault.check_grant("pg", "prod/db", kReveal, 0).code() == ErrorCode::kPermissionDenied);

  SECTION("a later grant change does not bring the copied row back") {
    REQUIRE(vault.grant("other", "x", parse_operations("env"), std::nullopt, test_actor()).is_ok());
    CHECK(authentic(vault, "other"));
    CHECK_FALSE(authentic(vault, "pg"));
    CHECK(vault.check_grant("pg", "prod/db", kReveal, 0).code() == ErrorCode::kPermissionDenied);
  }
  SECTION("granting it again makes it count again") {
    REQUIRE(vault.grant("pg", "prod/db", parse_operations("reveal"), std::nullopt, test_actor())
                .is_ok());
    CHECK(authentic(vault, "pg"));
    CHECK(vault.check_grant("pg", "prod/db", kReveal, 0).is_ok());
  }
}

TEST_CASE("an expired grant renewed, then shortened, cannot be replaced by the longer one",
          "[vault][grants]") {
  ScratchDir dir;
  {
    Vault vault = make_keyfile_vault(dir);
    REQUIRE(vault.grant("pg", "prod/db", parse_operations("reveal"), 2000, test_actor()).is_ok());
  }
  save_rows(dir, "expired", "grants");
  {
    Vault vault = reopen(dir);
    CHECK(vault.check_grant("pg", "prod/db", kReveal, 2500).code() == ErrorCode::kPermissionDenied);
    REQUIRE(vault.grant("pg", "prod/db", parse_operations("reveal"), 9000, test_actor()).is_ok());
    CHECK(vault.check_grant("pg", "prod/db", kReveal, 2500).is_ok());
  }
  save_rows(dir, "renewed", "grants");
  {
    Vault vault = reopen(dir);
    REQUIRE(vault.grant("pg", "prod/db", parse_operations("reveal"), 3000, test_actor()).is_ok());
  }
  SECTION("the renewed, longer grant put back") {
    put_back(dir, "renewed", "grants");
    Vault vault = reopen(dir);
    CHECK_FALSE(authentic(vault, "pg"));
    CHECK(vault.check_grant("pg", "prod/db", kReveal, 5000).code() == ErrorCode::kPermissionDenied);
  }
  SECTION("the expired original put back") {
    put_back(dir, "expired", "grants");
    Vault vault = reopen(dir);
    CHECK_FALSE(authentic(vault, "pg"));
  }
}

TEST_CASE("an older, wider grant put back after narrowing is not authentic", "[vault][grants]") {
  ScratchDir dir;
  {
    Vault vault = make_keyfile_vault(dir);
    REQUIRE(
        vault.grant("pg", "prod/*", parse_operations("reveal,sign,env"), std::nullopt, test_actor())
            .is_ok());
  }
  save_rows(dir, "wide", "grants");
  {
    Vault vault = reopen(dir);
    REQUIRE(vault.grant("pg", "prod/*", parse_operations("reveal"), std::nullopt, test_actor())
                .is_ok());
    CHECK(vault.check_grant("pg", "prod/db", kSign, 0).code() == ErrorCode::kPermissionDenied);
  }
  put_back(dir, "wide", "grants");
  Vault vault = reopen(dir);
  CHECK_FALSE(authentic(vault, "pg"));
  CHECK(vault.check_grant("pg", "prod/db", kSign, 0).code() == ErrorCode::kPermissionDenied);
  CHECK(vault.check_grant("pg", "prod/db", kReveal, 0).code() == ErrorCode::kPermissionDenied);
}

TEST_CASE("grants copied back together with their anchor from an older file are ignored",
          "[vault][grants]") {
  ScratchDir dir;
  {
    Vault vault = make_keyfile_vault(dir);
    REQUIRE(vault.grant("pg", "prod/db", parse_operations("reveal"), std::nullopt, test_actor())
                .is_ok());
    REQUIRE(
        vault.grant("s3", "aws/*", parse_operations("sign"), std::nullopt, test_actor()).is_ok());
  }
  save_rows(dir, "saved", "grants");
  save_rows(dir, "saved_anchor", "grant_anchor");
  {
    Vault vault = reopen(dir);
    REQUIRE(vault.revoke("pg", "prod/db", test_actor()).is_ok());
  }
  put_back(dir, "saved", "grants");
  put_back(dir, "saved_anchor", "grant_anchor");
  Vault vault = reopen(dir);
  for (const Grant& g : vault.list_grants().value()) CHECK_FALSE(g.authentic);
  CHECK(vault.check_grant("pg", "prod/db", kReveal, 0).code() == ErrorCode::kPermissionDenied);
  // Granting again starts from an empty live set: only what is granted anew counts.
  REQUIRE(vault.grant("s3", "aws/*", parse_operations("sign"), std::nullopt, test_actor()).is_ok());
  CHECK(authentic(vault, "s3"));
  CHECK_FALSE(authentic(vault, "pg"));
}

TEST_CASE("rm --purge removes the grants naming a secret for good", "[vault][grants]") {
  ScratchDir dir;
  {
    Vault vault = make_keyfile_vault(dir);
    REQUIRE(vault.put_secret("prod/db", as_bytes("v"), {}, test_actor()).is_ok());
    REQUIRE(vault.grant("pg", "prod/db", parse_operations("reveal"), std::nullopt, test_actor())
                .is_ok());
    REQUIRE(
        vault.grant("s3", "aws/*", parse_operations("sign"), std::nullopt, test_actor()).is_ok());
  }
  save_rows(dir, "saved", "grants");
  {
    Vault vault = reopen(dir);
    REQUIRE(vault.remove_secret("prod/db", true, test_actor()).is_ok());
    REQUIRE(vault.list_grants().value().size() == 1);
    CHECK(authentic(vault, "s3"));
  }
  put_back(dir, "saved", "grants");
  Vault vault = reopen(dir);
  CHECK_FALSE(authentic(vault, "pg"));
  CHECK(authentic(vault, "s3"));
  CHECK(vault.verify_audit().value().ok);
}

TEST_CASE("durations parse", "[vault][grants]") {
  CHECK(parse_duration("90d") == 90 * 86400);
  CHECK(parse_duration("24h") == 86400);
  CHECK(parse_duration("30m") == 1800);
  CHECK(parse_duration("2w") == 14 * 86400);
  CHECK_FALSE(parse_duration("0d"));
  CHECK_FALSE(parse_duration("d"));
  CHECK_FALSE(parse_duration("5x"));
  CHECK_FALSE(parse_duration("-5d"));
  CHECK_FALSE(parse_duration("5 d"));
}

TEST_CASE("durations use the SDK grammar in whole seconds", "[vault][grants]") {
  CHECK(parse_duration("1h30m") == 5400);
  CHECK(parse_duration("1.5m") == 90);
  CHECK(parse_duration("2000ms") == 2);
  CHECK_FALSE(parse_duration("1500ms"));  // not a whole number of seconds
  CHECK_FALSE(parse_duration("10"));      // no unit
}

}  // namespace
}  // namespace keyhold::vault::testing
