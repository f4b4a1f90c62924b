// systemd-creds: ($CREDENTIALS_DIRECTORY files by name) and pass: (the real `pass` with a
// gpg key made here) (issue 19, acceptance 5).
#include <catch2/catch.hpp>
#include <cstdlib>

#include "test_support.hpp"

using namespace keyhold::secrets;
using namespace keyhold::secrets::testing;

namespace {

// Sets an environment variable for the lifetime of the object (unset, or restored, after).
struct ScopedEnv {
  std::string name;
  std::optional<std::string> saved;
  ScopedEnv(std::string n, const std::string& value) : name(std::move(n)) {
    if (const char* old = std::getenv(name.c_str())) saved = old;
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (saved)
      ::setenv(name.c_str(), saved->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

keyhold::Result<keyhold::vault::SecretBuffer> fetch(const std::string& text) {
  auto parsed = ExternalSource::parse(text);
  if (!parsed.is_ok()) return parsed.status();
  return parsed.value()->value(nullptr);
}

std::string error_of(const std::string& text) {
  auto value = fetch(text);
  REQUIRE_FALSE(value.is_ok());
  return value.status().message();
}

// Runs a shell command of the test's setup; its output is discarded (it may name values).
void sh(const std::string& command) {
  INFO(command.substr(0, command.find(' ')));
  REQUIRE(std::system((command + " >/dev/null 2>&1").c_str()) == 0);
}

}  // namespace

TEST_CASE("systemd-creds: reads $CREDENTIALS_DIRECTORY/NAME, byte for byte", "[sources]") {
  TempDir dir;
  const std::string value = canary("creds");
  dir.write("api-key", value + "\n");
  {
    const ScopedEnv credentials("CREDENTIALS_DIRECTORY", dir.path.string());
    CHECK(text_of(fetch("systemd-creds:api-key")) == value + "\n");
    const std::string missing = error_of("systemd-creds:db-password");
    CHECK_THAT(missing, Catch::Contains("no credential 'db-password'"));
    CHECK_THAT(missing, Catch::Contains("LoadCredentialEncrypted=db-password:"));
    CHECK_THAT(error_of("systemd-creds:../api-key"), Catch::Contains("plain file name"));
  }
  const ScopedEnv none("CREDENTIALS_DIRECTORY", "");
  CHECK_THAT(error_of("systemd-creds:api-key"),
             Catch::Contains("CREDENTIALS_DIRECTORY is not set"));
}

TEST_CASE("pass: the first line of a real password-store entry, decrypted by gpg", "[sources]") {
  TempDir dir;
  const ScopedEnv gnupg("GNUPGHOME", (dir.path / "gnupg").string());
  const ScopedEnv store("PASSWORD_STORE_DIR", (dir.path / "store").string());
  std::filesystem::create_directory(dir.path / "gnupg");
  std::filesystem::permissions(dir.path / "gnupg", std::filesystem::perms::owner_all);
  sh("gpg --batch --pinentry-mode loopback --passphrase '' --quick-gen-key "
     "'keyhold test <sources@keyhold.invalid>' future-default default never");
  sh("pass init sources@keyhold.invalid");
  const std::string password = canary("pass");
  const std::string extra = canary("pass-extra");
  dir.write("entry", password + "\nuser: " + extra + "\n");
  sh("pass insert -m team/db < '" + (dir.path / "entry").string() + "'");
  std::filesystem::remove(dir.path / "entry");

  CHECK(text_of(fetch("pass:team/db")) == password);
  CHECK(text_of(fetch("pass:team/db line=all")) == password + "\nuser: " + extra);
  const std::string missing = error_of("pass:team/nothing");
  CHECK_THAT(missing, Catch::Contains("'pass' exited with status 1"));
  CHECK_THAT(missing, Catch::StartsWith("pass:team/nothing: "));
  CHECK_THAT(error_of("pass:--help"), Catch::Contains("cannot start with '-'"));
  CHECK_THAT(error_of("pass:team/db line=2"), Catch::Contains("first or all"));
  sh("gpgconf --kill gpg-agent");
}
