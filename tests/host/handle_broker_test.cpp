// The handle broker against a real vault in a temp dir: handles bind to one instance,
// every use re-checks the grant (a revoke acts at once), sign derives keys without
// handing out the secret, env values go only to the administrator's commands, and every
// use is audited. Values here are canaries; none may appear in a message or audit row.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include "loader/abi_status.hpp"
#include "secrets/handle_broker.hpp"
#include "secrets/signing.hpp"

using namespace keyhold;
using namespace keyhold::secrets;

namespace {

constexpr std::string_view kCanary = "CANARY-broker-7f3a9c";
const vault::AuditContext kWho{"test", ""};

std::span<const std::uint8_t> bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// A keyfile vault holding "team/db" = kCanary, shared like serve shares it. Grants,
// revokes and rotations are made by the real `keyhold vault` CLI in another process, as
// an administrator makes them: the broker notices another connection's commits through
// SQLite's data_version (its own connection's commits do not move it).
struct Fixture {
  std::filesystem::path dir;
  std::shared_ptr<SharedVault> vault;
  std::optional<HandleBroker> broker;
  Fixture() {
    char pattern[] = "/tmp/keyhold-broker-test-XXXXXX";
    dir = ::mkdtemp(pattern);
    auto key = vault::Credentials::create_keyfile(dir / "k");
    REQUIRE(key.is_ok());
    auto created = vault::Vault::create(dir / "vault.db", key.value(),
                                        vault::KdfParams::minimum_for_tests(), kWho);
    REQUIRE(created.is_ok());
    REQUIRE(created.value().put_secret("team/db", bytes(kCanary), {}, kWho).is_ok());
    vault = std::make_shared<SharedVault>(std::move(created).value());
    broker.emplace(vault);
  }
  ~Fixture() {
    broker.reset();
    vault.reset();
    std::filesystem::remove_all(dir);
  }
  // Runs `keyhold vault ARGS` on this vault; REQUIREs exit code 0.
  void admin(const std::string& args) {
    const std::string command = "KEYHOLD_VAULT='" + (dir / "vault.db").string() +
                                "' KEYHOLD_KEYFILE='" + (dir / "k").string() + "' '" +
                                KEYHOLD_TEST_KEYHOLD_BIN + "' vault " + args + " 2>/dev/null";
    INFO(command);
    REQUIRE(std::system(command.c_str()) == 0);
  }
  void grant(const std::string& instance, const std::string& ops) {
    admin("grant " + instance + " team/db --ops " + ops);
  }
  void revoke(const std::string& instance) { admin("revoke " + instance + " team/db"); }
  std::vector<vault::AuditEntry> audit() {
    broker->flush_audit();
    auto rows = vault->with([](vault::Vault& v) { return v.read_audit(); });
    REQUIRE(rows.is_ok());
    return std::move(rows).value();
  }
};

const kh_secret_decl kDecls[] = {
    {"db", "the database password", KH_SECRET_OP_REVEAL | KH_SECRET_OP_SIGN | KH_SECRET_OP_ENV},
};

kh_plugin plugin_declaring_db() {
  kh_plugin p{};
  p.struct_size = sizeof p;
  p.name = "test";
  p.secrets = kDecls;
  p.secret_count = 1;
  return p;
}

void bind(HandleBroker& broker, const std::string& instance,
          std::vector<std::vector<std::string>> env_commands = {}) {
  const auto plugin = plugin_declaring_db();
  const Status bound =
      broker.bind_instance(instance, plugin, {{"db", {"vault:team/db", env_commands}}});
  INFO(bound.message());
  REQUIRE(bound.is_ok());
}

// The broker's answers as a plugin sees them at the ABI edge: a KH_* code, the result in
// *out.
kh_status acquire(HandleBroker& broker, const std::string& instance, const char* request_id,
                  kh_secret_handle* out) {
  auto acquired = broker.acquire(instance, "db", request_id);
  if (acquired.is_ok()) *out = *acquired;
  return to_kh_status(acquired.status());
}

kh_status sign(HandleBroker& broker, const std::string& instance, kh_secret_handle handle,
               std::string_view algorithm, std::string_view data, std::string* out) {
  auto signature = broker.sign(instance, handle, algorithm, data, "r1");
  if (signature.is_ok()) *out = *signature;
  return to_kh_status(signature.status());
}

std::optional<std::string> reveal(HandleBroker& broker, const std::string& instance,
                                  kh_secret_handle handle) {
  std::string seen;
  const auto copy = [](void* user, const unsigned char* value, size_t size) {
    static_cast<std::string*>(user)->assign(reinterpret_cast<const char*>(value), size);
  };
  if (!broker.reveal(instance, handle, "r1", copy, &seen).is_ok()) return std::nullopt;
  return seen;
}

}  // namespace

TEST_CASE("broker: without a grant nothing is handed out; with one, reveal gives the value") {
  Fixture f;
  bind(*f.broker, "a");
  kh_secret_handle handle{};
  CHECK(acquire(*f.broker, "a", "r1", &handle) == KH_NOT_GRANTED);
  f.grant("a", "reveal");
  REQUIRE(acquire(*f.broker, "a", "r1", &handle) == KH_OK);
  CHECK(reveal(*f.broker, "a", handle) == std::string(kCanary));
  CHECK(to_kh_status(f.broker->release("a", handle)) == KH_OK);
  CHECK_FALSE(reveal(*f.broker, "a", handle));  // a released handle is dead
}

TEST_CASE("broker: a handle works only for the instance that acquired it") {
  Fixture f;
  bind(*f.broker, "a");
  bind(*f.broker, "b");
  f.grant("a", "reveal");
  kh_secret_handle handle{};
  REQUIRE(acquire(*f.broker, "a", "r1", &handle) == KH_OK);
  CHECK_FALSE(reveal(*f.broker, "b", handle));
  std::string out;
  CHECK(sign(*f.broker, "b", handle, "hmac-sha256", "m", &out) != KH_OK);
  CHECK(to_kh_status(f.broker->release("b", handle)) != KH_OK);
  CHECK(reveal(*f.broker, "a", handle) == std::string(kCanary));  // still the owner's
  const kh_secret_handle forged{handle.hi ^ 1, handle.lo};
  CHECK_FALSE(reveal(*f.broker, "a", forged));
}

TEST_CASE("broker: a revoke acts on the next use of a handle already held") {
  Fixture f;
  bind(*f.broker, "a");
  f.grant("a", "reveal");
  kh_secret_handle handle{};
  REQUIRE(acquire(*f.broker, "a", "r1", &handle) == KH_OK);
  REQUIRE(reveal(*f.broker, "a", handle));
  f.revoke("a");
  CHECK_FALSE(reveal(*f.broker, "a", handle));
}

TEST_CASE("broker: sign needs the sign operation and never returns the secret") {
  Fixture f;
  bind(*f.broker, "a");
  f.grant("a", "reveal");
  kh_secret_handle handle{};
  REQUIRE(acquire(*f.broker, "a", "r1", &handle) == KH_OK);
  std::string out;
  CHECK(sign(*f.broker, "a", handle, "hmac-sha256", "m", &out) == KH_NOT_GRANTED);
  f.grant("a", "sign");  // replaces the reveal grant: sign only
  CHECK_FALSE(reveal(*f.broker, "a", handle));
  REQUIRE(sign(*f.broker, "a", handle, "hmac-sha256", "message", &out) == KH_OK);
  unsigned char expected[kMacBytes];
  hmac_sha256(bytes(kCanary), "message", expected);
  CHECK(out == std::string(reinterpret_cast<const char*>(expected), kMacBytes));
  REQUIRE(sign(*f.broker, "a", handle, "aws4-signing-key",
               R"({"date":"20150830","region":"us-east-1","service":"iam"})", &out) == KH_OK);
  aws4_signing_key(bytes(kCanary), {"20150830", "us-east-1", "iam"}, expected);
  CHECK(out == std::string(reinterpret_cast<const char*>(expected), kMacBytes));
  CHECK(out.find(kCanary) == std::string::npos);
  CHECK(sign(*f.broker, "a", handle, "aws4-signing-key", "{}", &out) == KH_INVALID_ARGUMENT);
  CHECK(sign(*f.broker, "a", handle, "md5", "m", &out) == KH_INVALID_ARGUMENT);
}

TEST_CASE("broker: env values go only to the administrator's commands") {
  Fixture f;
  bind(*f.broker, "a", {{"npm", "test"}});
  f.grant("a", "env");
  auto refused = f.broker->value_for_env("a", "db", {"sh", "-c", "env"}, "r1");
  CHECK(to_kh_status(refused.status()) == KH_NOT_GRANTED);
  CHECK(refused.status().message().find(kCanary) == std::string::npos);
  CHECK(to_kh_status(f.broker->value_for_env("a", "db", {"npm"}, "r1").status()) == KH_NOT_GRANTED);
  auto value = f.broker->value_for_env("a", "db", {"npm", "test", "--", "x"}, "r1");
  REQUIRE(value.is_ok());
  CHECK(value->view() == kCanary);
}

TEST_CASE("broker: binding refuses undeclared aliases and missing secrets, naming the alias") {
  Fixture f;
  const auto plugin = plugin_declaring_db();
  const Status undeclared =
      f.broker->bind_instance("a", plugin, {{"other", {"vault:team/db", {}}}});
  CHECK_FALSE(undeclared.is_ok());
  CHECK(undeclared.message().find("other") != std::string::npos);
  const Status missing = f.broker->bind_instance("a", plugin, {{"db", {"vault:team/none", {}}}});
  CHECK_FALSE(missing.is_ok());
  CHECK(missing.message().find("db") != std::string::npos);
  const Status malformed = f.broker->bind_instance("a", plugin, {{"db", {"nowhere:x", {}}}});
  CHECK_FALSE(malformed.is_ok());
  CHECK_FALSE(malformed.message().empty());
}

TEST_CASE("broker: every use is audited, and no audit row carries the value") {
  Fixture f;
  bind(*f.broker, "a");
  kh_secret_handle handle{};
  CHECK(acquire(*f.broker, "a", "req-denied", &handle) == KH_NOT_GRANTED);
  f.grant("a", "reveal");
  REQUIRE(acquire(*f.broker, "a", "req-ok", &handle) == KH_OK);
  REQUIRE(reveal(*f.broker, "a", handle));
  bool denied = false, acquired = false, revealed = false;
  for (const auto& row : f.audit()) {
    for (const auto* field : {&row.actor, &row.action, &row.secret, &row.instance, &row.operation,
                              &row.request_id, &row.outcome, &row.detail})
      CHECK(field->find(kCanary) == std::string::npos);
    if (row.action == "handle.acquire" && row.outcome == "denied") denied = true;
    if (row.action == "handle.acquire" && row.outcome == "ok") acquired = true;
    if (row.action == "handle.reveal" && row.outcome == "ok") revealed = true;
  }
  CHECK(denied);
  CHECK(acquired);
  CHECK(revealed);
}

TEST_CASE(
    "broker: a pending version is releasable, and forget_cached reports a same-connection write") {
  Fixture f;
  bind(*f.broker, "a");
  f.grant("a", "reveal");
  int changes = 0;
  f.broker->set_change_listener([&] { ++changes; });
  f.broker->check_for_change();
  // A rotation in flight, written through the broker's own connection (as a host-side
  // writer would): data_version does not move for it, forget_cached says so.
  constexpr std::string_view kPending = "CANARY-broker-pending-7e8f";
  vault::PutOptions pending;
  pending.stage = vault::Stage::kPending;
  REQUIRE(f.vault
              ->with([&](vault::Vault& v) {
                return v.put_secret("team/db", bytes(kPending), pending, kWho, "rotation.pending");
              })
              .is_ok());
  CHECK_FALSE(f.broker->check_for_change());
  CHECK(changes == 0);
  f.broker->forget_cached();
  CHECK(changes == 1);
  std::set<std::string> values;
  for (const auto& known : f.broker->releasable_values())
    values.emplace(reinterpret_cast<const char*>(known.value.data()), known.value.size());
  CHECK(values == std::set<std::string>{std::string(kCanary), std::string(kPending)});
}

TEST_CASE("broker: releasable values follow a rotation once the vault moves") {
  Fixture f;
  bind(*f.broker, "a");
  f.grant("a", "reveal");
  auto labels = f.broker->releasable_values();
  REQUIRE(labels.size() == 1);
  CHECK(labels[0].label == "db");
  constexpr std::string_view kRotated = "CANARY-broker-rotated-1c2d";
  f.broker->check_for_change();  // the broker's starting point
  REQUIRE(::setenv("KEYHOLD_TEST_ROTATED", std::string(kRotated).c_str(), 1) == 0);
  f.admin("rotate team/db --from-env KEYHOLD_TEST_ROTATED");
  ::unsetenv("KEYHOLD_TEST_ROTATED");
  CHECK(f.broker->check_for_change());
  // The new value, and the previous one (a plugin may still hold it), both as "db".
  std::set<std::string> values;
  for (const auto& known : f.broker->releasable_values()) {
    CHECK(known.label == "db");
    values.emplace(reinterpret_cast<const char*>(known.value.data()), known.value.size());
  }
  CHECK(values == std::set<std::string>{std::string(kCanary), std::string(kRotated)});
}
