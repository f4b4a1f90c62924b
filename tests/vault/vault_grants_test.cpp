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
        "INSERT INTO grants SELECT 'evil', pattern, operations, expires_at, created_at, mac "
        "FROM grants");
  }
  Vault vault = std::move(Vault::open(dir / "vault.db", keyfile_for(dir))).value();
  CHECK(vault.check_grant("pg", "prod/db", Operation::kReveal, 0).code() ==
        ErrorCode::kPermissionDenied);
  CHECK(vault.check_grant("evil", "prod/db", Operation::kReveal, 0).code() ==
        ErrorCode::kPermissionDenied);
  for (const Grant& g : vault.list_grants().value()) CHECK_FALSE(g.authentic);
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

}  // namespace
}  // namespace keyhold::vault::testing
