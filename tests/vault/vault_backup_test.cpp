// Backup and restore (issue 3 acceptance 13).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <set>
#include <thread>

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
  // The backup is audited once complete, so its own entry is not inside it; the restored
  // vault has its "restore" entry in that place.
  auto original_audit = audit_lines(vault);
  auto restored_audit = audit_lines(restored);
  REQUIRE(restored_audit.size() == original_audit.size());
  CHECK(vault.read_audit().value().back().action == "backup");
  CHECK(restored.read_audit().value().back().action == "restore");
  original_audit.pop_back();
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

// Every file in dir (recursively) except the vault's own files.
std::vector<std::filesystem::path> files_besides_vault(const ScratchDir& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& item : std::filesystem::recursive_directory_iterator(dir.path())) {
    const std::string name = item.path().filename().string();
    if (!item.is_regular_file() || name.starts_with("vault.db")) continue;
    out.push_back(item.path());
  }
  return out;
}

// Runs fn in a child process and SIGKILLs it after delay (or lets it finish first).
void run_and_kill(const std::function<void()>& fn, std::chrono::microseconds delay) {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    fn();
    ::_exit(0);
  }
  std::this_thread::sleep_for(delay);
  ::kill(child, SIGKILL);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
}

TEST_CASE("kill -9 during backup or restore leaves no plain copy, no partial file",
          "[vault][backup]") {
  ScratchDir dir;
  const std::string probe = "kill-probe-name-7f3a";
  {
    Vault vault = make_keyfile_vault(dir);
    for (int i = 0; i < 1500; ++i) {
      REQUIRE(vault.put_secret(probe + "/" + std::to_string(i), as_bytes("v"), {}, test_actor())
                  .is_ok());
    }
  }
  const Credentials key = keyfile_for(dir);
  // How long one backup and one restore take here, to kill at moments spread over them.
  auto started = std::chrono::steady_clock::now();
  {
    Vault vault = std::move(Vault::open(dir / "vault.db", key)).value();
    REQUIRE(vault.backup(dir / "reference.bak", test_actor()).is_ok());
  }
  const auto backup_time = std::chrono::steady_clock::now() - started;
  started = std::chrono::steady_clock::now();
  REQUIRE(Vault::restore(dir / "reference.bak", dir / "reference.db", key, test_actor()).is_ok());
  const auto restore_time = std::chrono::steady_clock::now() - started;
  std::filesystem::remove(dir / "reference.db");

  std::mt19937 random(12345);
  // Up to twice the in-process time plus a few ms for fork and open: most kills land
  // mid-way, some after the end.
  const auto somewhen = [&](auto span) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(span).count();
    return std::chrono::microseconds(
        std::uniform_int_distribution<long long>(0, 2 * us + 5000)(random));
  };
  constexpr int kRuns = 24;
  for (int i = 0; i < kRuns; ++i) {
    const auto backup = dir / ("b" + std::to_string(i) + ".bak");
    run_and_kill(
        [&] {
          auto vault = Vault::open(dir / "vault.db", key);
          if (vault.is_ok()) (void)vault->backup(backup, test_actor());
        },
        somewhen(backup_time));
    const auto restored = dir / ("r" + std::to_string(i) + ".db");
    run_and_kill([&] { (void)Vault::restore(dir / "reference.bak", restored, key, test_actor()); },
                 somewhen(restore_time));
  }

  // Nothing besides the vault itself, restored vaults and complete backups holds the names.
  for (const auto& file : files_besides_vault(dir)) {
    const std::string name = file.filename().string();
    INFO(name);
    const bool restored_vault = name.starts_with("r") && name.find(".db") != std::string::npos;
    if (!restored_vault) CHECK(read_file(file).find(probe) == std::string::npos);
    CHECK(name.find("snapshot") == std::string::npos);
    CHECK(name.find("restore") == std::string::npos);
    CHECK(name.find("keyhold-tmp") == std::string::npos);
  }
  Vault vault = std::move(Vault::open(dir / "vault.db", key)).value();
  std::set<std::string> audited;
  for (const AuditEntry& e : vault.read_audit().value()) {
    if (e.action == "backup") audited.insert(e.detail.substr(3));  // "to=NAME"
  }
  int backups = 0, restores = 0;
  for (int i = 0; i < kRuns; ++i) {
    const std::string name = "b" + std::to_string(i) + ".bak";
    INFO(name);
    // Every backup at its final path is complete: it restores.
    if (std::filesystem::exists(dir / name)) {
      ++backups;
      ScratchDir check;
      CHECK(Vault::restore(dir / name, check / "vault.db", key, test_actor()).is_ok());
    } else {
      CHECK(audited.count(name) == 0);  // no audit entry for a backup that is not there
    }
    const auto restored = dir / ("r" + std::to_string(i) + ".db");
    if (std::filesystem::exists(restored)) {
      ++restores;
      auto opened = Vault::open(restored, key);
      REQUIRE(opened.is_ok());
      CHECK(opened->verify_audit().value().ok);
      CHECK(opened->read_audit().value().back().action == "restore");
    }
  }
  WARN("complete backups " << backups << " and restores " << restores << " of " << kRuns);
  CHECK(backups < kRuns);  // some kills did land mid-way
}

TEST_CASE("a backup or restore removes plain copies an older keyhold left when killed",
          "[vault][backup]") {
  ScratchDir dir;
  Vault vault = make_keyfile_vault(dir);
  for (const char* leftover : {"vault.bak.snapshot-0123456789ab", "new.db.restore-0123456789ab",
                               "new.db.restore-0123456789ab-wal", ".vault.bak.keyhold-tmp-aa"}) {
    write_file(dir / leftover, "plain copy");
  }
  write_file(dir / "vault.bak.snapshot-notmine", "a file keyhold did not write");
  REQUIRE(vault.backup(dir / "vault.bak", test_actor()).is_ok());
  CHECK_FALSE(std::filesystem::exists(dir / "vault.bak.snapshot-0123456789ab"));
  CHECK_FALSE(std::filesystem::exists(dir / ".vault.bak.keyhold-tmp-aa"));
  CHECK(std::filesystem::exists(dir / "vault.bak.snapshot-notmine"));
  REQUIRE(
      Vault::restore(dir / "vault.bak", dir / "new.db", keyfile_for(dir), test_actor()).is_ok());
  CHECK_FALSE(std::filesystem::exists(dir / "new.db.restore-0123456789ab"));
  CHECK_FALSE(std::filesystem::exists(dir / "new.db.restore-0123456789ab-wal"));
}

}  // namespace
}  // namespace keyhold::vault::testing
