// `keyhold vault ...` as a user runs it: real processes, real files.
#include <sys/stat.h>

#include <cstdlib>

#include "cli_runner.hpp"

namespace keyhold::vault::testing {
namespace {

const std::string kCanary = "CANARY-cli-5d1e8b77-never-print";

void init_keyfile_vault(CliRunner& cli, const ScratchDir& dir) {
  const auto r = cli.run({"vault", "init", "--keyfile", (dir / "key").string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  cli.env()["KEYHOLD_KEYFILE"] = (dir / "key").string();
}

TEST_CASE("cli: set from stdin, file and env: reveal round-trips binary values", "[vault][cli]") {
  ScratchDir dir;
  CliRunner cli(dir);
  init_keyfile_vault(cli, dir);
  struct stat st {};
  REQUIRE(::stat((dir / "key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(std::filesystem::file_size(dir / "key") == 32);

  const std::string binary("\0\x01\xff\nline2\r\n\0", 12);
  CHECK(cli.run({"vault", "set", "bin"}, binary).exit_code == 0);
  write_file(dir / "value.txt", kCanary);
  CHECK(cli.run({"vault", "set", "file", "--from-file", (dir / "value.txt").string()}).exit_code ==
        0);
  cli.env()["SOME_VAR"] = "from-env-value";
  CHECK(cli.run({"vault", "set", "env", "--from-env", "SOME_VAR"}).exit_code == 0);
  CHECK(cli.run({"vault", "reveal", "bin"}).out == binary);
  CHECK(cli.run({"vault", "reveal", "file"}).out == kCanary);
  CHECK(cli.run({"vault", "reveal", "env"}).out == "from-env-value");
  // --vault after the command name works as well as before it.
  CHECK(cli.run({"vault", "reveal", "env", "--vault", (dir / "vault.db").string()}).out ==
        "from-env-value");
  auto unset = cli.run({"vault", "set", "x", "--from-env", "NOT_SET_ANYWHERE"});
  CHECK(unset.exit_code == 2);
  CHECK_THAT(unset.err, Catch::Contains("NOT_SET_ANYWHERE is not set"));
  CHECK(cli.run({"vault", "set", "bad//name"}, "x").exit_code == 2);
  CHECK(cli.outputs_except_reveal().find(kCanary) == std::string::npos);
}

TEST_CASE("cli: without credentials or a terminal, a clear error says how to unlock",
          "[vault][cli]") {
  ScratchDir dir;
  CliRunner cli(dir);
  init_keyfile_vault(cli, dir);
  cli.env().erase("KEYHOLD_KEYFILE");
  const auto r = cli.run({"vault", "list"});
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err,
             Catch::Contains("KEYHOLD_KEYFILE") && Catch::Contains("KEYHOLD_PASSPHRASE_FILE"));
  const auto status = cli.run({"vault", "status"});
  CHECK(status.exit_code == 3);
  CHECK_THAT(status.out, Catch::Contains("locked"));
  cli.env()["KEYHOLD_VAULT"] = (dir / "missing.db").string();
  CHECK(cli.run({"vault", "list"}).exit_code == 4);
}

TEST_CASE("cli: the vault location comes from --vault, KEYHOLD_VAULT, XDG_DATA_HOME, HOME",
          "[vault][cli]") {
  ScratchDir dir;
  CliRunner cli(dir);
  cli.env().erase("KEYHOLD_VAULT");
  cli.env()["XDG_DATA_HOME"] = (dir / "xdg").string();
  REQUIRE(cli.run({"vault", "init", "--keyfile", (dir / "key").string()}).exit_code == 0);
  CHECK(std::filesystem::exists(dir / "xdg" / "keyhold" / "vault.db"));
  struct stat st {};
  REQUIRE(::stat((dir / "xdg" / "keyhold").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  cli.env().erase("XDG_DATA_HOME");
  REQUIRE(cli.run({"vault", "init", "--keyfile", (dir / "key").string()}).exit_code == 0);
  CHECK(std::filesystem::exists(dir.path() / ".local" / "share" / "keyhold" / "vault.db"));
  cli.env()["KEYHOLD_VAULT"] = (dir / "env.db").string();
  REQUIRE(cli.run({"vault", "init", "--keyfile", (dir / "key").string()}).exit_code == 0);
  CHECK(std::filesystem::exists(dir / "env.db"));
  REQUIRE(cli.run({"vault", "--vault", (dir / "flag.db").string(), "init", "--keyfile",
                   (dir / "key").string()})
              .exit_code == 0);
  CHECK(std::filesystem::exists(dir / "flag.db"));
  CHECK(cli.run({"vault", "init", "--keyfile", (dir / "key").string()}).exit_code == 6);
}

TEST_CASE("cli: passphrase vault, wrong passphrase, passwd", "[vault][cli]") {
  ScratchDir dir;
  CliRunner cli(dir);
  write_file(dir / "pass", "first passphrase\n");
  write_file(dir / "pass2", "second passphrase\n");
  write_file(dir / "wrong", "not it\n");
  cli.env()["KEYHOLD_PASSPHRASE_FILE"] = (dir / "pass").string();
  REQUIRE(cli.run({"vault", "init"}).exit_code == 0);
  REQUIRE(cli.run({"vault", "set", "s"}, kCanary).exit_code == 0);
  const std::string before = read_file(dir / "vault.db") + read_file(dir.path() / "vault.db-wal");

  cli.env()["KEYHOLD_PASSPHRASE_FILE"] = (dir / "wrong").string();
  auto wrong = cli.run({"vault", "reveal", "s"});
  CHECK(wrong.exit_code == 3);
  CHECK_THAT(wrong.err, Catch::Contains("wrong passphrase or keyfile"));
  CHECK(wrong.out.empty());
  CHECK(read_file(dir / "vault.db") + read_file(dir.path() / "vault.db-wal") == before);

  cli.env()["KEYHOLD_PASSPHRASE_FILE"] = (dir / "pass").string();
  REQUIRE(
      cli.run({"vault", "passwd", "--new-passphrase-file", (dir / "pass2").string()}).exit_code ==
      0);
  CHECK(cli.run({"vault", "reveal", "s"}).exit_code == 3);
  cli.env()["KEYHOLD_PASSPHRASE_FILE"] = (dir / "pass2").string();
  CHECK(cli.run({"vault", "reveal", "s"}).out == kCanary);
  CHECK(cli.outputs_except_reveal().find(kCanary) == std::string::npos);
}

TEST_CASE("cli: a tampered record fails reveal naming it: audit --verify names a bad entry",
          "[vault][cli]") {
  ScratchDir dir;
  CliRunner cli(dir);
  init_keyfile_vault(cli, dir);
  REQUIRE(cli.run({"vault", "set", "victim"}, kCanary).exit_code == 0);
  REQUIRE(cli.run({"vault", "set", "other"}, "other-value").exit_code == 0);
  // Change byte 31 of the ciphertext with the sqlite3 shell, as an attacker would.
  const std::string sql =
      "UPDATE versions SET blob = substr(blob, 1, 30) || CASE WHEN substr(blob, 31, 1) = x'00' "
      "THEN x'01' ELSE x'00' END || substr(blob, 32) WHERE secret_id = "
      "(SELECT id FROM secrets WHERE name = 'victim');";
  const std::string command = "sqlite3 '" + (dir / "vault.db").string() + "' \"" + sql + "\"";
  REQUIRE(std::system(command.c_str()) == 0);
  auto bad = cli.run({"vault", "reveal", "victim"});
  CHECK(bad.exit_code == 5);
  CHECK_THAT(bad.err, Catch::Contains("secret 'victim' version 1"));
  CHECK(bad.out.empty());
  CHECK(cli.run({"vault", "reveal", "other"}).out == "other-value");

  auto ok = cli.run({"vault", "audit", "--verify"});
  CHECK(ok.exit_code == 0);
  {
    auto db = raw_db(dir / "vault.db");
    db.exec("UPDATE audit SET actor = 'someone else' WHERE seq = 2");
  }
  auto broken = cli.run({"vault", "audit", "--verify"});
  CHECK(broken.exit_code == 1);
  CHECK_THAT(broken.out, Catch::Contains("entry 2"));
  auto json = cli.run({"vault", "audit", "--verify", "--json"});
  CHECK(json.exit_code == 1);
  CHECK_THAT(json.out, Catch::Contains("\"first_bad_seq\": 2"));
  CHECK(cli.outputs_except_reveal().find(kCanary) == std::string::npos);
}

TEST_CASE("cli: import from an .env file and a Docker secrets folder, values exact",
          "[vault][cli]") {
  ScratchDir dir;
  CliRunner cli(dir);
  init_keyfile_vault(cli, dir);
  write_file(dir / "app.env",
             "# comment\nexport DB_PASSWORD=\"p@ss word\\nnext\"\nAPI_KEY='literal $x'\n"
             "PLAIN=value # comment\nMULTI=\"a\nb\"\n");
  auto r =
      cli.run({"vault", "import", "--env-file", (dir / "app.env").string(), "--prefix", "app/"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(cli.run({"vault", "reveal", "app/DB_PASSWORD"}).out == "p@ss word\nnext");
  CHECK(cli.run({"vault", "reveal", "app/API_KEY"}).out == "literal $x");
  CHECK(cli.run({"vault", "reveal", "app/PLAIN"}).out == "value");
  CHECK(cli.run({"vault", "reveal", "app/MULTI"}).out == "a\nb");

  std::filesystem::create_directories(dir / "secrets");
  write_file(dir / "secrets" / "postgres_password", "pg-secret\n");
  write_file(dir / "secrets" / "tls.key", std::string("\0\x01binary", 8));
  write_file(dir / "secrets" / ".hidden", "skip me");
  r = cli.run({"vault", "import", "--docker-secrets", (dir / "secrets").string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(cli.run({"vault", "reveal", "postgres_password"}).out == "pg-secret\n");
  CHECK(cli.run({"vault", "reveal", "tls.key"}).out == std::string("\0\x01binary", 8));
  CHECK(cli.run({"vault", "reveal", ".hidden"}).exit_code != 0);
  write_file(dir / "bad.env", "NOEQUALS\n");
  CHECK(cli.run({"vault", "import", "--env-file", (dir / "bad.env").string()}).exit_code == 2);
}

TEST_CASE("cli: backup and restore: a tampered backup is refused", "[vault][cli]") {
  ScratchDir dir;
  CliRunner cli(dir);
  init_keyfile_vault(cli, dir);
  REQUIRE(cli.run({"vault", "set", "a"}, kCanary).exit_code == 0);
  REQUIRE(cli.run({"vault", "grant", "pg", "a", "--ops", "reveal"}).exit_code == 0);
  REQUIRE(cli.run({"vault", "backup", (dir / "b.bak").string()}).exit_code == 0);
  CHECK(read_file(dir / "b.bak").find(kCanary) == std::string::npos);
  auto restored = cli.run(
      {"vault", "restore", (dir / "b.bak").string(), "--vault", (dir / "restored.db").string()});
  INFO(restored.err);
  REQUIRE(restored.exit_code == 0);
  CHECK(cli.run({"vault", "reveal", "a", "--vault", (dir / "restored.db").string()}).out ==
        kCanary);
  CHECK_THAT(cli.run({"vault", "grants", "--vault", (dir / "restored.db").string()}).out,
             Catch::Contains("pg"));
  std::string tampered = read_file(dir / "b.bak");
  tampered[tampered.size() / 2] ^= 1;
  write_file(dir / "t.bak", tampered);
  auto refused =
      cli.run({"vault", "restore", (dir / "t.bak").string(), "--vault", (dir / "t.db").string()});
  CHECK(refused.exit_code == 5);
  CHECK_FALSE(std::filesystem::exists(dir / "t.db"));
  CHECK(cli.outputs_except_reveal().find(kCanary) == std::string::npos);
}

TEST_CASE("cli: rotate, history, rollback, grants, revoke and rm", "[vault][cli]") {
  ScratchDir dir;
  CliRunner cli(dir);
  init_keyfile_vault(cli, dir);
  REQUIRE(cli.run({"vault", "set", "svc/token", "--rotate-every", "30d"}, "first").exit_code == 0);
  auto rotated = cli.run({"vault", "rotate", "svc/token", "--generate", "24", "--charset", "hex"});
  INFO(rotated.err);
  REQUIRE(rotated.exit_code == 0);
  const std::string generated = cli.run({"vault", "reveal", "svc/token"}).out;
  CHECK(generated.size() == 24);
  CHECK(generated.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(cli.out_contains_no(generated));
  REQUIRE(cli.run({"vault", "rotate", "svc/token"}, "third").exit_code == 0);
  CHECK(cli.run({"vault", "rotate", "missing"}, "x").exit_code == 4);
  const auto history = cli.run({"vault", "history", "svc/token"});
  CHECK_THAT(history.out,
             Catch::Contains("2        previous") && Catch::Contains("3        current"));
  REQUIRE(cli.run({"vault", "rollback", "svc/token"}).exit_code == 0);
  CHECK(cli.run({"vault", "reveal", "svc/token"}).out == generated);
  REQUIRE(cli.run({"vault", "rollback", "svc/token", "--to", "1"}).exit_code == 0);
  CHECK(cli.run({"vault", "reveal", "svc/token"}).out == "first");
  CHECK(cli.run({"vault", "reveal", "svc/token", "--version", "3"}).out == "third");

  REQUIRE(cli.run({"vault", "grant", "s3", "svc/*", "--ops", "sign,env", "--expires", "1h"})
              .exit_code == 0);
  CHECK_THAT(cli.run({"vault", "grants", "s3"}).out, Catch::Contains("sign,env"));
  CHECK(cli.run({"vault", "grant", "s3", "svc/*", "--ops", "write"}).exit_code == 2);
  REQUIRE(cli.run({"vault", "revoke", "s3", "svc/*"}).exit_code == 0);
  CHECK(cli.run({"vault", "revoke", "s3", "svc/*"}).exit_code == 4);

  REQUIRE(cli.run({"vault", "rm", "svc/token"}).exit_code == 0);
  CHECK(cli.run({"vault", "reveal", "svc/token"}).exit_code == 4);
  CHECK(cli.run({"vault", "list"}).out.find("svc/token") == std::string::npos);
  REQUIRE(cli.run({"vault", "rm", "svc/token", "--purge"}).exit_code == 0);
  CHECK(cli.run({"vault", "rm", "svc/token", "--purge"}).exit_code == 4);
  const auto audit = cli.run({"vault", "audit", "--secret", "svc/token"});
  for (const char* action : {"set", "rotate", "reveal", "rollback", "rm", "purge"}) {
    CHECK_THAT(audit.out, Catch::Contains(action));
  }
  CHECK(cli.run({"vault", "audit", "--verify"}).exit_code == 0);
}

TEST_CASE("cli: 20 processes x 10 concurrent `vault set`: every write present, no error shown",
          "[vault][cli][concurrency]") {
  ScratchDir dir;
  CliRunner cli(dir);
  init_keyfile_vault(cli, dir);
  constexpr int kProcesses = 20;
  constexpr int kWrites = 10;  // 200 CLI runs; the library test does 20 x 50
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      const std::string err = (dir / ("err-" + std::to_string(p))).string();
      const int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::dup2(fd, 2);
      for (const auto& [k, v] : cli.env()) ::setenv(k.c_str(), v.c_str(), 1);
      const std::string script = "i=0; while [ $i -lt " + std::to_string(kWrites) +
                                 " ]; do printf \"v-%s\" $i | \"$0\" vault set p" +
                                 std::to_string(p) + "/s$i || exit 1; i=$((i+1)); done";
      ::execl("/bin/sh", "sh", "-c", script.c_str(), KEYHOLD_BINARY, nullptr);
      ::_exit(121);
    }
    children.push_back(child);
  }
  for (pid_t child : children) {
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  for (int p = 0; p < kProcesses; ++p) {
    const std::string err = read_file(dir / ("err-" + std::to_string(p)));
    INFO("process " << p << " stderr: " << err);
    CHECK(err.empty());
  }
  auto key = Credentials::from_keyfile(dir / "key");
  REQUIRE(key.is_ok());
  Vault vault = std::move(Vault::open(dir / "vault.db", key.value())).value();
  CHECK(vault.list_secrets().value().size() == kProcesses * kWrites);
  for (int p = 0; p < kProcesses; ++p) {
    for (int i = 0; i < kWrites; ++i) {
      auto value = vault.read_secret("p" + std::to_string(p) + "/s" + std::to_string(i));
      REQUIRE(value.is_ok());
      CHECK(as_string(value.value()) == "v-" + std::to_string(i));
    }
  }
  CHECK(vault.verify_audit().value().ok);
}

TEST_CASE("cli: every command has --help, and list/show/grants/history/audit take --json",
          "[vault][cli]") {
  ScratchDir dir;
  CliRunner cli(dir);
  for (const char* command : {"init", "status", "set", "list", "show", "reveal", "rm", "grant",
                              "revoke", "grants", "rotate", "history", "rollback", "audit",
                              "passwd", "rekey", "import", "backup", "restore"}) {
    INFO(command);
    const auto r = cli.run({"vault", command, "--help"});
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("Usage"));
  }
  init_keyfile_vault(cli, dir);
  REQUIRE(cli.run({"vault", "set", "j"}, "v").exit_code == 0);
  for (std::vector<std::string> args : {std::vector<std::string>{"vault", "list", "--json"},
                                        {"vault", "show", "j", "--json"},
                                        {"vault", "grants", "--json"},
                                        {"vault", "history", "j", "--json"},
                                        {"vault", "audit", "--json"},
                                        {"vault", "status", "--json"}}) {
    const auto r = cli.run(args);
    INFO(args[1]);
    CHECK(r.exit_code == 0);
    CHECK((r.out.front() == '[' || r.out.front() == '{'));
  }
}

TEST_CASE("cli: an unlocked CLI process has core dumps disabled", "[vault][cli]") {
  ScratchDir dir;
  CliRunner cli(dir);
  init_keyfile_vault(cli, dir);
  // `set` unlocks, then blocks reading the value from a pipe we keep open.
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::setsid();
    ::dup2(pipe_fds[0], 0);
    ::close(pipe_fds[1]);
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    const std::string keyfile = "KEYHOLD_KEYFILE=" + (dir / "key").string();
    const std::string vault = "KEYHOLD_VAULT=" + (dir / "vault.db").string();
    char* envp[] = {const_cast<char*>(keyfile.c_str()), const_cast<char*>(vault.c_str()), nullptr};
    char* argv[] = {const_cast<char*>(KEYHOLD_BINARY), const_cast<char*>("vault"),
                    const_cast<char*>("set"), const_cast<char*>("held"), nullptr};
    ::execve(KEYHOLD_BINARY, argv, envp);
    ::_exit(121);
  }
  ::close(pipe_fds[0]);
  std::string limits;
  for (int i = 0; i < 200 && limits.find("core file size          0") == std::string::npos; ++i) {
    ::usleep(20000);
    limits = read_file("/proc/" + std::to_string(child) + "/limits");
    // Normalise the column layout: keep only "Max core file size" and its soft limit.
    const auto at = limits.find("Max core file size");
    if (at != std::string::npos) {
      std::string line = limits.substr(at, limits.find('\n', at) - at);
      std::string squeezed;
      for (char c : line) {
        if (c != ' ' || squeezed.empty() || squeezed.back() != ' ') squeezed += c;
      }
      limits = squeezed;
      if (limits.rfind("Max core file size 0 0", 0) == 0) break;
    }
  }
  CHECK_THAT(limits, Catch::StartsWith("Max core file size 0 0"));
  [[maybe_unused]] auto w = ::write(pipe_fds[1], "v", 1);
  ::close(pipe_fds[1]);
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("cli: oauth-token/ takes only OAuth token records, by set, rotate and import",
          "[vault][cli]") {
  ScratchDir dir;
  CliRunner cli(dir);
  init_keyfile_vault(cli, dir);
  const auto check_refused = [&](const CliResult& refused) {
    CHECK(refused.exit_code == 2);
    CHECK(refused.err.find("'oauth-token/gh' is reserved for the OAuth tokens `keyhold oauth "
                           "login gh` stores") != std::string::npos);
    CHECK(refused.err.find(kCanary) == std::string::npos);
  };
  check_refused(cli.run({"vault", "set", "oauth-token/gh"}, kCanary));
  std::filesystem::create_directories(dir / "secrets");
  write_file(dir / "secrets" / "gh", kCanary);
  check_refused(cli.run({"vault", "import", "--docker-secrets", (dir / "secrets").string(),
                         "--prefix", "oauth-token/"}));
  CHECK(cli.run({"vault", "list"}).out.find("oauth-token/") == std::string::npos);
  // A record as `keyhold oauth login` writes it is accepted (an administrator restoring one).
  const std::string record = R"({"format":1,"access_token":")" + kCanary +
                             R"(","token_type":"Bearer","scope":"","issuer":"","subject":"",)"
                             R"("grant":"authorization_code","expires_at":0,"obtained_at":0,)"
                             R"("last_refresh":0,"refresh_failures":0})";
  const auto stored = cli.run({"vault", "set", "oauth-token/gh"}, record);
  INFO(stored.err);
  CHECK(stored.exit_code == 0);
  check_refused(cli.run({"vault", "rotate", "oauth-token/gh"}, kCanary));
  CHECK(cli.run({"vault", "reveal", "oauth-token/gh"}).out == record);
  // Other names take any value.
  CHECK(cli.run({"vault", "set", "oauth-tokens/gh"}, kCanary).exit_code == 0);
}

}  // namespace
}  // namespace keyhold::vault::testing
