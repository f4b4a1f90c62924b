// Opening a vault written by an older keyhold migrates it in place (schema 1 -> 2 -> 3).
#include "vault_test_support.hpp"

#ifndef KEYHOLD_VAULT_FIXTURES
#error "KEYHOLD_VAULT_FIXTURES must name tests/vault/fixtures"
#endif

namespace keyhold::vault::testing {
namespace {

const std::filesystem::path kFixtures = KEYHOLD_VAULT_FIXTURES;

// A private copy of the schema 1 fixture as dir/vault.db, keyfile dir/vault.db.key.
void copy_v1_fixture(const ScratchDir& dir) {
  std::filesystem::copy_file(kFixtures / "schema_v1.db", dir / "vault.db");
  std::filesystem::copy_file(kFixtures / "schema_v1.db.key", dir / "vault.db.key");
  for (const char* name : {"vault.db", "vault.db.key"}) {
    std::filesystem::permissions(
        dir / name, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
}

std::int64_t schema_version(const ScratchDir& dir) {
  auto db = raw_db(dir / "vault.db");
  return db.execAndGet("SELECT version FROM schema_version").getInt64();
}

TEST_CASE("a schema 1 vault is migrated on open: values, grants and audit chain intact",
          "[vault][schema]") {
  ScratchDir dir;
  copy_v1_fixture(dir);
  REQUIRE(schema_version(dir) == 1);
  auto vault = Vault::open(dir / "vault.db", keyfile_for(dir));
  INFO(vault.status().message());
  REQUIRE(vault.is_ok());
  CHECK(schema_version(dir) == kSchemaVersion);
  CHECK(as_string(vault->read_secret("prod/db").value()) == "fixture-value-2");
  CHECK(as_string(vault->read_secret("prod/db", 1).value()) == "fixture-value-1");
  CHECK(as_string(vault->read_secret("aws/key").value()) == "fixture-value-3");
  CHECK(vault->check_grant("pg", "prod/db", Operation::kReveal, 0).is_ok());
  CHECK(vault->check_grant("s3", "aws/key", Operation::kSign, 0).is_ok());
  CHECK(vault->check_grant("old", "prod/db", Operation::kReveal, 0).code() ==
        ErrorCode::kPermissionDenied);
  const AuditVerification verified = vault->verify_audit().value();
  INFO(verified.problem);
  CHECK(verified.ok);
  const auto entries = vault->read_audit().value();
  REQUIRE_FALSE(entries.empty());
  REQUIRE(entries.size() >= 2);
  CHECK(entries[entries.size() - 2].action == "migrate");
  CHECK(entries[entries.size() - 2].detail == "schema=2 grant_generation=2");
  CHECK(entries.back().action == "migrate");  // then schema 2 -> 3 (rotation)
  CHECK(entries.back().detail == "schema=3");
  // Later grant changes work on the migrated set.
  REQUIRE(vault->revoke("pg", "prod/db", test_actor()).is_ok());
  CHECK(vault->check_grant("s3", "aws/key", Operation::kSign, 0).is_ok());
  CHECK(vault->verify_audit().value().ok);
  // Opening again does not migrate again.
  auto again = Vault::open(dir / "vault.db", keyfile_for(dir));
  REQUIRE(again.is_ok());
  CHECK(again->read_audit().value().size() == entries.size() + 1);
}

TEST_CASE("a schema 1 grant row that was edited stays ignored after the migration",
          "[vault][schema]") {
  ScratchDir dir;
  copy_v1_fixture(dir);
  {
    auto db = raw_db(dir / "vault.db");
    db.exec("UPDATE grants SET operations = 7 WHERE instance = 's3'");
  }
  auto vault = Vault::open(dir / "vault.db", keyfile_for(dir));
  REQUIRE(vault.is_ok());
  for (const Grant& g : vault->list_grants().value()) {
    INFO(g.instance);
    CHECK(g.authentic == (g.instance == "pg"));
  }
  CHECK(vault->check_grant("s3", "aws/key", Operation::kReveal, 0).code() ==
        ErrorCode::kPermissionDenied);
  CHECK(vault->verify_audit().value().ok);
}

}  // namespace
}  // namespace keyhold::vault::testing
