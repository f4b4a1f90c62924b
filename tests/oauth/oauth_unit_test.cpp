// Unit tests of the OAuth room's pure parts: the [oauth.NAME] config, the URL helpers, PKCE
// (against an independent SHA-256), the token record, the `oauth:` source, and the loopback
// listener's checks of state and iss, over a real socket.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "config/config.hpp"
#include "keyhold/vault/vault.hpp"
#include "oauth/client_registration.hpp"
#include "oauth/loopback_redirect.hpp"
#include "oauth/pkce.hpp"
#include "oauth/provider_metadata.hpp"
#include "oauth/resource_metadata.hpp"
#include "oauth/token_manager.hpp"
#include "oauth/token_record.hpp"
#include "oauth/url_text.hpp"
#include "oauth/user_authorizations.hpp"
#include "secrets/secret_source.hpp"
#include "vault_test_support.hpp"

using namespace keyhold;

namespace {

// The message a refused config fails with ("" when it parses).
std::string refusal(const std::string& text) {
  return parse_config(text, "k.toml").status().message();
}

// Sends "GET target" to port and returns the status line of the answer.
std::string get(std::uint16_t port, const std::string& target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return "connect failed";
  }
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  (void)!::write(fd, request.data(), request.size());
  char buffer[512] = {};
  const ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
  ::close(fd);
  std::string answer(buffer, n > 0 ? static_cast<std::size_t>(n) : 0);
  return answer.substr(0, answer.find("\r\n"));
}

std::uint16_t port_of(const std::string& redirect_uri) {
  const auto colon = redirect_uri.rfind(':');
  return static_cast<std::uint16_t>(std::stoi(redirect_uri.substr(colon + 1)));
}

// Runs one wait() against the requests of send (made from another thread).
Result<oauth::AuthorizationResponse> callback(const oauth::ExpectedCallback& expected,
                                              const std::vector<std::string>& targets,
                                              std::vector<std::string>* answers) {
  auto listener = oauth::LoopbackRedirect::open();
  REQUIRE(listener.is_ok());
  const std::uint16_t port = port_of(listener.value().redirect_uri());
  std::thread client([&] {
    for (const auto& t : targets) answers->push_back(get(port, t));
  });
  auto result = listener.value().wait(expected, std::chrono::seconds(10));
  client.join();
  return result;
}

}  // namespace

TEST_CASE("an [oauth.NAME] table is read with its defaults", "[oauth][config]") {
  auto config = parse_config(
      "[oauth.gh]\nissuer = \"https://github.com\"\nclient_id = \"abc\"\n"
      "client_secret = \"vault:oauth/gh-secret\"\nscopes = [\"repo\", \"read:org\"]\n"
      "refresh_margin = \"2m\"\n",
      "k.toml");
  REQUIRE(config.is_ok());
  const auto& gh = config->oauth.at("gh");
  CHECK(gh.issuer == "https://github.com");
  CHECK(gh.client_secret == "vault:oauth/gh-secret");
  CHECK(gh.scopes == std::vector<std::string>{"repo", "read:org"});
  CHECK(gh.refresh_margin_seconds == 120);
  CHECK(gh.login_timeout_seconds == 300);
}

TEST_CASE("a client secret written into the config is refused", "[oauth][config]") {
  CHECK(refusal("[oauth.gh]\ntoken_endpoint = \"https://x/t\"\nclient_id = \"a\"\n"
                "client_secret = \"s3cr3t\"\n") ==
        "k.toml:4: oauth.gh.client_secret must be a reference (\"vault:NAME\", \"env:VAR\" or "
        "\"file:PATH\"), never the secret itself");
}

TEST_CASE("a provider needs a client_id and an issuer or token endpoint", "[oauth][config]") {
  CHECK(refusal("[oauth.gh]\nissuer = \"https://github.com\"\n") ==
        "k.toml:1: oauth.gh.client_id is required");
  CHECK(refusal("[oauth.gh]\nclient_id = \"a\"\n") ==
        "k.toml:1: oauth.gh needs an issuer (for metadata discovery) or a token_endpoint");
  CHECK(refusal("[oauth.gh]\nclient_id = \"a\"\nissuer = \"https://x\"\nscope = [\"a\"]\n")
            .find("unknown key 'scope'") != std::string::npos);
}

TEST_CASE("PKCE S256 is base64url(SHA-256(verifier)) without padding", "[oauth]") {
  // Computed independently with Node's crypto: createHash('sha256').digest('base64url').
  CHECK(oauth::s256_challenge("dBjftJeZ4CVP-mJ92K9FqTv7Ce_Z9MHYhm3oRx7qx4k") ==
        "y4-_q0sP9TE37Z8LLywCHSwj3bK5otT-r6wpyLvZ1AQ");
  const auto pkce = oauth::make_pkce();
  CHECK(pkce.verifier.size() == 43);
  CHECK(pkce.challenge == oauth::s256_challenge(pkce.verifier));
  CHECK(oauth::make_pkce().verifier != pkce.verifier);
}

TEST_CASE("queries: decoded, and a repeated parameter is refused", "[oauth]") {
  auto q = oauth::parse_query("code=a%2Fb&state=x+y&iss=https%3A%2F%2Fh");
  REQUIRE(q);
  CHECK(q->at("code") == "a/b");
  CHECK(q->at("state") == "x y");
  CHECK(q->at("iss") == "https://h");
  CHECK_FALSE(oauth::parse_query("code=a&code=b"));
  CHECK_FALSE(oauth::parse_query("code=%4"));
  CHECK(oauth::form_encode({{"a b", "c/d"}}) == "a%20b=c%2Fd");
}

TEST_CASE("metadata is looked up where RFC 8414, OIDC discovery and the MCP spec put it",
          "[oauth]") {
  CHECK(oauth::metadata_urls("https://a.example") ==
        std::vector<std::string>{"https://a.example/.well-known/oauth-authorization-server",
                                 "https://a.example/.well-known/openid-configuration"});
  CHECK(oauth::metadata_urls("https://a.example/tenant/") ==
        std::vector<std::string>{"https://a.example/.well-known/oauth-authorization-server/tenant",
                                 "https://a.example/.well-known/openid-configuration/tenant",
                                 "https://a.example/tenant/.well-known/openid-configuration"});
  CHECK(oauth::secure_or_loopback("https://x.example/t"));
  CHECK(oauth::secure_or_loopback("http://127.0.0.1:8080/t"));
  CHECK_FALSE(oauth::secure_or_loopback("http://x.example/t"));
  CHECK_FALSE(oauth::secure_or_loopback("http://127.0.0.1@x.example/t"));
}

TEST_CASE("oauth:NAME is a source, and vault: may not name a token record", "[oauth]") {
  auto source = secrets::SecretSource::parse("oauth:github");
  REQUIRE(source.is_ok());
  CHECK(source->kind == secrets::SecretSource::Kind::kOAuth);
  CHECK(source->granted_secret() == "oauth-token/github");
  CHECK(source->describe() == "oauth:github");
  auto record = secrets::SecretSource::parse("vault:oauth-token/github");
  REQUIRE_FALSE(record.is_ok());
  CHECK(record.status().message() ==
        "\"vault:oauth-token/github\": names under oauth-token/ hold OAuth token records; map "
        "\"oauth:github\" instead");
  CHECK(secrets::SecretSource::parse("vault:oauth/github-client-secret").is_ok());
}

TEST_CASE("a token record survives the vault round trip", "[oauth]") {
  oauth::TokenRecord record;
  record.access_token = vault::SecretBuffer::copy_of(std::string_view("at-1"));
  record.refresh_token = vault::SecretBuffer::copy_of(std::string_view("rt-1"));
  record.scope = "a b";
  record.issuer = "https://i";
  record.expires_at = 1234;
  auto secret = record.to_secret();
  auto back = oauth::TokenRecord::from_secret(secret.bytes(), "p");
  REQUIRE(back.is_ok());
  CHECK(back.value().access_token.view() == "at-1");
  CHECK(back.value().refresh_token.view() == "rt-1");
  CHECK(back.value().scope == "a b");
  CHECK(back.value().expires_at == 1234);
  auto bad = oauth::TokenRecord::from_secret(std::span<const std::uint8_t>(), "p");
  REQUIRE_FALSE(bad.is_ok());
  CHECK(bad.status().message().find("keyhold oauth login p") != std::string::npos);
}

TEST_CASE("the loopback redirect checks state and iss before taking a code", "[oauth]") {
  const oauth::ExpectedCallback expected{"the-state", "https://issuer.example", false};
  std::vector<std::string> answers;
  SECTION("the right state and issuer: the code, after a 404 for other paths") {
    auto r = callback(expected,
                      {"/favicon.ico",
                       "/callback?code=c0de&state=the-state&iss=https%3A%2F%2F"
                       "issuer.example"},
                      &answers);
    REQUIRE(r.is_ok());
    CHECK(r.value().code.text() == "c0de");
    CHECK(answers == std::vector<std::string>{"HTTP/1.1 404 Not Found", "HTTP/1.1 200 OK"});
  }
  SECTION("a wrong state") {
    auto r = callback(expected, {"/callback?code=c0de&state=other"}, &answers);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == ErrorCode::kPermissionDenied);
    CHECK(r.status().message().find("state does not match") != std::string::npos);
    CHECK(r.status().message().find("c0de") == std::string::npos);
    CHECK(answers == std::vector<std::string>{"HTTP/1.1 400 Bad Request"});
  }
  SECTION("another issuer (mix-up)") {
    auto r = callback(expected, {"/callback?code=c0de&state=the-state&iss=https%3A%2F%2Fevil"},
                      &answers);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().message().find("from issuer 'https://evil'") != std::string::npos);
  }
  SECTION("no iss when the server promised one") {
    auto strict = expected;
    strict.issuer_required = true;
    auto r = callback(strict, {"/callback?code=c0de&state=the-state"}, &answers);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().message().find("carries no iss") != std::string::npos);
  }
  SECTION("an error from the provider") {
    auto r = callback(expected, {"/callback?error=access_denied&state=the-state"}, &answers);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().message().find("access_denied") != std::string::npos);
  }
}

TEST_CASE("the protected resource metadata URL puts the well-known segment before the path") {
  using keyhold::oauth::protected_resource_metadata_url;
  CHECK(protected_resource_metadata_url("https://mcp.example.com/mcp") ==
        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp");
  CHECK(protected_resource_metadata_url("https://mcp.example.com") ==
        "https://mcp.example.com/.well-known/oauth-protected-resource");
  CHECK(protected_resource_metadata_url("https://mcp.example.com/") ==
        "https://mcp.example.com/.well-known/oauth-protected-resource");
  CHECK(protected_resource_metadata_url("http://127.0.0.1:8080/a/b?x=1#f") ==
        "http://127.0.0.1:8080/.well-known/oauth-protected-resource/a/b");
}

TEST_CASE("the root well-known URL is tried after the path one") {
  using keyhold::oauth::root_protected_resource_metadata_url;
  CHECK(root_protected_resource_metadata_url("https://mcp.example.com/a/mcp?x#y") ==
        "https://mcp.example.com/.well-known/oauth-protected-resource");
  CHECK(root_protected_resource_metadata_url("http://127.0.0.1:8080") ==
        "http://127.0.0.1:8080/.well-known/oauth-protected-resource");
}

TEST_CASE("dynamic registration asks for a native public client with a loopback redirect",
          "[oauth]") {
  const auto request =
      nlohmann::json::parse(keyhold::oauth::registration_request({"api:read", "openid"}));
  CHECK(request["application_type"] == "native");
  CHECK(request["token_endpoint_auth_method"] == "none");
  CHECK(request["redirect_uris"] == nlohmann::json::array({"http://127.0.0.1/callback"}));
  CHECK(request["grant_types"] == nlohmann::json::array({"authorization_code", "refresh_token"}));
  CHECK(request["scope"] == "api:read openid");
  CHECK_FALSE(nlohmann::json::parse(keyhold::oauth::registration_request({})).contains("scope"));
}

TEST_CASE(
    "a Client ID Metadata Document URL: https, a path, no dot segment, fragment, query or "
    "user",
    "[oauth]") {
  using keyhold::oauth::check_client_metadata_url;
  for (const char* good : {"https://example.com/keyhold/client.json", "https://example.com/a",
                           "https://example.com:8443/c/d.json"}) {
    INFO(good);
    CHECK(check_client_metadata_url(good).is_ok());
  }
  const std::pair<const char*, const char*> bad[] = {
      {"http://example.com/client.json", "https://"},
      {"https://example.com", "path"},
      {"https://example.com/", "path"},
      {"https://example.com/a/../client.json", ". or .."},
      {"https://example.com/a/%2E%2e/client.json", ". or .."},
      {"https://example.com/./client.json", ". or .."},
      {"https://example.com/client.json#frag", "fragment"},
      {"https://example.com/client.json?x=1", "query"},
      {"https://example.com/a b", "plain URL"},
      {"https://example.com/%zz", "%-escape"},
  };
  for (const auto& [url, why] : bad) {
    INFO(url);
    const auto status = check_client_metadata_url(url);
    REQUIRE_FALSE(status.is_ok());
    CHECK(status.message().find(why) != std::string::npos);
  }
  // A user name or password is refused and never repeated in the message.
  const auto with_user =
      check_client_metadata_url("https://alice:s3cret-canary@example.com/c.json");
  REQUIRE_FALSE(with_user.is_ok());
  CHECK(with_user.message().find("s3cret-canary") == std::string::npos);
}

TEST_CASE("keyhold's Client ID Metadata Document names its URL as client_id", "[oauth]") {
  const auto text = keyhold::oauth::client_metadata_document("https://example.com/k/client.json");
  REQUIRE(text.is_ok());
  const auto document = nlohmann::json::parse(text.value());
  CHECK(document["client_id"] == "https://example.com/k/client.json");
  CHECK(document["token_endpoint_auth_method"] == "none");
  CHECK(document["redirect_uris"] == nlohmann::json::array({"http://127.0.0.1/callback"}));
  CHECK_FALSE(document.contains("scope"));
  CHECK_FALSE(keyhold::oauth::client_metadata_document("http://example.com/c.json").is_ok());
}

TEST_CASE("resource (RFC 8707) is an http(s) URI without a fragment", "[oauth][config]") {
  auto config = parse_config(
      "[oauth.m]\nissuer = \"https://a.example\"\nclient_id = \"c\"\n"
      "resource = \"https://mcp.example.com/mcp\"\n",
      "k.toml");
  REQUIRE(config.is_ok());
  CHECK(config->oauth.at("m").resource == "https://mcp.example.com/mcp");
  for (const char* bad : {"mcp.example.com", "https://m.example/x#f", "https://m.example/a b"})
    CHECK(refusal(std::string("[oauth.m]\nissuer = \"https://a.example\"\nclient_id = \"c\"\n"
                              "resource = \"") +
                  bad + "\"\n")
              .find("oauth.m.resource must be an http(s) URI without a fragment") !=
          std::string::npos);
}

TEST_CASE("resource discovery refuses a resource that is neither https nor loopback") {
  auto found = keyhold::oauth::discover_protected_resource("http://mcp.example.com/mcp");
  REQUIRE_FALSE(found.is_ok());
  CHECK(found.status().message().find("is not an https:// URL") != std::string::npos);
}

TEST_CASE("per_user is a boolean of [oauth.NAME]", "[oauth][config]") {
  auto config = parse_config(
      "[oauth.gh]\nissuer = \"https://github.com\"\nclient_id = \"abc\"\nper_user = true\n",
      "k.toml");
  REQUIRE(config.is_ok());
  CHECK(config->oauth.at("gh").per_user);
  CHECK(refusal("[oauth.gh]\nissuer = \"https://x\"\nclient_id = \"a\"\nper_user = \"yes\"\n") ==
        "k.toml:4: oauth.gh.per_user must be true or false");
}

TEST_CASE("a mounted server may not map a per_user provider", "[oauth][config]") {
  const std::string providers =
      "[oauth.gh]\nissuer = \"https://x\"\nclient_id = \"a\"\nper_user = true\n"
      "[oauth.shared]\nissuer = \"https://x\"\nclient_id = \"a\"\n";
  const std::string mount =
      "[instances.remote]\nserver = { url = \"https://mcp.example/mcp\", headers = { "
      "Authorization = \"Bearer {secret:token}\" } }\n[instances.remote.secrets]\n";
  CHECK(refusal(providers + mount + "token = \"oauth:gh\"\n")
            .find("oauth provider 'gh' is per_user, and a mounted server's headers") !=
        std::string::npos);
  CHECK(refusal(providers + mount + "token = \"oauth:shared\"\n").empty());
}

TEST_CASE("a per-user record is the provider's record with the client's name", "[oauth]") {
  CHECK(oauth::record_name("gh") == "oauth-token/gh");
  CHECK(oauth::record_name("gh", "alice") == "oauth-token/gh/alice");
}

TEST_CASE("the authorization response checks are shared with /oauth/callback", "[oauth]") {
  const oauth::ExpectedCallback expected{"the-state", "https://issuer.example", true};
  using Query = std::map<std::string, std::string>;
  auto ok = oauth::check_authorization_response(
      Query{{"code", "c0de"}, {"state", "the-state"}, {"iss", "https://issuer.example"}}, expected);
  REQUIRE(ok.is_ok());
  CHECK(ok.value().code.text() == "c0de");
  auto forged = oauth::check_authorization_response(
      Query{{"code", "c0de"}, {"state", "the-stat"}, {"iss", "https://issuer.example"}}, expected);
  REQUIRE_FALSE(forged.is_ok());
  CHECK(forged.status().message().find("state does not match") != std::string::npos);
  auto no_iss = oauth::check_authorization_response(Query{{"code", "c0de"}, {"state", "the-state"}},
                                                    expected);
  REQUIRE_FALSE(no_iss.is_ok());
  CHECK(no_iss.status().message().find("carries no iss") != std::string::npos);
  auto no_code = oauth::check_authorization_response(
      Query{{"state", "the-state"}, {"iss", "https://issuer.example"}}, expected);
  REQUIRE_FALSE(no_code.is_ok());
  CHECK(no_code.status().message() == "it carries no code");
}

namespace {

oauth::PendingAuthorization pending(const std::string& client, const std::string& state,
                                    std::int64_t expires_at) {
  oauth::PendingAuthorization p;
  p.provider = "gh";
  p.client_id = p.client_name = client;  // the tests use the token's name as its id
  p.state = state;
  p.expires_at = expires_at;
  return p;
}

}  // namespace

TEST_CASE("a pending authorization is taken once, by its exact state, before it expires",
          "[oauth]") {
  oauth::PendingAuthorizations store;
  store.add(pending("alice", "state-a", 100), 0);
  store.add(pending("bob", "state-b", 100), 0);
  CHECK_FALSE(store.take("state-", 10).has_value());
  CHECK_FALSE(store.take("state-aa", 10).has_value());
  CHECK_FALSE(store.take("", 10).has_value());
  auto taken = store.take("state-a", 10);
  REQUIRE(taken.has_value());
  CHECK(taken->client_name == "alice");
  CHECK_FALSE(store.take("state-a", 10).has_value());   // single use: a replay finds nothing
  CHECK_FALSE(store.take("state-b", 100).has_value());  // expired
  CHECK(store.size() == 0);
}

TEST_CASE("a client holds at most a few pending authorizations, the oldest goes", "[oauth]") {
  oauth::PendingAuthorizations store;
  store.add(pending("bob", "bob-1", 100), 0);
  for (std::size_t i = 0; i <= oauth::PendingAuthorizations::kMaxPerClient; ++i)
    store.add(pending("alice", "alice-" + std::to_string(i), 100), 0);
  CHECK(store.size() == oauth::PendingAuthorizations::kMaxPerClient + 1);
  CHECK_FALSE(store.take("alice-0", 1).has_value());
  CHECK(store.take("alice-1", 1).has_value());
  CHECK(store.take("bob-1", 1).has_value());  // another client's are not touched
}

namespace {

// A keyfile vault (tests/vault's helpers) for the TokenManager, and put() to store a
// token record under a name.
struct VaultFixture {
  vault::testing::ScratchDir dir;
  std::shared_ptr<secrets::SharedVault> vault =
      std::make_shared<secrets::SharedVault>(vault::testing::make_keyfile_vault(dir));
  void put(const std::string& name, std::string_view access_token) {
    oauth::TokenRecord record;
    record.access_token = vault::SecretBuffer::copy_of(access_token);
    auto secret = record.to_secret();
    REQUIRE(vault
                ->with([&](vault::Vault& v) {
                  return v.put_secret(name, secret.bytes(), {}, vault::testing::test_actor());
                })
                .is_ok());
  }
};

OAuthProviders per_user_provider() {
  OAuthProviderConfig gh;
  gh.name = "gh";
  gh.client_id = "c";
  gh.token_endpoint = "http://127.0.0.1:1/token";
  gh.per_user = true;
  return {{"gh", gh}};
}

}  // namespace

TEST_CASE("a per_user provider hands each client its own token and nothing else", "[oauth]") {
  VaultFixture f;
  f.put("oauth-token/gh", "shared-token");
  f.put("oauth-token/gh/alice", "alice-token");
  f.put("oauth-token/gh/bob", "bob-token");
  oauth::TokenManager tokens(per_user_provider(), f.vault, [] { return std::int64_t{1000}; });
  CHECK(tokens.per_user("gh"));
  auto alice = tokens.access_token("gh", -1, "alice");
  REQUIRE(alice.is_ok());
  CHECK(alice.value().view() == "alice-token");
  auto bob = tokens.access_token("gh", -1, "bob");
  REQUIRE(bob.is_ok());
  CHECK(bob.value().view() == "bob-token");
  // No subject: refused, never the shared record.
  auto none = tokens.access_token("gh", -1, "");
  REQUIRE_FALSE(none.is_ok());
  CHECK(none.status().code() == ErrorCode::kPermissionDenied);
  CHECK(none.status().message().find("per_user") != std::string::npos);
  // A client without tokens: kNotFound naming the login for that client, no fallback.
  auto carol = tokens.access_token("gh", -1, "carol");
  REQUIRE_FALSE(carol.is_ok());
  CHECK(carol.status().code() == ErrorCode::kNotFound);
  CHECK(carol.status().message().find("keyhold oauth login gh --client carol") !=
        std::string::npos);
  // The redactor learns every client's tokens.
  std::vector<std::string> known;
  for (const auto& token : tokens.known_tokens("gh")) known.emplace_back(token.view());
  std::sort(known.begin(), known.end());
  CHECK(known == std::vector<std::string>{"alice-token", "bob-token"});
}

TEST_CASE("a login stored for a client is used for that client at once", "[oauth]") {
  VaultFixture f;
  oauth::TokenManager tokens(per_user_provider(), f.vault, [] { return std::int64_t{1000}; });
  REQUIRE(tokens.access_token("gh", -1, "alice").status().code() == ErrorCode::kNotFound);
  const auto generation = tokens.generation();
  oauth::TokenRecord record;
  record.access_token = vault::SecretBuffer::copy_of(std::string_view("alice-new"));
  REQUIRE(tokens.store_login("gh", "alice", std::move(record)).is_ok());
  CHECK(tokens.generation() != generation);
  auto alice = tokens.access_token("gh", -1, "alice");
  REQUIRE(alice.is_ok());
  CHECK(alice.value().view() == "alice-new");
  CHECK(tokens.access_token("gh", -1, "bob").status().code() == ErrorCode::kNotFound);
  auto stored =
      f.vault->with([](vault::Vault& v) { return v.read_secret("oauth-token/gh/alice"); });
  CHECK(stored.is_ok());
  oauth::TokenRecord shared;
  shared.access_token = vault::SecretBuffer::copy_of(std::string_view("x"));
  CHECK_FALSE(tokens.store_login("gh", "", std::move(shared)).is_ok());
}
