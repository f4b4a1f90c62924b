// The audit chain (issue 3 acceptance 9).
#include "vault_test_support.hpp"

namespace keyhold::vault::testing {
namespace {

// A vault with init + 6 more entries (7 in all).
void populate(const ScratchDir& dir) {
  Vault vault = make_keyfile_vault(dir);
  REQUIRE(vault.put_secret("a", as_bytes("CANARY-audit-1"), {}, test_actor()).is_ok());
  REQUIRE(vault.put_secret("b", as_bytes("CANARY-audit-2"), {}, test_actor()).is_ok());
  REQUIRE(vault.grant("pg", "a", 1, std::nullopt, test_actor()).is_ok());
  AuditEntry reveal;
  reveal.actor = "test";
  reveal.action = "reveal";
  reveal.secret = "a";
  REQUIRE(vault.append_audit(reveal).is_ok());
  REQUIRE(vault.rollback("a", std::nullopt, test_actor()).code() == ErrorCode::kNotFound);
  REQUIRE(vault.remove_secret("b", false, test_actor()).is_ok());
  REQUIRE(vault.revoke("pg", "a", test_actor()).is_ok());
}

AuditVerification verify(const ScratchDir& dir) {
  auto vault = Vault::open(dir / "vault.db", keyfile_for(dir));
  REQUIRE(vault.is_ok());
  auto result = vault->verify_audit();
  REQUIRE(result.is_ok());
  return result.value();
}

TEST_CASE("a batch of audit entries is appended in order and verifies", "[vault][audit]") {
  ScratchDir dir;
  {
    Vault vault = make_keyfile_vault(dir);
    std::vector<AuditEntry> batch(3);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      batch[i].actor = "test";
      batch[i].action = "handle.sign";
      batch[i].detail = "n=" + std::to_string(i);
    }
    auto last = vault.append_audit(std::span<const AuditEntry>(batch));
    REQUIRE(last.is_ok());
    CHECK(last.value() == 4);  // after the init entry
  }
  const AuditVerification v = verify(dir);
  CHECK(v.ok);
  CHECK(v.entries_checked == 4);
  auto vault = Vault::open(dir / "vault.db", keyfile_for(dir));
  auto entries = vault->read_audit();
  REQUIRE(entries.is_ok());
  REQUIRE(entries.value().size() == 4);
  CHECK(entries.value()[1].detail == "n=0");
  CHECK(entries.value()[3].detail == "n=2");
}

TEST_CASE("audit --verify passes on a clean vault and records every action", "[vault][audit]") {
  ScratchDir dir;
  populate(dir);
  const AuditVerification v = verify(dir);
  CHECK(v.ok);
  CHECK(v.entries_checked == 7);
  CHECK(v.anchored_count == 7);
  auto vault = Vault::open(dir / "vault.db", keyfile_for(dir));
  auto entries = vault->read_audit();
  REQUIRE(entries.is_ok());
  std::string actions;
  for (const AuditEntry& e : entries.value()) {
    actions += e.action + " ";
    CHECK(e.detail.find("CANARY") == std::string::npos);
    CHECK_FALSE(e.request_id.empty());
  }
  CHECK(actions == "init set set grant reveal rm revoke ");
  AuditFilter filter;
  filter.instance = "pg";
  CHECK(vault->read_audit(filter).value().size() == 2);
  // No value ever enters the audit table.
  const std::string bytes = read_file(dir / "vault.db") + read_file(dir.path() / "vault.db-wal");
  CHECK(bytes.find("CANARY-audit") == std::string::npos);
}

TEST_CASE("editing, deleting, reordering or truncating audit rows is detected", "[vault][audit]") {
  ScratchDir dir;
  populate(dir);
  struct Case {
    const char* what;
    const char* sql;
    std::int64_t first_bad;
  };
  const Case cases[] = {
      {"edit a field", "UPDATE audit SET secret = 'other' WHERE seq = 3", 3},
      {"edit a time", "UPDATE audit SET at = at + 1 WHERE seq = 5", 5},
      {"delete a middle row", "DELETE FROM audit WHERE seq = 4", 4},
      {"reorder two rows",
       "UPDATE audit SET seq = 100 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3; "
       "UPDATE audit SET seq = 3 WHERE seq = 100",
       2},
      {"truncate the tail", "DELETE FROM audit WHERE seq >= 6", 6},
      {"truncate and re-anchor by hand",
       "DELETE FROM audit WHERE seq = 7; "
       "UPDATE audit_anchor SET count = 6",
       1},
      {"append a forged row",
       "INSERT INTO audit SELECT 8, at, actor, action, secret, instance, operation, request_id, "
       "outcome, detail, mac FROM audit WHERE seq = 7",
       8},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    ScratchDir copy;
    {
      auto db = raw_db(dir / "vault.db");
      db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    std::filesystem::copy_file(dir / "vault.db", copy / "vault.db");
    std::filesystem::copy_file(dir / "vault.db.key", copy / "vault.db.key");
    {
      auto db = raw_db(copy / "vault.db");
      db.exec(c.sql);
    }
    const AuditVerification v = verify(copy);
    CHECK_FALSE(v.ok);
    REQUIRE(v.first_bad_seq.has_value());
    CHECK(*v.first_bad_seq == c.first_bad);
    CHECK_FALSE(v.problem.empty());
  }
}

}  // namespace
}  // namespace keyhold::vault::testing
