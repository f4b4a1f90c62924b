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

// A copy of the populated vault in its own directory, with raw edits applied.
void copy_with_edit(const ScratchDir& from, const ScratchDir& to, const std::string& sql) {
  {
    auto db = raw_db(from / "vault.db");
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  std::filesystem::copy_file(from / "vault.db", to / "vault.db");
  std::filesystem::copy_file(from / "vault.db.key", to / "vault.db.key");
  auto db = raw_db(to / "vault.db");
  db.exec(sql);
}

TEST_CASE("a deleted or edited audit anchor refuses writes clearly, and repairing it fixes that",
          "[vault][audit]") {
  ScratchDir dir;
  populate(dir);
  struct Case {
    const char* edit;
    bool grants_kept;
  };
  const Case cases[] = {
      {"DELETE FROM audit_anchor", true},
      {"UPDATE audit_anchor SET count = count - 1", true},
      {"UPDATE audit_anchor SET head = zeroblob(32)", true},
      // The tail (entry 7, the last grant change) removed: anchor and log disagree, and
      // the grant set no longer matches what the remaining log recorded.
      {"DELETE FROM audit WHERE seq = 7", false},
  };
  for (const auto& [edit, grants_kept] : cases) {
    INFO(edit);
    ScratchDir copy;
    copy_with_edit(dir, copy, edit);
    auto vault = Vault::open(copy / "vault.db", keyfile_for(copy));
    REQUIRE(vault.is_ok());
    auto set = vault->put_secret("a", as_bytes("CANARY-audit-3"), {}, test_actor());
    CHECK(set.status().code() == ErrorCode::kIntegrity);
    CHECK_THAT(set.status().message(), Catch::Contains("audit anchor") &&
                                           Catch::Contains("--repair-anchor") &&
                                           !Catch::Contains("UNIQUE"));
    AuditEntry reveal;
    reveal.actor = "test";
    reveal.action = "reveal";
    CHECK(vault->append_audit(reveal).status().code() == ErrorCode::kIntegrity);
    CHECK(as_string(vault->read_secret("a").value()) == "CANARY-audit-1");  // reads still work
    const AuditVerification before = vault->verify_audit().value();
    CHECK_FALSE(before.ok);

    auto repaired = vault->repair_audit_anchor(test_actor());
    INFO(repaired.status().message());
    REQUIRE(repaired.is_ok());
    CHECK(repaired->repaired);
    CHECK(repaired->grants_kept == grants_kept);
    CHECK_FALSE(repaired->previous_problem.empty());
    REQUIRE(vault->put_secret("a", as_bytes("CANARY-audit-3"), {}, test_actor()).is_ok());
    const AuditVerification after = vault->verify_audit().value();
    CHECK(after.ok);
    auto entries = vault->read_audit().value();
    REQUIRE(entries.size() >= 2);
    CHECK(entries[entries.size() - 2].action == "audit.repair-anchor");
    auto again = vault->repair_audit_anchor(test_actor());
    REQUIRE(again.is_ok());
    CHECK_FALSE(again->repaired);
  }
}

TEST_CASE("repairing the anchor over a broken chain is refused and changes nothing",
          "[vault][audit]") {
  ScratchDir dir;
  populate(dir);
  ScratchDir copy;
  copy_with_edit(dir, copy,
                 "UPDATE audit SET secret = 'other' WHERE seq = 3; DELETE FROM audit_anchor");
  auto vault = Vault::open(copy / "vault.db", keyfile_for(copy));
  REQUIRE(vault.is_ok());
  const AuditVerification v = vault->verify_audit().value();
  CHECK_FALSE(v.ok);
  CHECK_FALSE(v.anchor_only);
  CHECK(v.first_bad_seq == 3);
  auto repaired = vault->repair_audit_anchor(test_actor());
  CHECK(repaired.status().code() == ErrorCode::kIntegrity);
  CHECK_THAT(repaired.status().message(),
             Catch::Contains("entry 3") && Catch::Contains("Restore the vault from a backup"));
  auto db = raw_db(copy / "vault.db");
  CHECK(db.execAndGet("SELECT count(*) FROM audit_anchor").getInt() == 0);
}

TEST_CASE("repairing the anchor keeps grants only when they match the generation the log recorded",
          "[vault][audit]") {
  ScratchDir dir;
  {
    Vault vault = make_keyfile_vault(dir);
    REQUIRE(vault.grant("pg", "a", 1, std::nullopt, test_actor()).is_ok());
    REQUIRE(vault.grant("s3", "b", 2, std::nullopt, test_actor()).is_ok());
  }
  {
    auto db = raw_db(dir / "vault.db");
    db.exec("CREATE TABLE saved AS SELECT * FROM grants");
    db.exec("CREATE TABLE saved_anchor AS SELECT * FROM grant_anchor");
  }
  {
    auto vault = Vault::open(dir / "vault.db", keyfile_for(dir));
    REQUIRE(vault->revoke("pg", "a", test_actor()).is_ok());
  }
  SECTION("only the anchor deleted: grants kept") {
    ScratchDir copy;
    copy_with_edit(dir, copy, "DELETE FROM audit_anchor");
    auto vault = Vault::open(copy / "vault.db", keyfile_for(copy));
    auto repaired = vault->repair_audit_anchor(test_actor());
    REQUIRE(repaired.is_ok());
    CHECK(repaired->grants_kept);
    CHECK(vault->check_grant("s3", "b", Operation::kSign, 0).is_ok());
  }
  SECTION("the anchor deleted and the revoked grant copied back with its old anchor") {
    ScratchDir copy;
    copy_with_edit(dir, copy,
                   "DELETE FROM audit_anchor; INSERT OR REPLACE INTO grants SELECT * FROM saved; "
                   "INSERT OR REPLACE INTO grant_anchor SELECT * FROM saved_anchor");
    auto vault = Vault::open(copy / "vault.db", keyfile_for(copy));
    auto repaired = vault->repair_audit_anchor(test_actor());
    REQUIRE(repaired.is_ok());
    CHECK_FALSE(repaired->grants_kept);
    CHECK(vault->check_grant("pg", "a", Operation::kReveal, 0).code() ==
          ErrorCode::kPermissionDenied);
    for (const Grant& g : vault->list_grants().value()) CHECK_FALSE(g.authentic);
  }
}

}  // namespace
}  // namespace keyhold::vault::testing
