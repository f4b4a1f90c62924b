// Backup and restore (issue 3 acceptance 13).
#include "vault_test_support.hpp"

namespace keyhold::vault::testing {
namespace {

std::string describe(Vault& vault) {
  std::string out;
  for (const SecretInfo& s : vault.list_secrets().value()) {
    out += s.name + "|" + s.description + "|";
    for (const VersionInfo& v : vault.list_versions(s.name).value()) {
      out += std::to_string(v.version) + stage_name(v.stage) + "=" +
             as_string(vault.read_secret(s.name, v.version).value()) + ";";
    }
    out += "\n";
  }
  for (const Grant& g : vault.list_grants().value()) {
    out += "grant " + g.instance + " " + g.pattern + " " + format_operations(g.operations) + "\n";
  }
  return out;
}

std::vector<std::string> audit_lines(Vault& vault) {
  std::vector<std::string> out;
  for (const AuditEntry& e : vault.read_audit().value()) {
    out.push_back(std::to_string(e.seq) + " " + std::to_string(e.at) + " " + e.actor + " " +
                  e.action + " " + e.secret + " " + e.instance + " " + e.request_id);
  }
  return out;
}

TEST_CASE("backup then restore into a fresh path keeps everything: tampering is refused",
          "[vault][backup]") {
  ScratchDir dir;
  Vault vault = make_keyfile_vault(dir);
  PutOptions described;
  described.description = "described";
  REQUIRE(vault.put_secret("a", as_bytes("CANARY-backup-a1"), described, test_actor()).is_ok());
  REQUIRE(vault.put_secret("a", as_bytes("CANARY-backup-a2"), {}, test_actor()).is_ok());
  REQUIRE(vault
              .put_secret("backup-probe-name/c", as_bytes(std::string("\0bin\xff", 5)), {},
                          test_actor())
              .is_ok());
  REQUIRE(vault.grant("pg", "backup-probe-name/*", 3, std::nullopt, test_actor()).is_ok());
  REQUIRE(vault.backup(dir / "vault.bak", test_actor()).is_ok());
  CHECK(vault.backup(dir / "vault.bak", test_actor()).code() == ErrorCode::kAlreadyExists);

  const std::string backup_bytes = read_file(dir / "vault.bak");
  CHECK(backup_bytes.find("CANARY") == std::string::npos);
  // metadata is encrypted too (a name long enough not to occur in random bytes by chance)
  CHECK(backup_bytes.find("backup-probe-name/c") == std::string::npos);

  ScratchDir other;  // "another machine": only the keyfile travels
  std::filesystem::copy_file(dir / "vault.db.key", other / "restored.db.key");
  std::filesystem::copy_file(dir / "vault.bak", other / "vault.bak");
  const Credentials key = keyfile_for(other, "restored.db");
  REQUIRE(Vault::restore(other / "vault.bak", other / "restored.db", key, test_actor()).is_ok());
  Vault restored = std::move(Vault::open(other / "restored.db", key)).value();
  CHECK(describe(restored) == describe(vault));
  const auto original_audit = audit_lines(vault);
  auto restored_audit = audit_lines(restored);
  REQUIRE(restored_audit.size() == original_audit.size() + 1);  // plus the "restore" entry
  restored_audit.pop_back();
  CHECK(restored_audit == original_audit);
  CHECK(restored.verify_audit().value().ok);
  CHECK(Vault::restore(other / "vault.bak", other / "restored.db", key, test_actor()).code() ==
        ErrorCode::kAlreadyExists);

  SECTION("a flipped byte anywhere is refused and nothing is written") {
    for (std::size_t offset :
         {std::size_t{3}, std::size_t{20}, backup_bytes.size() / 2, backup_bytes.size() - 1}) {
      INFO(offset);
      std::string tampered = backup_bytes;
      tampered[offset] = static_cast<char>(tampered[offset] ^ 0x20);
      write_file(other / "tampered.bak", tampered);
      auto status = Vault::restore(other / "tampered.bak", other / "t.db", key, test_actor());
      CHECK_FALSE(status.is_ok());
      CHECK_FALSE(std::filesystem::exists(other / "t.db"));
    }
  }
  SECTION("a truncated backup is refused") {
    write_file(other / "short.bak", backup_bytes.substr(0, backup_bytes.size() - 100));
    auto status = Vault::restore(other / "short.bak", other / "t.db", key, test_actor());
    CHECK(status.code() == ErrorCode::kIntegrity);
    CHECK_FALSE(std::filesystem::exists(other / "t.db"));
  }
  SECTION("the wrong key is refused") {
    auto wrong = Credentials::create_keyfile(other / "wrong.key");
    auto status = Vault::restore(other / "vault.bak", other / "t.db", wrong.value(), test_actor());
    CHECK(status.code() == ErrorCode::kUnlockFailed);
  }
}

}  // namespace
}  // namespace keyhold::vault::testing
