// MCP 2026-07-28 pieces with no client in the loop: the sealed requestState (opens only
// unchanged, under its key, before it expires) and the request-header checks (the body
// wins; a header never quoted in an error).
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>

#include "protocol/params.hpp"
#include "server/request_state.hpp"
#include "transport/http_session.hpp"
#include "transport/request_headers.hpp"

using namespace keyhold;
using nlohmann::json;

TEST_CASE("a sealed requestState opens unchanged and hides what it holds") {
  RequestStateSealer sealer;
  const json state{{"a", {{"step1", {{"content", {{"name", "canary-state-7f3a"}}}}}}}};
  const std::string sealed = sealer.seal(state, 60);
  CHECK(sealed.find("canary") == std::string::npos);
  auto opened = sealer.open(sealed);
  REQUIRE(opened.is_ok());
  CHECK(opened.value() == state);
  CHECK(sealer.seal(state, 60) != sealed);  // a fresh nonce each time
}

TEST_CASE("a changed, foreign or expired requestState does not open") {
  RequestStateSealer sealer;
  const std::string sealed = sealer.seal(json{{"a", json::object()}}, 60);
  for (std::size_t i = 0; i < sealed.size(); i += 7) {
    std::string changed = sealed;
    changed[i] = changed[i] == 'A' ? 'B' : 'A';
    CHECK_FALSE(sealer.open(changed).is_ok());
  }
  CHECK_FALSE(sealer.open("").is_ok());
  CHECK_FALSE(sealer.open("not base64 !").is_ok());
  RequestStateSealer other;
  auto foreign = other.open(sealed);
  REQUIRE_FALSE(foreign.is_ok());
  CHECK(foreign.status().message().find("integrity") != std::string::npos);
  auto expired = sealer.open(sealer.seal(json::object(), -1));
  REQUIRE_FALSE(expired.is_ok());
  CHECK(expired.status().message().find("expired") != std::string::npos);
}

TEST_CASE("two sealers with one key open each other's states (several serve processes)") {
  std::array<unsigned char, RequestStateSealer::kKeyBytes> key{};
  key[0] = 42;
  RequestStateSealer a(key), b(key);
  auto opened = b.open(a.seal(json{{"x", 1}}, 60));
  REQUIRE(opened.is_ok());
  CHECK(opened.value() == json{{"x", 1}});
}

TEST_CASE("stateless _meta needs protocolVersion and clientCapabilities") {
  CHECK_FALSE(mcp::parse_stateless_meta(json::object()).is_ok());
  CHECK_FALSE(mcp::parse_stateless_meta(
                  json{{"_meta", {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"}}}})
                  .is_ok());
  auto ok = mcp::parse_stateless_meta(
      json{{"_meta",
            {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
             {"io.modelcontextprotocol/clientCapabilities", json::object()},
             {"io.modelcontextprotocol/logLevel", "warning"}}}});
  REQUIRE(ok.is_ok());
  CHECK(ok->log_level == 3);
  CHECK(mcp::requested_version(json{{"_meta", {{"io.modelcontextprotocol/protocolVersion", 5}}}}) ==
        std::nullopt);
}

namespace {
HeaderLookup headers(std::map<std::string, std::string> values) {
  return [values](std::string_view name) -> std::optional<std::string> {
    for (const auto& [key, value] : values)
      if (key.size() == name.size() &&
          std::equal(key.begin(), key.end(), name.begin(),
                     [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
        return value;
    return std::nullopt;
  };
}
}  // namespace

TEST_CASE("Mcp-Name and Mcp-Param-* must match the body, base64 sentinel decoded") {
  const json call{{"method", "tools/call"},
                  {"params", {{"name", "t"}, {"arguments", {{"region", "eu"}, {"n", 42}}}}}};
  const auto base = std::map<std::string, std::string>{
      {"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/call"}, {"Mcp-Name", "t"}};
  CHECK(check_standard_headers(headers(base), call).is_ok());
  auto wrong = base;
  wrong["Mcp-Name"] = "u";
  CHECK_FALSE(check_standard_headers(headers(wrong), call).is_ok());
  wrong = base;
  wrong.erase("Mcp-Method");
  CHECK_FALSE(check_standard_headers(headers(wrong), call).is_ok());

  const json schema{{"properties",
                     {{"region", {{"type", "string"}, {"x-mcp-header", "Region"}}},
                      {"n", {{"type", "number"}, {"x-mcp-header", "N"}}}}}};
  const json& arguments = call["params"]["arguments"];
  CHECK(check_param_headers(headers({{"Mcp-Param-Region", "eu"}, {"Mcp-Param-N", "42.0"}}), schema,
                            arguments)
            .is_ok());
  CHECK(
      check_param_headers(headers({{"Mcp-Param-Region", "=?base64?ZXU=?="}, {"Mcp-Param-N", "42"}}),
                          schema, arguments)
          .is_ok());
  auto mismatch = check_param_headers(
      headers({{"Mcp-Param-Region", "secret-canary-9"}, {"Mcp-Param-N", "42"}}), schema, arguments);
  REQUIRE_FALSE(mismatch.is_ok());
  CHECK(mismatch.message().find("secret-canary-9") == std::string::npos);
  CHECK_FALSE(check_param_headers(headers({{"Mcp-Param-N", "42"}}), schema, arguments).is_ok());
  CHECK(decode_header_value("a\nb") == std::nullopt);
  CHECK(decode_header_value("=?base64?!!?=") == std::nullopt);
}

TEST_CASE("a stream without resumption forgets what it delivered; positions stay") {
  SseStream stream("9");
  for (const char* data : {"a", "b", "c"}) REQUIRE(stream.push(data, false));
  bool finished = false;
  CHECK(stream.next(0, std::chrono::milliseconds(0), &finished).size() == 3);
  stream.forget_before(2);
  auto rest = stream.next(0, std::chrono::milliseconds(0), &finished);
  REQUIRE(rest.size() == 1);  // a and b are gone
  CHECK(rest[0].data == "c");
  CHECK(stream.position_after(rest[0].id) == 3u);
  CHECK_FALSE(stream.position_after("9_0").has_value());
  REQUIRE(stream.push("d", true));
  auto last = stream.next(3, std::chrono::milliseconds(0), &finished);
  REQUIRE(last.size() == 1);
  CHECK(last[0].data == "d");
  CHECK(finished);
  stream.forget_before(100);  // past the end: everything, and no more
  CHECK(stream.next(4, std::chrono::milliseconds(0), &finished).empty());
}
