// .env parsing for `vault import --env-file` (issue 3 acceptance 12, parser half).
#include "keyhold/vault/env_file.hpp"
#include "vault_test_support.hpp"

namespace keyhold::vault::testing {
namespace {

std::map<std::string, std::string> parse(std::string_view text) {
  auto entries = parse_env_file(as_bytes(text));
  INFO(entries.status().message());
  REQUIRE(entries.is_ok());
  std::map<std::string, std::string> out;
  for (const EnvEntry& e : entries.value()) out[e.name] = as_string(e.value);
  return out;
}

TEST_CASE("env files: quotes, comments, export prefixes, multi-line values", "[vault][env]") {
  const auto values = parse(
      "# a comment\n"
      "\n"
      "PLAIN=simple value  \n"
      "export EXPORTED=yes\n"
      "  INDENTED = spaced\n"
      "INLINE=value # trailing comment\n"
      "HASH=abc#def\n"
      "SINGLE='literal $HOME \\n # not a comment'\n"
      "DOUBLE=\"tab\\there \\\"quoted\\\" \\\\ \\$x\"\n"
      "MULTI=\"line one\nline two\"\n"
      "PEM='-----BEGIN KEY-----\nAAAA\n-----END KEY-----'\n"
      "EMPTY=\n"
      "CRLF=windows\r\n"
      "LAST=no newline");
  CHECK(values.at("PLAIN") == "simple value");
  CHECK(values.at("EXPORTED") == "yes");
  CHECK(values.at("INDENTED") == "spaced");
  CHECK(values.at("INLINE") == "value");
  CHECK(values.at("HASH") == "abc#def");
  CHECK(values.at("SINGLE") == "literal $HOME \\n # not a comment");
  CHECK(values.at("DOUBLE") == "tab\there \"quoted\" \\ $x");
  CHECK(values.at("MULTI") == "line one\nline two");
  CHECK(values.at("PEM") == "-----BEGIN KEY-----\nAAAA\n-----END KEY-----");
  CHECK(values.at("EMPTY").empty());
  CHECK(values.at("CRLF") == "windows");
  CHECK(values.at("LAST") == "no newline");
  CHECK(values.size() == 12);
}

TEST_CASE("env file errors name the line, never the content", "[vault][env]") {
  for (const char* bad : {"NOEQUALS CANARY-env-1\n", "X=\"CANARY-env-2 unterminated\n",
                          "X='CANARY-env-3", "1BAD=CANARY-env-4\n", "X=\"ok\" CANARY-env-5\n"}) {
    INFO(bad);
    auto entries = parse_env_file(as_bytes(bad));
    REQUIRE_FALSE(entries.is_ok());
    CHECK(entries.status().code() == ErrorCode::kInvalidArgument);
    CHECK_THAT(entries.status().message(), Catch::Contains("line 1"));
    CHECK(entries.status().message().find("CANARY") == std::string::npos);
  }
}

}  // namespace
}  // namespace keyhold::vault::testing
