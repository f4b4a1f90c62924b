// Unlocking, passwd and rekey (issue 3 acceptance 4, 6, 7).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "vault_test_support.hpp"

namespace keyhold::vault::testing {
namespace {

std::string file_bytes(const ScratchDir& dir, const std::string& name = "vault.db") {
  auto db = raw_db(dir / name);
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  return read_file(dir / name);
}

std::vector<std::vector<std::uint8_t>> all_blobs(const std::filesystem::path& path) {
  auto db = raw_db(path);
  SQLite::Statement q(db, "SELECT blob FROM versions ORDER BY secret_id, version");
  std::vector<std::vector<std::uint8_t>> out;
  while (q.executeStep()) {
    const auto* p = static_cast<const std::uint8_t*>(q.getColumn(0).getBlob());
    out.emplace_back(p, p + q.getColumn(0).getBytes());
  }
  return out;
}

TEST_CASE("a wrong passphrase gives one clear error and changes nothing", "[vault][keys]") {
  ScratchDir dir;
  {
    auto vault = Vault::create(dir / "vault.db", passphrase("correct horse"),
                               KdfParams::minimum_for_tests(), test_actor());
    REQUIRE(vault.is_ok());
    REQUIRE(vault->put_secret("s", as_bytes("v"), {}, test_actor()).is_ok());
  }
  const std::string before = file_bytes(dir);
  auto wrong = Vault::open(dir / "vault.db", passphrase("wrong horse"));
  REQUIRE_FALSE(wrong.is_ok());
  CHECK(wrong.status().code() == ErrorCode::kUnlockFailed);
  CHECK(wrong.status().message() ==
        "cannot unlock the vault: wrong passphrase or keyfile, or the vault header was modified "
        "(nothing was changed)");
  CHECK(file_bytes(dir) == before);
  auto keyfile = Credentials::create_keyfile(dir / "k");
  REQUIRE(keyfile.is_ok());
  auto kind = Vault::open(dir / "vault.db", keyfile.value());
  CHECK(kind.status().code() == ErrorCode::kUnlockFailed);
  CHECK_THAT(kind.status().message(), Catch::Contains("protected by a passphrase"));
  auto right = Vault::open(dir / "vault.db", passphrase("correct horse"));
  REQUIRE(right.is_ok());
  CHECK(as_string(right->read_secret("s").value()) == "v");
}

TEST_CASE("a wrong keyfile is refused: a malformed keyfile is named", "[vault][keys]") {
  ScratchDir dir;
  make_keyfile_vault(dir);
  auto other = Credentials::create_keyfile(dir / "other.key");
  REQUIRE(other.is_ok());
  CHECK(Vault::open(dir / "vault.db", other.value()).status().code() == ErrorCode::kUnlockFailed);
  write_file(dir / "short.key", "too short");
  auto bad = Credentials::from_keyfile(dir / "short.key");
  CHECK(bad.status().code() == ErrorCode::kInvalidArgument);
  CHECK_THAT(bad.status().message(), Catch::Contains("short.key"));
  CHECK(Credentials::create_keyfile(dir / "other.key").status().code() ==
        ErrorCode::kAlreadyExists);
}

TEST_CASE("edited KDF parameters or header fields are refused", "[vault][keys]") {
  ScratchDir dir;
  {
    auto vault = Vault::create(dir / "vault.db", passphrase("pw"), KdfParams::minimum_for_tests(),
                               test_actor());
    REQUIRE(vault.is_ok());
  }
  const char* edits[] = {
      "UPDATE header SET opslimit = opslimit + 1",
      "UPDATE header SET memlimit = memlimit * 2",
      "UPDATE header SET salt = zeroblob(16)",
      "UPDATE header SET created_at = created_at + 1",
      "UPDATE header SET vault_id = zeroblob(16)",
      "UPDATE header SET wrapped_root = substr(wrapped_root, 1, 40)",
  };
  for (const char* edit : edits) {
    INFO(edit);
    ScratchDir copy;
    std::filesystem::copy_file(dir / "vault.db", copy / "vault.db");
    {
      auto db = raw_db(copy / "vault.db");
      db.exec(edit);
    }
    auto opened = Vault::open(copy / "vault.db", passphrase("pw"));
    REQUIRE_FALSE(opened.is_ok());
    CHECK(opened.status().code() == ErrorCode::kUnlockFailed);
  }
  auto db = raw_db(dir / "vault.db");
  db.exec("UPDATE header SET format = 7");
  CHECK(Vault::open(dir / "vault.db", passphrase("pw")).status().code() == ErrorCode::kUnsupported);
}

TEST_CASE("Argon2id limits beyond what keyhold writes are refused before deriving anything",
          "[vault][keys]") {
  ScratchDir dir;
  {
    auto vault = Vault::create(dir / "vault.db", passphrase("pw"), KdfParams::minimum_for_tests(),
                               test_actor());
    REQUIRE(vault.is_ok());
  }
  const KdfParams high = KdfParams::moderate();
  const std::string edits[] = {
      "UPDATE header SET opslimit = " + std::to_string(high.opslimit + 1),
      "UPDATE header SET memlimit = " + std::to_string(high.memlimit * 2),
      // 4 GiB: in libsodium's range (and under the old 8 GiB cap), so Argon2id used to run.
      "UPDATE header SET memlimit = " + std::to_string(std::uint64_t{4} << 30),
      "UPDATE header SET opslimit = 0",
  };
  for (const std::string& edit : edits) {
    INFO(edit);
    ScratchDir copy;
    std::filesystem::copy_file(dir / "vault.db", copy / "vault.db");
    {
      auto db = raw_db(copy / "vault.db");
      db.exec(edit);
    }
    const auto started = std::chrono::steady_clock::now();
    auto opened = Vault::open(copy / "vault.db", passphrase("pw"));
    const auto took = std::chrono::steady_clock::now() - started;
    REQUIRE_FALSE(opened.is_ok());
    CHECK(opened.status().code() == ErrorCode::kUnlockFailed);
    CHECK_THAT(opened.status().message(),
               Catch::Contains("the vault header was modified") && Catch::Contains("Argon2id"));
    CHECK(took < std::chrono::milliseconds(500));
  }
  CHECK(KdfParams::moderate().within_bounds());
  CHECK(KdfParams::minimum_for_tests().within_bounds());
  CHECK_FALSE(KdfParams{high.opslimit, high.memlimit + 1}.within_bounds());
  CHECK(Vault::create(dir / "strong.db", passphrase("pw"), {high.opslimit + 1, high.memlimit},
                      test_actor())
            .status()
            .code() == ErrorCode::kInvalidArgument);
}

TEST_CASE("an edited unlock_method says that the header was modified", "[vault][keys]") {
  ScratchDir dir;
  make_keyfile_vault(dir);
  {
    auto vault = Vault::create(dir / "pass.db", passphrase("pw"), KdfParams::minimum_for_tests(),
                               test_actor());
    REQUIRE(vault.is_ok());
  }
  const KdfParams low = KdfParams::minimum_for_tests();
  struct Case {
    const char* file;
    std::string edit;
    bool with_keyfile;
    const char* says;
  };
  const Case cases[] = {
      {"vault.db", "UPDATE header SET unlock_method = 'passphrase'", true, "header was modified"},
      {"vault.db", "UPDATE header SET unlock_method = 'passphrase'", false, "header was modified"},
      // Method and limits both edited to look like a passphrase vault: the keyfile still
      // unwraps the original header, so that is what the message says.
      {"vault.db",
       "UPDATE header SET unlock_method = 'passphrase', opslimit = " +
           std::to_string(low.opslimit) + ", memlimit = " + std::to_string(low.memlimit),
       true, "changed from keyfile to passphrase"},
      {"pass.db", "UPDATE header SET unlock_method = 'keyfile'", false, "header was modified"},
      {"pass.db", "UPDATE header SET unlock_method = 'keyfile'", true, "header was modified"},
      {"pass.db", "UPDATE header SET unlock_method = 'token'", false, "unknown unlock method"},
  };
  for (const Case& c : cases) {
    INFO(c.file << ": " << c.edit << (c.with_keyfile ? " (keyfile)" : " (passphrase)"));
    ScratchDir copy;
    std::filesystem::copy_file(dir / c.file, copy / "vault.db");
    {
      auto db = raw_db(copy / "vault.db");
      db.exec(c.edit);
    }
    auto opened = c.with_keyfile ? Vault::open(copy / "vault.db", keyfile_for(dir))
                                 : Vault::open(copy / "vault.db", passphrase("pw"));
    REQUIRE_FALSE(opened.is_ok());
    CHECK(opened.status().code() == ErrorCode::kUnlockFailed);
    CHECK_THAT(opened.status().message(), Catch::Contains(c.says));
    CHECK_THAT(opened.status().message(), !Catch::Contains("was given"));
  }
}

TEST_CASE("a newer schema version is refused with advice", "[vault][keys]") {
  ScratchDir dir;
  make_keyfile_vault(dir);
  {
    auto db = raw_db(dir / "vault.db");
    db.exec("UPDATE schema_version SET version = 99");
  }
  auto opened = Vault::open(dir / "vault.db", keyfile_for(dir));
  CHECK(opened.status().code() == ErrorCode::kUnsupported);
  CHECK_THAT(opened.status().message(), Catch::Contains("upgrade keyhold"));
  write_file(dir / "not-a-vault.db", "this is not sqlite at all, just text padding it out....");
  CHECK_FALSE(Vault::open(dir / "not-a-vault.db", keyfile_for(dir)).is_ok());
}

TEST_CASE("passwd rewraps the root key only: records byte-identical, old passphrase fails",
          "[vault][keys]") {
  ScratchDir dir;
  {
    auto vault = Vault::create(dir / "vault.db", passphrase("old pass"),
                               KdfParams::minimum_for_tests(), test_actor());
    REQUIRE(vault.is_ok());
    for (int i = 0; i < 5; ++i) {
      REQUIRE(vault
                  ->put_secret("s" + std::to_string(i), as_bytes("value" + std::to_string(i)), {},
                               test_actor())
                  .is_ok());
    }
  }
  const auto before = all_blobs(dir / "vault.db");
  {
    auto vault = Vault::open(dir / "vault.db", passphrase("old pass"));
    REQUIRE(vault.is_ok());
    REQUIRE(vault
                ->change_credentials(passphrase("new pass"), KdfParams::minimum_for_tests(),
                                     test_actor())
                .is_ok());
  }
  CHECK(all_blobs(dir / "vault.db") == before);
  CHECK(Vault::open(dir / "vault.db", passphrase("old pass")).status().code() ==
        ErrorCode::kUnlockFailed);
  auto vault = Vault::open(dir / "vault.db", passphrase("new pass"));
  REQUIRE(vault.is_ok());
  CHECK(as_string(vault->read_secret("s3").value()) == "value3");

  SECTION("and can switch to a keyfile") {
    auto keyfile = Credentials::create_keyfile(dir / "new.key");
    REQUIRE(keyfile.is_ok());
    REQUIRE(vault->change_credentials(keyfile.value(), {}, test_actor()).is_ok());
    CHECK(all_blobs(dir / "vault.db") == before);
    auto reopened = Vault::open(dir / "vault.db", keyfile.value());
    REQUIRE(reopened.is_ok());
    CHECK(as_string(reopened->read_secret("s0").value()) == "value0");
  }
}

TEST_CASE("rekey puts every record under the new term and retires the old one", "[vault][keys]") {
  ScratchDir dir;
  Vault vault = make_keyfile_vault(dir);
  for (int i = 0; i < 10; ++i) {
    REQUIRE(vault
                .put_secret("k" + std::to_string(i % 4), as_bytes("v" + std::to_string(i)), {},
                            test_actor())
                .is_ok());
  }
  const auto before = all_blobs(dir / "vault.db");
  auto term = vault.rekey(test_actor());
  REQUIRE(term.is_ok());
  CHECK(term.value() == 2);
  auto db = raw_db(dir / "vault.db");
  CHECK(db.execAndGet("SELECT count(*) FROM versions WHERE term <> 2").getInt64() == 0);
  CHECK(db.execAndGet("SELECT count(*) FROM keyring WHERE term = 1 AND state = 'retired' "
                      "AND wrapped_key IS NULL")
            .getInt64() == 1);
  const auto after = all_blobs(dir / "vault.db");
  REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < after.size(); ++i) CHECK(after[i] != before[i]);
  Vault reopened = std::move(Vault::open(dir / "vault.db", keyfile_for(dir))).value();
  CHECK(as_string(reopened.read_secret("k1").value()) == "v9");
  CHECK(as_string(reopened.read_secret("k1", 1).value()) == "v1");
  CHECK(reopened.summary(0).value().active_key_term == 2);
}

TEST_CASE("kill -9 during rekey leaves a vault whose every secret reads", "[vault][keys]") {
  ScratchDir dir;
  constexpr int kSecrets = 400;
  {
    Vault vault = make_keyfile_vault(dir);
    for (int i = 0; i < kSecrets; ++i) {
      REQUIRE(vault
                  .put_secret("s" + std::to_string(i), as_bytes("value-" + std::to_string(i)), {},
                              test_actor())
                  .is_ok());
    }
  }
  int interrupted = 0;
  for (int round = 0; round < 6; ++round) {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      auto credentials = Credentials::from_keyfile(dir / "vault.db.key");
      if (!credentials.is_ok()) ::_exit(3);
      for (;;) {  // rekey again and again until killed
        auto vault = Vault::open(dir / "vault.db", credentials.value());
        if (!vault.is_ok() || !vault->rekey(test_actor()).is_ok()) ::_exit(4);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + 37 * round));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    if (WIFSIGNALED(status)) ++interrupted;
    auto vault = Vault::open(dir / "vault.db", keyfile_for(dir));
    REQUIRE(vault.is_ok());
    for (int i = 0; i < kSecrets; ++i) {
      auto value = vault->read_secret("s" + std::to_string(i));
      INFO("round " << round << " secret " << i << ": " << value.status().message());
      REQUIRE(value.is_ok());
      REQUIRE(as_string(value.value()) == "value-" + std::to_string(i));
    }
    REQUIRE(vault->verify_audit().value().ok);
  }
  CHECK(interrupted == 6);
}

}  // namespace
}  // namespace keyhold::vault::testing
