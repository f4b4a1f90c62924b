// `keyhold vault ...` against the cases of issue 16 (an outside tamper and crash run): file
// permissions, a broken audit anchor, an edited header, the rollback figure of `status`.
#include <sys/stat.h>
#include <unistd.h>

#include "cli_runner.hpp"

namespace keyhold::vault::testing {
namespace {

void init_keyfile_vault(CliRunner& cli, const ScratchDir& dir) {
  const auto r = cli.run({"vault", "init", "--keyfile", (dir / "key").string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  cli.env()["KEYHOLD_KEYFILE"] = (dir / "key").string();
}

TEST_CASE("cli: a keyfile others can read exits 9 saying chmod 600, and the override warns",
          "[vault][cli][permissions]") {
  ScratchDir dir;
  CliRunner cli(dir);
  init_keyfile_vault(cli, dir);
  REQUIRE(cli.run({"vault", "set", "a"}, "value").exit_code == 0);
  REQUIRE(::chmod((dir / "key").c_str(), 0644) == 0);
  auto refused = cli.run({"vault", "list"});
  CHECK(refused.exit_code == 9);
  CHECK_THAT(refused.err, Catch::Contains("KEYHOLD_KEYFILE") && Catch::Contains("0644") &&
                              Catch::Contains("chmod 600 " + (dir / "key").string()));
  cli.env()["KEYHOLD_INSECURE_PERMISSIONS"] = "1";
  auto accepted = cli.run({"vault", "list"});
  CHECK(accepted.exit_code == 0);
  CHECK_THAT(accepted.err, Catch::Contains("WARNING") && Catch::Contains("0644"));
  cli.env().erase("KEYHOLD_INSECURE_PERMISSIONS");
  write_file(dir / "pass", "a passphrase\n");
  REQUIRE(::chmod((dir / "pass").c_str(), 0640) == 0);
  cli.env().erase("KEYHOLD_KEYFILE");
  cli.env()["KEYHOLD_PASSPHRASE_FILE"] = (dir / "pass").string();
  cli.env()["KEYHOLD_VAULT"] = (dir / "p.db").string();
  auto init = cli.run({"vault", "init"});
  CHECK(init.exit_code == 9);
  CHECK_THAT(init.err, Catch::Contains("chmod 600 " + (dir / "pass").string()));
  CHECK_FALSE(std::filesystem::exists(dir / "p.db"));
}

TEST_CASE("cli: a world-writable vault directory and a -wal made by another user are refused",
          "[vault][cli][permissions]") {
  ScratchDir dir;
  CliRunner cli(dir);
  std::filesystem::create_directory(dir / "shared");
  REQUIRE(::chmod((dir / "shared").c_str(), 0777) == 0);
  cli.env()["KEYHOLD_VAULT"] = (dir / "shared" / "vault.db").string();
  auto init = cli.run({"vault", "init", "--keyfile", (dir / "key").string()});
  CHECK(init.exit_code == 9);
  CHECK_THAT(init.err, Catch::Contains("chmod 700 " + (dir / "shared").string()));
  CHECK_FALSE(std::filesystem::exists(dir / "shared" / "vault.db"));

  // The case: the vault's directory is like /tmp, another user pre-created -wal and
  // -shm with mode 0666 (here: ours, but 0666; and one owned by nobody).
  REQUIRE(::chmod((dir / "shared").c_str(), 01777) == 0);
  REQUIRE(cli.run({"vault", "init", "--keyfile", (dir / "key").string()}).exit_code == 0);
  cli.env()["KEYHOLD_KEYFILE"] = (dir / "key").string();
  REQUIRE(cli.run({"vault", "set", "names/are/metadata"}, "v").exit_code == 0);
  const std::string wal = (dir / "shared" / "vault.db").string() + "-wal";
  const std::string shm = (dir / "shared" / "vault.db").string() + "-shm";
  std::filesystem::remove(wal);
  std::filesystem::remove(shm);
  write_file(wal, "");
  REQUIRE(::chmod(wal.c_str(), 0666) == 0);
  auto refused = cli.run({"vault", "set", "names/are/metadata"}, "v2");
  CHECK(refused.exit_code == 9);
  CHECK_THAT(refused.err, Catch::Contains(wal) && Catch::Contains("0666"));
  CHECK(std::filesystem::file_size(wal) == 0);
  REQUIRE(::chmod(wal.c_str(), 0600) == 0);
  if (::chown(wal.c_str(), 65534, 65534) == 0) {
    auto foreign = cli.run({"vault", "list"});
    CHECK(foreign.exit_code == 9);
    CHECK_THAT(foreign.err, Catch::Contains("owned by uid 65534"));
    CHECK(std::filesystem::file_size(wal) == 0);
  }
}

TEST_CASE(
    "cli: a deleted audit anchor gives exit 5 and the way out, and audit --repair-anchor fixes it",
    "[vault][cli]") {
  ScratchDir dir;
  CliRunner cli(dir);
  init_keyfile_vault(cli, dir);
  REQUIRE(cli.run({"vault", "set", "a"}, "value").exit_code == 0);
  {
    auto db = raw_db(dir / "vault.db");
    db.exec("DELETE FROM audit_anchor");
  }
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"vault", "set", "a"}, {"vault", "reveal", "a"}}) {
    auto r = cli.run(args, "new value");
    INFO(args[1]);
    CHECK(r.exit_code == 5);
    CHECK_THAT(r.err, Catch::Contains("audit anchor is missing") &&
                          Catch::Contains("--repair-anchor") && !Catch::Contains("UNIQUE"));
  }
  auto verify = cli.run({"vault", "audit", "--verify"});
  CHECK(verify.exit_code == 1);
  CHECK_THAT(verify.out, Catch::Contains("--repair-anchor"));
  auto repair = cli.run({"vault", "audit", "--repair-anchor"});
  INFO(repair.err);
  CHECK(repair.exit_code == 0);
  CHECK_THAT(repair.out, Catch::Contains("rebuilt over 2 verified entries"));
  CHECK(cli.run({"vault", "reveal", "a"}).out == "value");
  CHECK(cli.run({"vault", "audit", "--verify"}).exit_code == 0);
  CHECK_THAT(cli.run({"vault", "audit"}).out, Catch::Contains("audit.repair-anchor"));
  CHECK_THAT(cli.run({"vault", "audit", "--repair-anchor"}).out, Catch::Contains("intact"));
  {
    auto db = raw_db(dir / "vault.db");
    db.exec("UPDATE audit SET actor = 'x' WHERE seq = 2; DELETE FROM audit_anchor");
  }
  auto broken = cli.run({"vault", "audit", "--repair-anchor"});
  CHECK(broken.exit_code == 5);
  CHECK_THAT(broken.err, Catch::Contains("entry 2"));
}

TEST_CASE("cli: an edited unlock_method says the header was modified", "[vault][cli]") {
  ScratchDir dir;
  CliRunner cli(dir);
  init_keyfile_vault(cli, dir);
  {
    auto db = raw_db(dir / "vault.db");
    db.exec("UPDATE header SET unlock_method = 'passphrase'");
  }
  auto r = cli.run({"vault", "list"});
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Catch::Contains("the vault header was modified"));
}

TEST_CASE("cli: status prints an audit head that shows a rollback to an older copy later",
          "[vault][cli]") {
  ScratchDir dir;
  CliRunner cli(dir);
  init_keyfile_vault(cli, dir);
  REQUIRE(cli.run({"vault", "set", "a"}, "first").exit_code == 0);
  REQUIRE(cli.run({"vault", "grant", "pg", "a", "--ops", "reveal"}).exit_code == 0);
  {
    auto db = raw_db(dir / "vault.db");
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  std::filesystem::copy_file(dir / "vault.db", dir / "older.db");  // an attacker's copy
  REQUIRE(cli.run({"vault", "revoke", "pg", "a"}).exit_code == 0);
  auto status = cli.run({"vault", "status"});
  REQUIRE(status.exit_code == 0);
  const auto at = status.out.find("audit head: ");
  REQUIRE(at != std::string::npos);
  const std::string head = status.out.substr(at + 12, status.out.find('\n', at) - at - 12);
  CHECK(head.starts_with("4:"));
  CHECK(head.size() == 2 + 64);
  CHECK_THAT(cli.run({"vault", "status", "--json"}).out,
             Catch::Contains("\"audit_head\": \"" + head.substr(2) + "\""));

  // Later, with more entries: the vault still continues the recorded history.
  REQUIRE(cli.run({"vault", "set", "b"}, "x").exit_code == 0);
  auto continues = cli.run({"vault", "audit", "--verify", "--expect-head", head});
  CHECK(continues.exit_code == 0);
  CHECK_THAT(continues.out, Catch::Contains("continues the expected head"));
  // The whole file rolled back to the older copy: it verifies on its own, but not against
  // the recorded head; the revoked grant is back, which is why the figure matters.
  std::filesystem::remove(dir / "vault.db");
  std::filesystem::copy_file(dir / "older.db", dir / "vault.db");
  CHECK(cli.run({"vault", "audit", "--verify"}).exit_code == 0);
  auto rolled_back = cli.run({"vault", "audit", "--verify", "--expect-head", head});
  CHECK(rolled_back.exit_code == 1);
  CHECK_THAT(rolled_back.out, Catch::Contains("older copy"));
  CHECK(cli.run({"vault", "audit", "--verify", "--expect-head", "nonsense"}).exit_code == 2);
}

TEST_CASE("cli: a backup is audited once written, and plain leftovers beside it are cleaned",
          "[vault][cli]") {
  ScratchDir dir;
  CliRunner cli(dir);
  init_keyfile_vault(cli, dir);
  REQUIRE(cli.run({"vault", "set", "leftover-probe-name"}, "v").exit_code == 0);
  write_file(dir / "b.bak.snapshot-00112233aabb", "plain copy from a killed backup");
  REQUIRE(cli.run({"vault", "backup", (dir / "b.bak").string()}).exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(dir / "b.bak.snapshot-00112233aabb"));
  auto audit = cli.run({"vault", "audit", "--json"});
  CHECK_THAT(audit.out, Catch::Contains("\"detail\": \"to=b.bak\""));
  for (const auto& item : std::filesystem::directory_iterator(dir.path())) {
    const std::string name = item.path().filename().string();
    if (name.starts_with("vault.db") || name == "stdout" || name == "stderr") continue;
    INFO(name);
    CHECK(read_file(item.path()).find("leftover-probe-name") == std::string::npos);
  }
}

}  // namespace
}  // namespace keyhold::vault::testing
