// Rotation policies and state in the vault (issue 19): the schema 2 -> 3 migration, the
// policy MAC, the lock, and finish_rotation's all-or-nothing label moves.
#include "vault_test_support.hpp"

namespace keyhold::vault::testing {
namespace {

RotationPolicy generate_policy(std::int64_t every = 86400) {
  RotationPolicy policy;
  policy.strategy = "generate";
  policy.every_seconds = every;
  policy.options = R"({"length":24})";
  policy.grace_seconds = 3600;
  return policy;
}

std::int64_t put_pending(Vault& vault, const std::string& name, std::string_view value) {
  PutOptions options;
  options.stage = Stage::kPending;
  options.must_exist = true;
  auto version = vault.put_secret(name, as_bytes(value), options, test_actor(), "rotation.pending");
  REQUIRE(version.is_ok());
  return version.value();
}

TEST_CASE("a schema 2 vault gains the rotation table on open and its audit chain verifies",
          "[vault][schema][rotation]") {
  ScratchDir dir;
  {
    Vault vault = make_keyfile_vault(dir);
    REQUIRE(vault.put_secret("app/token", as_bytes("kh-canary-v2"), {}, test_actor()).is_ok());
  }
  {  // what keyhold of schema 2 wrote: no rotation table
    auto db = raw_db(dir / "vault.db");
    db.exec("DROP TABLE rotation");
    db.exec("UPDATE schema_version SET version = 2");
  }
  auto vault = Vault::open(dir / "vault.db", keyfile_for(dir));
  INFO(vault.status().message());
  REQUIRE(vault.is_ok());
  CHECK(raw_db(dir / "vault.db").execAndGet("SELECT version FROM schema_version").getInt64() == 3);
  const auto entries = vault->read_audit().value();
  CHECK(entries.back().action == "migrate");
  CHECK(entries.back().detail == "schema=3");
  CHECK(vault->verify_audit().value().ok);
  REQUIRE(vault->set_rotation("app/token", generate_policy(), test_actor()).is_ok());
  CHECK(vault->find_rotation("app/token")->policy.strategy == "generate");
  CHECK(as_string(vault->read_secret("app/token").value()) == "kh-canary-v2");
  CHECK(vault->verify_audit().value().ok);
}

TEST_CASE("a rotation policy edited in the file is reported as not authentic",
          "[vault][rotation]") {
  ScratchDir dir;
  Vault vault = make_keyfile_vault(dir);
  REQUIRE(vault.put_secret("app/token", as_bytes("kh-canary-1"), {}, test_actor()).is_ok());
  RotationPolicy policy = generate_policy();
  policy.strategy = "command";
  policy.options = R"({"argv":["/bin/true"]})";
  REQUIRE(vault.set_rotation("app/token", policy, test_actor()).is_ok());
  CHECK(vault.find_rotation("app/token")->authentic);
  CHECK(vault.find_rotation("app/token")->policy.every_seconds == 86400);
  CHECK(vault.find_secret("app/token")->rotate_every_seconds == 86400);
  raw_db(dir / "vault.db").exec(R"(UPDATE rotation SET options = '{"argv":["/bin/sh"]}')");
  auto edited = vault.find_rotation("app/token");
  REQUIRE(edited.is_ok());
  CHECK_FALSE(edited->authentic);
  // State columns are outside the MAC: editing them does not make the policy unusable.
  REQUIRE(vault.set_rotation("app/token", policy, test_actor()).is_ok());
  raw_db(dir / "vault.db").exec("UPDATE rotation SET last_result = 'ok'");
  CHECK(vault.find_rotation("app/token")->authentic);
  CHECK(vault.clear_rotation("app/token", test_actor()).is_ok());
  CHECK(vault.find_rotation("app/token").status().code() == ErrorCode::kNotFound);
  CHECK(vault.clear_rotation("app/token", test_actor()).code() == ErrorCode::kNotFound);
}

TEST_CASE("the rotation lock admits one holder until it finishes or is known dead",
          "[vault][rotation]") {
  ScratchDir dir;
  Vault first = make_keyfile_vault(dir);
  REQUIRE(first.put_secret("app/token", as_bytes("kh-canary-1"), {}, test_actor()).is_ok());
  REQUIRE(first.set_rotation("app/token", generate_policy(), test_actor()).is_ok());
  auto second = Vault::open(dir / "vault.db", keyfile_for(dir));
  REQUIRE(second.is_ok());
  const auto alive = [](const std::string&) { return false; };
  CHECK(first.lock_rotation("app/token", "host-a pid 1", 600, alive).value());
  CHECK_FALSE(second->lock_rotation("app/token", "host-b pid 2", 600, alive).value());
  CHECK(first.lock_rotation("app/token", "host-a pid 1", 600, alive).value());  // re-entrant
  // A holder known to be gone (killed) is replaced before its lease ends.
  CHECK(second
            ->lock_rotation("app/token", "host-b pid 2", 600,
                            [](const std::string& holder) { return holder == "host-a pid 1"; })
            .value());
  CHECK(second->find_rotation("app/token")->lock_owner == "host-b pid 2");
  // finish releases it.
  REQUIRE(second
              ->finish_rotation(
                  "app/token",
                  {.ok = false, .discard_pending = false, .step = "apply", .error = "server down"},
                  "host-b pid 2", test_actor())
              .is_ok());
  CHECK(first.lock_rotation("app/token", "host-a pid 1", 600, alive).value());
}

TEST_CASE("finish_rotation promotes pending, or keeps or discards it, in one audited step",
          "[vault][rotation]") {
  ScratchDir dir;
  Vault vault = make_keyfile_vault(dir);
  REQUIRE(vault.put_secret("app/token", as_bytes("kh-canary-1"), {}, test_actor()).is_ok());
  REQUIRE(vault.set_rotation("app/token", generate_policy(), test_actor()).is_ok());
  const auto alive = [](const std::string&) { return false; };

  // Failure, pending kept: current untouched, the next run sees a rotation in flight.
  const std::int64_t pending = put_pending(vault, "app/token", "kh-canary-2");
  REQUIRE(vault.lock_rotation("app/token", "me", 600, alive).value());
  REQUIRE(vault
              .finish_rotation(
                  "app/token",
                  {.ok = false, .discard_pending = false, .step = "apply", .error = "server down"},
                  "me", test_actor())
              .is_ok());
  auto info = vault.find_rotation("app/token").value();
  CHECK(info.current_version == 1);
  CHECK(info.pending_version == pending);
  CHECK(info.last_result == "failed");
  CHECK(info.last_error == "apply: server down");
  CHECK(info.due(clock_now()));  // a pending version is always due
  CHECK(info.lock_owner.empty());
  CHECK(as_string(vault.read_secret("app/token").value()) == "kh-canary-1");

  // Failure, pending discarded: the label goes, the row stays for `history`.
  REQUIRE(vault
              .finish_rotation(
                  "app/token",
                  {.ok = false, .discard_pending = true, .step = "test", .error = "refused"}, "me",
                  test_actor())
              .is_ok());
  info = vault.find_rotation("app/token").value();
  CHECK_FALSE(info.pending_version);
  CHECK(info.current_version == 1);
  CHECK(vault.list_versions("app/token")->size() == 2);
  CHECK_FALSE(info.due(clock_now()));

  // Success: pending -> current, old current -> previous; exactly one current.
  const std::int64_t next = put_pending(vault, "app/token", "kh-canary-3");
  REQUIRE(vault
              .finish_rotation("app/token",
                               {.ok = true, .discard_pending = false, .step = "", .error = ""},
                               "me", test_actor())
              .is_ok());
  info = vault.find_rotation("app/token").value();
  CHECK(info.current_version == next);
  CHECK(info.previous_version == 1);
  CHECK_FALSE(info.pending_version);
  CHECK(info.last_result == "ok");
  CHECK(as_string(vault.read_secret("app/token").value()) == "kh-canary-3");
  int currents = 0;
  for (const auto& v : vault.list_versions("app/token").value())
    currents += v.stage == Stage::kCurrent;
  CHECK(currents == 1);
  // Without a pending version there is nothing to promote.
  CHECK(vault
            .finish_rotation("app/token",
                             {.ok = true, .discard_pending = false, .step = "", .error = ""}, "me",
                             test_actor())
            .code() == ErrorCode::kNotFound);

  const auto audit = vault.read_audit().value();
  int rotations = 0;
  for (const auto& e : audit) {
    if (e.action == "rotation") ++rotations;
    CHECK(e.detail.find("kh-canary") == std::string::npos);
  }
  CHECK(rotations == 3);
  CHECK(vault.verify_audit().value().ok);
  // Purging the secret takes its policy along.
  REQUIRE(vault.remove_secret("app/token", true, test_actor()).is_ok());
  CHECK(vault.list_rotations()->empty());
}

TEST_CASE("drop_expired_previous erases the previous version only after the grace period",
          "[vault][rotation]") {
  ScratchDir dir;
  Vault vault = make_keyfile_vault(dir);
  REQUIRE(vault.put_secret("app/token", as_bytes("kh-canary-1"), {}, test_actor()).is_ok());
  RotationPolicy policy = generate_policy();
  policy.grace_seconds = 0;
  REQUIRE(vault.set_rotation("app/token", policy, test_actor()).is_ok());
  put_pending(vault, "app/token", "kh-canary-2");
  REQUIRE(vault
              .finish_rotation("app/token",
                               {.ok = true, .discard_pending = false, .step = "", .error = ""},
                               "me", test_actor())
              .is_ok());
  CHECK_FALSE(vault.drop_expired_previous("app/token", test_actor()).value());  // not asked
  policy.drop_previous = true;
  policy.grace_seconds = 3600;
  REQUIRE(vault.set_rotation("app/token", policy, test_actor()).is_ok());
  CHECK_FALSE(vault.drop_expired_previous("app/token", test_actor()).value());  // within grace
  policy.grace_seconds = 0;
  REQUIRE(vault.set_rotation("app/token", policy, test_actor()).is_ok());
  CHECK(vault.drop_expired_previous("app/token", test_actor()).value());
  CHECK(vault.list_versions("app/token")->size() == 1);
  CHECK(vault.read_secret("app/token", 1).status().code() == ErrorCode::kNotFound);
  CHECK(as_string(vault.read_secret("app/token").value()) == "kh-canary-2");
  CHECK(vault.verify_audit().value().ok);
}

}  // namespace
}  // namespace keyhold::vault::testing
