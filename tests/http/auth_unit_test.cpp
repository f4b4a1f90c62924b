// Unit tests of host/auth: token text, allowlist globs, bearer header parsing, the rate
// limiter, the token store and the verifier on a real (temporary) vault, and the [http]
// config keys.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "auth/rate_limiter.hpp"
#include "auth/token_store.hpp"
#include "auth/token_text.hpp"
#include "auth/token_verifier.hpp"
#include "config/config.hpp"
#include "secrets/audit_queue.hpp"

using namespace keyhold;
using namespace keyhold::auth;

namespace {

// A fresh keyfile vault in a temp dir, removed at the end of the test.
struct TempVault {
  std::filesystem::path dir;
  std::optional<vault::Vault> v;
  TempVault() {
    char pattern[] = "/tmp/keyhold-auth-test-XXXXXX";
    dir = ::mkdtemp(pattern);
    auto credentials = vault::Credentials::create_keyfile(dir / "k");
    REQUIRE(credentials.is_ok());
    auto created = vault::Vault::create(dir / "vault.db", credentials.value(),
                                        vault::KdfParams::minimum_for_tests(), {"test", ""});
    REQUIRE(created.is_ok());
    v.emplace(std::move(created).value());
  }
  vault::Vault reopen() const {
    auto credentials = vault::Credentials::from_keyfile(dir / "k");
    auto opened = vault::Vault::open(dir / "vault.db", credentials.value());
    REQUIRE(opened.is_ok());
    return std::move(opened).value();
  }
  ~TempVault() {
    v.reset();
    std::filesystem::remove_all(dir);
  }
};

const vault::AuditContext kWho{"test", ""};

}  // namespace

TEST_CASE("generated tokens have the kh_ shape and differ") {
  auto a = generate_token();
  auto b = generate_token();
  CHECK(a.size() == kTokenTextSize);
  CHECK(looks_like_token(a.view()));
  CHECK(a.view().starts_with("kh_"));
  CHECK_FALSE(a.equals(b));
  CHECK_FALSE(looks_like_token("kh_short"));
  CHECK_FALSE(looks_like_token(std::string("xx_") + std::string(43, 'a')));
  CHECK_FALSE(looks_like_token(std::string("kh_") + std::string(42, 'a') + "!"));
}

TEST_CASE("token names and tool globs are validated") {
  CHECK_FALSE(validate_token_name("ci-runner.prod_2"));
  CHECK(validate_token_name(""));
  CHECK(validate_token_name("has space"));
  CHECK(validate_token_name("a/b"));
  CHECK(validate_token_name("-flag"));
  CHECK(validate_token_name(std::string(65, 'a')));
  CHECK_FALSE(validate_tool_glob("echo_*"));
  CHECK(validate_tool_glob(""));
  CHECK(validate_tool_glob("echo *"));
}

TEST_CASE("tool allowlists match globs, and an empty list allows everything") {
  const std::vector<std::string> globs = {"echo_*", "sql_query"};
  CHECK(tool_allowed_by(globs, "echo_echo"));
  CHECK(tool_allowed_by(globs, "sql_query"));
  CHECK_FALSE(tool_allowed_by(globs, "sql_execute"));
  CHECK_FALSE(tool_allowed_by(globs, "xecho_echo"));
  CHECK(tool_allowed_by({}, "anything"));
  CHECK(tool_allowed_by({"echo_?dd"}, "echo_add"));
}

TEST_CASE("bearer credentials are taken from the Authorization header") {
  CHECK(bearer_credentials("Bearer abc") == "abc");
  CHECK(bearer_credentials("bearer  abc ") == "abc");
  CHECK(bearer_credentials("BEARER abc") == "abc");
  CHECK_FALSE(bearer_credentials("Basic YTpi"));
  CHECK_FALSE(bearer_credentials("Bearer"));
  CHECK_FALSE(bearer_credentials("Bearerabc"));
  CHECK_FALSE(bearer_credentials(""));
}

TEST_CASE("the rate limiter lets a burst through, then refills at the rate") {
  RateLimiter limiter({/*rate=*/2, /*burst=*/3});
  const auto t0 = RateLimiter::Clock::now();
  std::chrono::seconds retry{0};
  CHECK(limiter.try_acquire("a", t0, &retry));
  CHECK(limiter.try_acquire("a", t0, &retry));
  CHECK(limiter.try_acquire("a", t0, &retry));
  CHECK_FALSE(limiter.try_acquire("a", t0, &retry));
  CHECK(retry == std::chrono::seconds(1));
  CHECK(limiter.try_acquire("b", t0, &retry));  // each key has its own bucket
  CHECK(limiter.try_acquire("a", t0 + std::chrono::milliseconds(500), &retry));
  CHECK_FALSE(limiter.try_acquire("a", t0 + std::chrono::milliseconds(500), &retry));
  // Never more than the burst, however long the pause.
  const auto later = t0 + std::chrono::hours(1);
  for (int i = 0; i < 3; ++i) CHECK(limiter.try_acquire("a", later, &retry));
  CHECK_FALSE(limiter.try_acquire("a", later, &retry));
}

TEST_CASE("the audit queue never blocks and summarises what did not fit") {
  std::mutex mutex;
  std::condition_variable changed;
  bool entered = false, release = false;
  std::vector<std::string> written;
  {
    vault::AuditEntry summary;
    summary.detail = "authentication failures";
    secrets::AuditQueue queue(
        [&](std::span<const vault::AuditEntry> batch) {
          for (const auto& entry : batch) {
            std::unique_lock lock(mutex);
            written.push_back(entry.detail);
            entered = true;
            changed.notify_all();
            changed.wait(lock, [&] { return release; });  // a slow vault
          }
        },
        /*capacity=*/3, summary);
    queue.push({0, 0, "http", "http.auth", "", "", "", "", "denied", "first"});
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return entered; });
    }
    for (int i = 0; i < 8; ++i)  // 3 fit, 5 are counted
      queue.push({0, 0, "http", "http.auth", "", "", "", "", "denied", std::to_string(i)});
    {
      std::lock_guard lock(mutex);
      release = true;
    }
    changed.notify_all();
  }  // the destructor writes what is queued
  REQUIRE(written.size() == 5);
  CHECK(written[0] == "first");
  CHECK(written[1] == "0");
  CHECK(written[3] == "2");
  CHECK(written[4] == "5 further entries not itemised (audit queue full): authentication failures");
}

TEST_CASE("tokens are stored as keyed hashes and verified against the vault") {
  TempVault tv;
  auto token = create_token(*tv.v, {"ci", {"echo_*"}, std::nullopt}, 1000, kWho);
  REQUIRE(token.is_ok());
  const std::string text(token->view());

  // The vault holds the record and the key, but nowhere the token text.
  auto record = tv.v->read_secret(token_secret_name("ci"));
  REQUIRE(record.is_ok());
  CHECK(record->view().find(text) == std::string_view::npos);
  CHECK(record->view().find(text.substr(3)) == std::string_view::npos);
  CHECK(tv.v->find_secret(kTokenKeySecret).is_ok());

  auto listed = list_tokens(*tv.v);
  REQUIRE(listed.is_ok());
  REQUIRE(listed->size() == 1);
  CHECK(listed->at(0).name == "ci");
  CHECK(listed->at(0).tools == std::vector<std::string>{"echo_*"});
  CHECK(listed->at(0).state(2000) == std::string("active"));

  // A second active token of the same name is refused.
  CHECK(create_token(*tv.v, {"ci", {}, std::nullopt}, 1000, kWho).status().code() ==
        vault::ErrorCode::kAlreadyExists);
  CHECK(create_token(*tv.v, {"bad name", {}, std::nullopt}, 1000, kWho).status().code() ==
        vault::ErrorCode::kInvalidArgument);

  TokenVerifier verifier(tv.reopen());
  REQUIRE(verifier.load().is_ok());
  auto valid = verifier.verify(text, 2000);
  CHECK(valid.outcome == TokenVerifier::Outcome::kValid);
  REQUIRE(valid.token);
  CHECK(valid.token->name == "ci");
  CHECK(verifier.verify("", 2000).outcome == TokenVerifier::Outcome::kMissing);
  CHECK(verifier.verify("kh_nope", 2000).outcome == TokenVerifier::Outcome::kMalformed);
  std::string other = text;
  other[10] = other[10] == 'A' ? 'B' : 'A';
  CHECK(verifier.verify(other, 2000).outcome == TokenVerifier::Outcome::kUnknown);

  // Revocation through another handle (another process, in real life) is seen at once.
  REQUIRE(revoke_token(*tv.v, "ci", 3000, kWho).is_ok());
  auto revoked = verifier.verify(text, 3001);
  CHECK(revoked.outcome == TokenVerifier::Outcome::kRevoked);
  REQUIRE(revoked.token);
  CHECK(revoked.token->name == "ci");
  CHECK(revoke_token(*tv.v, "nobody", 3000, kWho).code() == vault::ErrorCode::kNotFound);

  // The name is free again after revocation; the old token stays refused.
  auto renewed = create_token(*tv.v, {"ci", {}, std::int64_t{60}}, 4000, kWho);
  REQUIRE(renewed.is_ok());
  CHECK(verifier.verify(renewed->view(), 4001).outcome == TokenVerifier::Outcome::kValid);
  CHECK(verifier.verify(text, 4001).outcome == TokenVerifier::Outcome::kUnknown);
  CHECK(verifier.verify(renewed->view(), 4060).outcome == TokenVerifier::Outcome::kExpired);
}

TEST_CASE("[http] config keys: timeouts, connection cap, rate limit") {
  std::string error;
  auto config = parse_config(R"(
[http]
read_timeout = "2s"
session_idle_timeout = 600
max_connections = 16
rate_limit = { rate = 5, burst = 10 }
)",
                             "k.toml");
  INFO(config.status().message());
  REQUIRE(config.is_ok());
  CHECK(config->http.read_timeout_seconds == 2);
  CHECK(config->http.session_idle_timeout_seconds == 600);
  CHECK(config->http.max_connections == 16);
  CHECK(config->http.rate_limit_rate == 5);
  CHECK(config->http.rate_limit_burst == 10);

  auto defaults = parse_config("", "k.toml");
  REQUIRE(defaults.is_ok());
  CHECK(defaults->http.auth);
  CHECK(defaults->http.read_timeout_seconds == 30);
  CHECK(defaults->http.rate_limit_rate == 20);
  CHECK(defaults->http.rate_limit_burst == 40);

  error = parse_config("[http]\nread_timeout = \"soon\"\n", "k.toml").status().message();
  CHECK(error ==
        "k.toml:2: http.read_timeout must be a duration like \"30s\", \"5m\" or \"1h\", or a "
        "positive number of seconds");
  error = parse_config("[http]\nrate_limit = { rate = 0 }\n", "k.toml").status().message();
  CHECK_THAT(error, Catch::StartsWith("k.toml:2: http.rate_limit must be a table"));
  CHECK_FALSE(parse_config("[http]\nrate_limit = { rate = 1, brust = 2 }\n", "k.toml").is_ok());
}
