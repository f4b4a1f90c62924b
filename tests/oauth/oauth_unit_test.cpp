// Unit tests of the OAuth room's pure parts: the [oauth.NAME] config, the URL helpers, PKCE
// (against an independent SHA-256), the token record, the `oauth:` source, and the loopback
// listener's checks of state and iss, over a real socket.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "config/config.hpp"
#include "oauth/client_registration.hpp"
#include "oauth/loopback_redirect.hpp"
#include "oauth/pkce.hpp"
#include "oauth/provider_metadata.hpp"
#include "oauth/resource_metadata.hpp"
#include "oauth/token_record.hpp"
#include "oauth/url_text.hpp"
#include "secrets/secret_source.hpp"

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
