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
  ChangeWatch watch(dir.path());
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
  const auto moved = dir.path() / "moved";
  std::filesystem::create_directory(dir / "inner");
  ChangeWatch watch(dir / "inner");
  REQUIRE(watch.active());
  std::filesystem::rename(dir / "inner", moved);
  CHECK(watch.maybe_changed());
  CHECK_FALSE(watch.active());
  CHECK(watch.maybe_changed());  // every later look: the full check
}

TEST_CASE("change watch: no directory, no watch", "[vault][watch]") {
  ScratchDir dir;
  ChangeWatch watch(dir / "missing");
  CHECK_FALSE(watch.active());
  CHECK(watch.maybe_changed());
}

}  // namespace
}  // namespace keyhold::vault::testing
