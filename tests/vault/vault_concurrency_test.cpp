// Several processes writing at once (issue 3 acceptance 10).
#include <sys/wait.h>
#include <unistd.h>

#include "vault_test_support.hpp"

namespace keyhold::vault::testing {
namespace {

TEST_CASE("20 processes x 50 concurrent sets: every write present, no error",
          "[vault][concurrency]") {
  ScratchDir dir;
  make_keyfile_vault(dir);
  constexpr int kProcesses = 20;
  constexpr int kWrites = 50;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      auto credentials = Credentials::from_keyfile(dir / "vault.db.key");
      if (!credentials.is_ok()) ::_exit(10);
      auto vault = Vault::open(dir / "vault.db", credentials.value());
      if (!vault.is_ok()) ::_exit(11);
      for (int i = 0; i < kWrites; ++i) {
        const std::string value = "p" + std::to_string(p) + "-w" + std::to_string(i);
        // Half the writers share one secret (contended versions), half write their own.
        const std::string name = (i % 2 == 0) ? "shared" : "own/" + value;
        if (!vault->put_secret(name, as_bytes(value), {}, test_actor()).is_ok()) ::_exit(12);
      }
      ::_exit(0);
    }
    children.push_back(child);
  }
  for (pid_t child : children) {
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  Vault vault = std::move(Vault::open(dir / "vault.db", keyfile_for(dir))).value();
  CHECK(vault.list_secrets().value().size() == 1 + kProcesses * kWrites / 2);
  auto versions = vault.list_versions("shared");
  REQUIRE(versions.is_ok());
  CHECK(versions->size() == kProcesses * kWrites / 2);
  for (int p = 0; p < kProcesses; ++p) {
    for (int i = 1; i < kWrites; i += 2) {
      const std::string value = "p" + std::to_string(p) + "-w" + std::to_string(i);
      auto read = vault.read_secret("own/" + value);
      REQUIRE(read.is_ok());
      CHECK(as_string(read.value()) == value);
    }
  }
  auto audit = vault.verify_audit();
  REQUIRE(audit.is_ok());
  CHECK(audit->ok);
  CHECK(audit->entries_checked == 1 + kProcesses * kWrites);
}

}  // namespace
}  // namespace keyhold::vault::testing
