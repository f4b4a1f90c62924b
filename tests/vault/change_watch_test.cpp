// ChangeWatch: the directory watch that lets Vault::data_version() skip its full check. It
// must say "maybe changed" after every change in the directory and, once it can no longer
// see every change, for good.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "change_watch.hpp"
#include "vault_test_support.hpp"

namespace keyhold::vault::testing {
namespace {

void touch(const std::filesystem::path& path, const char* text) {
  std::ofstream(path, std::ios::app) << text;
}

TEST_CASE("change watch: quiet until something in the directory changes", "[vault][watch]") {
  ScratchDir dir;
  touch(dir / "vault.db", "");
  ChangeWatch watch(dir / "vault.db");
  REQUIRE(watch.active());
  CHECK_FALSE(watch.maybe_changed());
  touch(dir / "vault.db-wal", "frame");  // a commit
  CHECK(watch.maybe_changed());
  CHECK_FALSE(watch.maybe_changed());                               // drained
  std::filesystem::rename(dir / "vault.db-wal", dir / "vault.db");  // a restore's rename
  CHECK(watch.maybe_changed());
  std::filesystem::remove(dir / "vault.db");  // SQLite's cleanup of -wal and -shm
  CHECK(watch.maybe_changed());
  CHECK_FALSE(watch.maybe_changed());
}

TEST_CASE("change watch: a moved directory turns the watch off for good", "[vault][watch]") {
  ScratchDir dir;
  std::filesystem::create_directory(dir / "inner");
  touch(dir / "inner" / "vault.db", "");
  ChangeWatch watch(dir / "inner" / "vault.db");
  REQUIRE(watch.active());
  std::filesystem::rename(dir / "inner", dir / "moved");
  CHECK(watch.maybe_changed());
  CHECK_FALSE(watch.active());
  CHECK(watch.maybe_changed());  // every later look: the full check
}

TEST_CASE("change watch: a directory above the vault changing is a change", "[vault][watch]") {
  ScratchDir dir;
  std::filesystem::create_directories(dir / "a" / "b");
  touch(dir / "a" / "b" / "vault.db", "");
  ChangeWatch watch(dir / "a" / "b" / "vault.db");
  REQUIRE(watch.active());
  CHECK_FALSE(watch.maybe_changed());
  // Another tree put where the path leads: a sibling made in an ancestor is seen...
  std::filesystem::create_directories(dir / "a2" / "b");
  CHECK(watch.maybe_changed());
  // ...and so is the swap of the ancestor itself.
  std::filesystem::rename(dir / "a", dir / "a-old");
  CHECK(watch.maybe_changed());
  std::filesystem::rename(dir / "a2", dir / "a");
  CHECK(watch.maybe_changed());
}

TEST_CASE("change watch: no watch for a symlinked or missing path", "[vault][watch]") {
  ScratchDir dir;
  std::filesystem::create_directory(dir / "real");
  touch(dir / "real" / "vault.db", "");
  std::filesystem::create_directory_symlink(dir / "real", dir / "link");
  ChangeWatch through_link(dir / "link" / "vault.db");
  CHECK_FALSE(through_link.active());
  CHECK(through_link.maybe_changed());
  std::filesystem::create_symlink(dir / "real" / "vault.db", dir / "vault-link.db");
  ChangeWatch file_link(dir / "vault-link.db");
  CHECK_FALSE(file_link.active());
  ChangeWatch missing(dir / "missing" / "vault.db");
  CHECK_FALSE(missing.active());
  CHECK(missing.maybe_changed());
  ChangeWatch direct(dir / "real" / "vault.db");
  CHECK(direct.active());
}

}  // namespace
}  // namespace keyhold::vault::testing
