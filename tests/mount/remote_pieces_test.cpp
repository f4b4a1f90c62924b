// The pure pieces of a remote mount: the SSE reader of a server's event streams, the
// {secret:ALIAS} header template, the origin named in messages, and server.url's config.
#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "config/header_template.hpp"
#include "mount/http_transport.hpp"
#include "mount/sse_parser.hpp"
#include "oauth/www_authenticate.hpp"

using namespace keyhold;
using keyhold::mount::SseEvent;
using keyhold::mount::SseParser;

namespace {

std::vector<SseEvent> events_of(SseParser& parser, std::initializer_list<std::string_view> chunks,
                                bool* ok = nullptr) {
  std::vector<SseEvent> out;
  bool all = true;
  for (auto chunk : chunks) all = parser.feed(chunk, [&](SseEvent& e) { out.push_back(e); }) && all;
  if (ok != nullptr) *ok = all;
  return out;
}

}  // namespace

TEST_CASE("SSE: events end at a blank line, data lines join, any line ending, split reads") {
  SseParser parser(1024);
  auto events = events_of(parser, {"event: message\r\nid: 7\r\ndata: {\"a\":", "1}\r\n\r",
                                   "\n: a comment\n\ndata:x\rdata: y\r\rdata: z\n"});
  REQUIRE(events.size() == 2);
  CHECK(events[0].type == "message");
  CHECK(events[0].id == "7");
  CHECK(events[0].data == "{\"a\":1}");
  CHECK(events[1].type.empty());
  CHECK(events[1].data == "x\ny");  // "z" waits for its blank line
  events = events_of(parser, {"\n"});
  REQUIRE(events.size() == 1);
  CHECK(events[0].data == "z");
}

TEST_CASE("SSE: an event without data is no event, so priming events (id only) are skipped") {
  SseParser parser(1024);
  CHECK(events_of(parser, {"id: 1\nretry: 100\n\nevent: ping\n\n"}).empty());
}

TEST_CASE("SSE: a line or an event over the cap stops the stream") {
  SseParser parser(8);
  bool ok = true;
  CHECK(events_of(parser, {"data: 0123456789\n\n"}, &ok).empty());
  CHECK_FALSE(ok);
  CHECK_FALSE(parser.feed("data: x\n\n", [](SseEvent&) {}));  // stays stopped
  SseParser joined(11);  // the data is "12345\n12345\n" (12 bytes) while it is read
  CHECK(events_of(joined, {"data: 12345\ndata: 12345\n\n"}, &ok).empty());
  CHECK_FALSE(ok);
}

TEST_CASE("header template: {secret:ALIAS} parts and literal text") {
  auto parsed = parse_header_template("Bearer {secret:api-token} and {literal} {secret:b}");
  REQUIRE(parsed.is_ok());
  const auto& parts = parsed.value().parts;
  REQUIRE(parts.size() == 4);
  CHECK((!parts[0].secret && parts[0].text == "Bearer "));
  CHECK((parts[1].secret && parts[1].text == "api-token"));
  CHECK((!parts[2].secret && parts[2].text == " and {literal} "));
  CHECK((parts[3].secret && parts[3].text == "b"));
  CHECK(parsed.value().aliases() == std::vector<std::string>{"api-token", "b"});
  CHECK(parse_header_template("no secret").value().aliases().empty());
  CHECK(parse_header_template("Bearer {secret:x").status().message() ==
        "'{secret:' without its closing '}'");
  CHECK(parse_header_template("{secret:}").status().message() == "'{secret:}' names no alias");
  CHECK_FALSE(parse_header_template("a\r\nX-Injected: 1").is_ok());
  CHECK(valid_header_name("Authorization"));
  CHECK(valid_header_name("X-Api-Key"));
  CHECK_FALSE(valid_header_name("Bad Name"));
  CHECK_FALSE(valid_header_name("Bad:Name"));
}

TEST_CASE("origin_of drops user info, path and query") {
  using keyhold::mount::HttpTransport;
  CHECK(HttpTransport::origin_of("https://user:pw@mcp.example.com:8443/mcp?key=1") ==
        "https://mcp.example.com:8443");
  CHECK(HttpTransport::origin_of("http://127.0.0.1:3001/mcp") == "http://127.0.0.1:3001");
}

TEST_CASE("a remote mounted server's url, headers and ca_file parse") {
  auto config = parse_config(R"(
[instances.remote]
server.url = "https://mcp.example.com/mcp"
server.headers = { Authorization = "Bearer {secret:api-token}", X-Team = "core" }
server.ca_file = "certs/ca.pem"
[instances.remote.secrets]
api-token = "vault:team/remote-token"
)",
                             "/etc/keyhold/keyhold.toml");
  INFO(config.status().message());
  REQUIRE(config.is_ok());
  const InstanceConfig& instance = config->instances.at(0);
  REQUIRE(instance.server);
  CHECK(instance.server->command.empty());
  CHECK(instance.server->url == "https://mcp.example.com/mcp");
  CHECK(instance.server->headers.at("Authorization") == "Bearer {secret:api-token}");
  CHECK(instance.server->headers.at("X-Team") == "core");
  CHECK(instance.server->ca_file == "/etc/keyhold/certs/ca.pem");
  CHECK(instance.secrets.at("api-token").source == "vault:team/remote-token");
  CHECK_FALSE(instance.server->lazy);
}

TEST_CASE("server.lazy is a boolean of either kind of mounted server") {
  std::string error;
  auto config = parse_config(
      "[instances.a]\nserver.command = [\"node\"]\nserver.lazy = true\n"
      "[instances.b]\nserver.url = \"https://x/mcp\"\nserver.lazy = true\n",
      "k.toml");
  INFO(config.status().message());
  REQUIRE(config.is_ok());
  CHECK(config->instances.at(0).server->lazy);
  CHECK(config->instances.at(1).server->lazy);
  error =
      parse_config("[instances.a]\nserver.command = [\"node\"]\nserver.lazy = \"yes\"\n", "k.toml")
          .status()
          .message();
  CHECK(error == "k.toml:3: instances.a.server.lazy must be true or false");
}

TEST_CASE("bad remote-server settings are refused with the cause") {
  std::string error;
  auto refused = [&](const char* text) {
    auto config = parse_config(text, "k.toml");
    error = config.status().message();
    return !config.is_ok();
  };
  CHECK(refused("[instances.r]\nserver.url = \"ftp://x/mcp\"\n"));
  CHECK(error ==
        "k.toml:2: instances.r.server.url must be an http:// or https:// URL (the server's MCP "
        "endpoint)");
  CHECK(refused("[instances.r]\nserver.url = \"https://x/mcp\"\nserver.env = { A = \"1\" }\n"));
  CHECK(error.find("unknown key 'env' for a remote server") != std::string::npos);
  CHECK(
      refused("[instances.r]\nserver.url = \"https://x/mcp\"\n"
              "server.headers = { Authorization = \"Bearer {secret:nope}\" }\n"));
  CHECK(error.find("names {secret:nope}, but [instances.r.secrets] maps no alias 'nope'") !=
        std::string::npos);
  CHECK(
      refused("[instances.r]\nserver.url = \"https://x/mcp\"\n"
              "server.headers = { \"Bad Name\" = \"x\" }\n"));
  CHECK(error.find("not a valid header name") != std::string::npos);
}

TEST_CASE("a Bearer challenge of WWW-Authenticate is read, a hostile one is not trusted") {
  using keyhold::oauth::parse_bearer_challenge;
  const auto mcp = parse_bearer_challenge(
      R"(Bearer error="invalid_token", scope="mcp:tools files:read", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp")");
  CHECK(mcp.bearer);
  CHECK(mcp.error == "invalid_token");
  CHECK(mcp.scope == "mcp:tools files:read");
  CHECK(mcp.resource_metadata ==
        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp");
  CHECK(mcp.describe().find("resource_metadata=https://mcp.example.com/") != std::string::npos);

  // Another scheme first, case-insensitive names, a token value, an escaped quote.
  const auto second =
      parse_bearer_challenge(R"(Basic realm="x, y", bearer Scope=read, ERROR="a\"b")");
  CHECK(second.bearer);
  CHECK(second.scope == "read");
  CHECK(second.error == "a\"b");

  // Only an http(s) URL is a resource_metadata; control characters drop a value.
  const auto odd =
      parse_bearer_challenge("Bearer resource_metadata=\"javascript:x\", scope=\"a\x01b\"");
  CHECK(odd.bearer);
  CHECK(odd.resource_metadata.empty());
  CHECK(odd.scope.empty());
  CHECK(odd.describe().empty());

  // Malformed or absent: nothing.
  CHECK_FALSE(parse_bearer_challenge("").bearer);
  CHECK_FALSE(parse_bearer_challenge("Basic realm=\"x\"").bearer);
  CHECK(parse_bearer_challenge("Bearer scope=\"unterminated").scope.empty());
  CHECK(parse_bearer_challenge("Bearer abc==").bearer);
  CHECK(parse_bearer_challenge(std::string(100000, ',')).bearer == false);
  CHECK(parse_bearer_challenge("Bearer scope=\"" + std::string(5000, 'a') + "\"").scope.empty());
}
