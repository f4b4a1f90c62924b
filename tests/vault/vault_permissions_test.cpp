// Permission checks on key files, passphrase files, the vault, its -wal/-shm and its
// directory (issue 16, item 1). The suite runs as root: these checks are about modes and
// owners, which root does not bypass; "another user" is nobody (uid 65534) via chown.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "vault_test_support.hpp"

namespace keyhold::vault::testing {
namespace {

constexpr uid_t kNobody = 65534;

void chmod_or_fail(const std::filesystem::path& path, mode_t mode) {
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

// chown to nobody; false (and a warning) when this process may not, i.e. not root.
bool give_to_nobody(const std::filesystem::path& path) {
  if (::lchown(path.c_str(), kNobody, kNobody) == 0) return true;
  WARN("cannot chown " << path << " (not root?): the other-owner case is skipped");
  return false;
}

// Sets KEYHOLD_INSECURE_PERMISSIONS=1 for the scope.
struct InsecureOverride {
  InsecureOverride() { ::setenv("KEYHOLD_INSECURE_PERMISSIONS", "1", 1); }
  ~InsecureOverride() { ::unsetenv("KEYHOLD_INSECURE_PERMISSIONS"); }
};

void check_refusal(const Status& status, const std::filesystem::path& path, const char* mode) {
  INFO(status.message());
  CHECK(status.code() == ErrorCode::kInsecurePermissions);
  CHECK_THAT(status.message(), Catch::Contains(path.string()) && Catch::Contains(mode) &&
                                   Catch::Contains("KEYHOLD_INSECURE_PERMISSIONS=1"));
}

TEST_CASE("a keyfile or passphrase file others can access is refused, naming the fix",
          "[vault][permissions]") {
  ScratchDir dir;
  Vault vault = make_keyfile_vault(dir);
  const auto key = dir / "vault.db.key";
  write_file(dir / "pass", "a passphrase\n");
  for (mode_t mode : {0644, 0640, 0604, 0660, 0601}) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", mode);
    INFO(text);
    chmod_or_fail(key, mode);
    const auto from_key = Credentials::from_keyfile(key);
    check_refusal(from_key.status(), key, text);
    CHECK_THAT(from_key.status().message(), Catch::Contains("chmod 600 " + key.string()));
    chmod_or_fail(dir / "pass", mode);
    check_refusal(Credentials::from_passphrase_file(dir / "pass").status(), dir / "pass", text);
  }
  for (mode_t mode : {0600, 0400}) {
    chmod_or_fail(key, mode);
    chmod_or_fail(dir / "pass", mode);
    CHECK(Credentials::from_keyfile(key).is_ok());
    CHECK(Credentials::from_passphrase_file(dir / "pass").is_ok());
  }
  SECTION("owned by another user, even with mode 0600") {
    chmod_or_fail(key, 0600);
    if (give_to_nobody(key)) {
      const auto status = Credentials::from_keyfile(key).status();
      check_refusal(status, key, "0600");
      CHECK_THAT(status.message(), Catch::Contains("owned by uid 65534"));
    }
  }
  SECTION("KEYHOLD_INSECURE_PERMISSIONS=1 accepts it") {
    chmod_or_fail(key, 0644);
    InsecureOverride insecure;
    CHECK(Credentials::from_keyfile(key).is_ok());
  }
}

TEST_CASE("a vault file others can access is refused before SQLite opens it",
          "[vault][permissions]") {
  ScratchDir dir;
  make_keyfile_vault(dir);
  const auto path = dir / "vault.db";
  chmod_or_fail(path, 0644);
  auto opened = Vault::open(path, keyfile_for(dir));
  check_refusal(opened.status(), path, "0644");
  CHECK_THAT(opened.status().message(), Catch::Contains("chmod 600 " + path.string()));
  chmod_or_fail(path, 0600);
  if (give_to_nobody(path)) {
    check_refusal(Vault::open(path, keyfile_for(dir)).status(), path, "0600");
  }
}

TEST_CASE("a -wal or -shm another user made, or made 0666, is refused and never written",
          "[vault][permissions]") {
  for (const char* suffix : {"-wal", "-shm"}) {
    for (const bool foreign_owner : {false, true}) {
      INFO(suffix << (foreign_owner ? " owned by nobody" : " mode 0666"));
      ScratchDir dir;
      make_keyfile_vault(dir);
      const std::filesystem::path side = (dir / "vault.db").string() + suffix;
      std::filesystem::remove(side);  // the vault was closed cleanly: none is there
      std::filesystem::remove((dir / "vault.db").string() + "-wal");
      std::filesystem::remove((dir / "vault.db").string() + "-shm");
      write_file(side, "");
      if (foreign_owner) {
        if (!give_to_nobody(side)) continue;
      } else {
        chmod_or_fail(side, 0666);
      }
      auto opened = Vault::open(dir / "vault.db", keyfile_for(dir));
      check_refusal(opened.status(), side, foreign_owner ? "0600" : "0666");
      CHECK(std::filesystem::file_size(side) == 0);
    }
  }
  SECTION("a symlink in place of -wal") {
    ScratchDir dir;
    make_keyfile_vault(dir);
    const std::filesystem::path wal = (dir / "vault.db").string() + "-wal";
    std::filesystem::remove(wal);
    std::filesystem::create_symlink(dir / "elsewhere", wal);
    CHECK(Vault::open(dir / "vault.db", keyfile_for(dir)).status().code() ==
          ErrorCode::kInsecurePermissions);
    CHECK_FALSE(std::filesystem::exists(dir / "elsewhere"));
  }
  SECTION("creating a vault where a -wal already lies is refused") {
    ScratchDir dir;
    write_file((dir / "new.db").string() + "-wal", "");
    auto key = Credentials::create_keyfile(dir / "k");
    auto created =
        Vault::create(dir / "new.db", key.value(), KdfParams::minimum_for_tests(), test_actor());
    CHECK(created.status().code() == ErrorCode::kAlreadyExists);
    CHECK_THAT(created.status().message(), Catch::Contains("new.db-wal"));
    CHECK_FALSE(std::filesystem::exists(dir / "new.db"));
  }
}

TEST_CASE("a vault directory others can write to is refused unless sticky and ours",
          "[vault][permissions]") {
  ScratchDir dir;
  std::filesystem::create_directory(dir / "v");
  auto key = Credentials::create_keyfile(dir / "k");
  REQUIRE(key.is_ok());
  {
    auto created = Vault::create(dir / "v" / "vault.db", key.value(),
                                 KdfParams::minimum_for_tests(), test_actor());
    REQUIRE(created.is_ok());
  }
  const auto vault_dir = dir / "v";
  for (mode_t mode : {0777, 0770, 0733, 0702}) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", mode);
    INFO(text);
    chmod_or_fail(vault_dir, mode);
    const auto status = Vault::open(vault_dir / "vault.db", key.value()).status();
    check_refusal(status, vault_dir, text);
    CHECK_THAT(status.message(), Catch::Contains("chmod 700 " + vault_dir.string()));
    CHECK(Vault::create(vault_dir / "other.db", key.value(), KdfParams::minimum_for_tests(),
                        test_actor())
              .status()
              .code() == ErrorCode::kInsecurePermissions);
    CHECK_FALSE(std::filesystem::exists(vault_dir / "other.db"));
  }
  chmod_or_fail(vault_dir, 01777);  // like /tmp, but ours
  CHECK(Vault::open(vault_dir / "vault.db", key.value()).is_ok());
  chmod_or_fail(vault_dir, 0700);
  CHECK(Vault::open(vault_dir / "vault.db", key.value()).is_ok());
  SECTION("sticky but another user's, or not writable but another user's") {
    for (mode_t mode : {01777, 0755}) {
      chmod_or_fail(vault_dir, mode);
      if (!give_to_nobody(vault_dir)) break;
      chmod_or_fail(vault_dir, mode);  // chown may clear the sticky bit
      const auto status = Vault::open(vault_dir / "vault.db", key.value()).status();
      check_refusal(status, vault_dir, mode == 01777 ? "1777" : "0755");
      CHECK_THAT(status.message(), Catch::Contains("owned by uid 65534"));
    }
  }
  SECTION("restore into such a directory is refused too") {
    auto opened = Vault::open(vault_dir / "vault.db", key.value());
    REQUIRE(opened->backup(dir / "v.bak", test_actor()).is_ok());
    chmod_or_fail(vault_dir, 0777);
    CHECK(Vault::restore(dir / "v.bak", vault_dir / "restored.db", key.value(), test_actor())
              .code() == ErrorCode::kInsecurePermissions);
    CHECK_FALSE(std::filesystem::exists(vault_dir / "restored.db"));
  }
  SECTION("KEYHOLD_INSECURE_PERMISSIONS=1 accepts it") {
    chmod_or_fail(vault_dir, 0777);
    InsecureOverride insecure;
    CHECK(Vault::open(vault_dir / "vault.db", key.value()).is_ok());
  }
}

}  // namespace
}  // namespace keyhold::vault::testing
