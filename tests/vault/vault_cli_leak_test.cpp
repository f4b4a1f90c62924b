// Canary values never leak through the CLI (acceptance 11), and kill -9 at any moment of
// set, rotate, passwd or rekey leaves a vault whose every secret reads.
#include <signal.h>

#include <chrono>
#include <random>
#include <thread>

#include "cli_runner.hpp"

namespace keyhold::vault::testing {
namespace {

const std::string kCanary = "CANARY-leak-9e2f4a61-never-print";
const std::string kCanary2 = "CANARY-leak-rotated-3b7c0d18";

TEST_CASE("cli: a canary never appears in any output except reveal, error paths included",
          "[vault][cli][leak]") {
  ScratchDir dir;
  CliRunner cli(dir);
  REQUIRE(cli.run({"vault", "init", "--keyfile", (dir / "key").string()}).exit_code == 0);
  cli.env()["KEYHOLD_KEYFILE"] = (dir / "key").string();
  write_file(dir / "canary.env", "LEAK_ME=\"" + kCanary + "\"\nBROKEN " + kCanary + "\n");
  write_file(dir / "canary.env.ok", "LEAK_ME=\"" + kCanary + "\"\n");
  cli.env()["CANARY_VAR"] = kCanary;

  const std::vector<std::pair<std::vector<std::string>, std::string>> script = {
      {{"vault", "set", "prod/db", "--description", "database"}, kCanary},
      {{"vault", "set", "prod/api", "--from-env", "CANARY_VAR"}, ""},
      {{"vault", "set", "bad name"}, kCanary},
      {{"vault", "set", "x", "--from-file", (dir / "nope").string()}, ""},
      {{"vault", "set", "x", "--from-file", "a", "--from-env", "b"}, kCanary},
      {{"vault", "list"}, ""},
      {{"vault", "list", "--json"}, ""},
      {{"vault", "show", "prod/db"}, ""},
      {{"vault", "show", "prod/db", "--json"}, ""},
      {{"vault", "history", "prod/db", "--json"}, ""},
      {{"vault", "reveal", "prod/db"}, ""},
      {{"vault", "reveal", "prod/db", "--version", "9"}, ""},
      {{"vault", "reveal", "missing"}, ""},
      {{"vault", "rotate", "prod/db"}, kCanary2},
      {{"vault", "rotate", "prod/db", "--generate", "32", "--charset", "hex"}, ""},
      {{"vault", "rotate", "missing"}, kCanary},
      {{"vault", "rollback", "prod/db", "--to", "1"}, ""},
      {{"vault", "grant", "pg", "prod/*", "--ops", "reveal,sign"}, ""},
      {{"vault", "grant", "pg", "prod/*", "--ops", "bogus"}, ""},
      {{"vault", "grants"}, ""},
      {{"vault", "grants", "--json"}, ""},
      {{"vault", "revoke", "pg", "prod/*"}, ""},
      {{"vault", "import", "--env-file", (dir / "canary.env").string()}, ""},
      {{"vault", "import", "--env-file", (dir / "canary.env.ok").string()}, ""},
      {{"vault", "status"}, ""},
      {{"vault", "status", "--json"}, ""},
      {{"vault", "rekey"}, ""},
      {{"vault", "backup", (dir / "b.bak").string()}, ""},
      {{"vault", "backup", (dir / "b.bak").string()}, ""},
      {{"vault", "restore", (dir / "b.bak").string(), "--vault", (dir / "r.db").string()}, ""},
      {{"vault", "audit"}, ""},
      {{"vault", "audit", "--json"}, ""},
      {{"vault", "audit", "--verify"}, ""},
      {{"vault", "rm", "prod/api"}, ""},
      {{"vault", "rm", "prod/api", "--purge"}, ""},
      {{"vault", "passwd", "--new-keyfile", (dir / "key2").string()}, ""},
      {{"vault", "bogus-subcommand"}, kCanary},
  };
  for (const auto& [args, input] : script) cli.run(args, input);

  // Error paths with a damaged vault and a wrong key.
  cli.env()["KEYHOLD_KEYFILE"] = (dir / "key2").string();
  {
    auto db = raw_db(dir / "vault.db");
    auto blob = blob_of(db, "prod/db", 1);
    blob[40] ^= 4;
    set_blob(db, "prod/db", 1, blob);
  }
  cli.run({"vault", "reveal", "prod/db", "--version", "1"});
  cli.run({"vault", "rekey"});
  cli.env()["KEYHOLD_KEYFILE"] = (dir / "key").string();  // the old key: refused now
  cli.run({"vault", "list"});

  // The reveal that should work did print it (the test can fail).
  CHECK_THAT(cli.run({"vault", "reveal", "LEAK_ME", "--vault", (dir / "vault.db").string()}).err,
             Catch::Contains("wrong passphrase or keyfile"));
  cli.env()["KEYHOLD_KEYFILE"] = (dir / "key2").string();
  CHECK(cli.run({"vault", "reveal", "LEAK_ME"}).out == kCanary);

  const std::string outputs = cli.outputs_except_reveal();
  CHECK(cli.commands_run() > 40);
  const auto at = outputs.find(kCanary);
  INFO(
      "context: " << (at == std::string::npos ? "" : outputs.substr(at > 300 ? at - 300 : 0, 400)));
  CHECK(at == std::string::npos);
  CHECK(outputs.find(kCanary2) == std::string::npos);
  // Also never in the files at rest.
  for (const char* file : {"vault.db", "vault.db-wal", "r.db", "b.bak"}) {
    const std::string bytes = read_file(dir / file);
    CHECK(bytes.find(kCanary) == std::string::npos);
    CHECK(bytes.find(kCanary2) == std::string::npos);
  }
}

// Starts keyhold with args, kills it with SIGKILL after delay, reaps it.
void run_and_kill(const ScratchDir& dir, const std::map<std::string, std::string>& env,
                  const std::vector<std::string>& args, std::chrono::microseconds delay) {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::setsid();
    const int in = ::open((dir / "kill-stdin").c_str(), O_RDONLY);
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(in, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::vector<std::string> storage;
    for (const auto& [k, v] : env) storage.push_back(k + "=" + v);
    std::vector<char*> envp, argv;
    for (auto& s : storage) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string binary = KEYHOLD_BINARY;
    std::vector<std::string> copy = args;
    argv.push_back(binary.data());
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execve(binary.c_str(), argv.data(), envp.data());
    ::_exit(121);
  }
  std::this_thread::sleep_for(delay);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
}

TEST_CASE("cli: kill -9 during set, rotate, passwd or rekey leaves every secret readable",
          "[vault][cli][crash]") {
  ScratchDir dir;
  CliRunner cli(dir);
  write_file(dir / "pass-a", "passphrase A\n");
  write_file(dir / "pass-b", "passphrase B\n");
  cli.env()["KEYHOLD_PASSPHRASE_FILE"] = (dir / "pass-a").string();
  REQUIRE(cli.run({"vault", "init"}).exit_code == 0);
  constexpr int kSecrets = 30;
  for (int i = 0; i < kSecrets; ++i) {
    REQUIRE(cli.run({"vault", "set", "s" + std::to_string(i)}, "value-" + std::to_string(i))
                .exit_code == 0);
  }
  write_file(dir / "kill-stdin", "new-value");
  std::mt19937 rng(7);
  std::string current = "pass-a";
  auto open_any = [&]() -> Vault {
    for (const char* pass : {"pass-a", "pass-b"}) {
      auto credentials = Credentials::from_passphrase_file(dir / pass);
      auto vault = Vault::open(dir / "vault.db", credentials.value());
      if (vault.is_ok()) {
        current = pass;
        return std::move(vault).value();
      }
    }
    FAIL("the vault opens with neither passphrase");
    throw std::logic_error("unreachable");
  };
  int kills = 0;
  for (int round = 0; round < 24; ++round) {
    auto env = cli.env();
    env["KEYHOLD_PASSPHRASE_FILE"] = (dir / current).string();
    const std::string target = "s" + std::to_string(rng() % kSecrets);
    std::vector<std::string> args;
    switch (round % 4) {
      case 0:
        args = {"vault", "set", target};
        break;
      case 1:
        args = {"vault", "rotate", target, "--generate", "24"};
        break;
      case 2:
        args = {"vault", "passwd", "--new-passphrase-file",
                (dir / (current == "pass-a" ? "pass-b" : "pass-a")).string()};
        break;
      default:
        args = {"vault", "rekey"};
    }
    run_and_kill(dir, env, args, std::chrono::microseconds(200 + rng() % 20000));
    ++kills;
    Vault vault = open_any();
    for (int i = 0; i < kSecrets; ++i) {
      auto value = vault.read_secret("s" + std::to_string(i));
      INFO("round " << round << " (" << args[1] << ") secret " << i << ": "
                    << value.status().message());
      REQUIRE(value.is_ok());
      CHECK_FALSE(value->empty());
    }
    auto audit = vault.verify_audit();
    REQUIRE(audit.is_ok());
    CHECK(audit->ok);
  }
  CHECK(kills == 24);
}

}  // namespace
}  // namespace keyhold::vault::testing
