// The pure part of `keyhold import` (host/cli/import_plan.*): client config shapes, the
// classification of variables, instance names, the TOML it renders (loaded back through
// the real config parser) and the client rewrite. Values are canaries: none may appear in
// the printed plan.
#include <catch2/catch.hpp>

#include <string>

#include "cli/import_plan.hpp"
#include "config/config.hpp"
#include "secrets/credential_rules.hpp"
#include "secrets/redactor.hpp"

using namespace keyhold::cli::import;

namespace {

const std::string kCanaryToken = "canary-token-5f1e2d3c4b5a6978";
const std::string kCanaryRule = "ghp_FAKE0123456789abcdefghijklmnopqrstuvwxyzAB";

// The message of a client config that must be refused.
std::string error_of(std::string_view text) {
  auto parsed = keyhold::cli::import::parse_client_config(text);
  REQUIRE_FALSE(parsed.is_ok());
  return parsed.status().message();
}

CredentialMatcher rules_matcher() {
  static auto redactor =
      keyhold::secrets::Redactor::create(keyhold::secrets::builtin_credential_rules()).value();
  REQUIRE(redactor);
  return [](std::string_view name, std::string_view value) -> std::optional<std::string> {
    const std::string line = std::string(name) + "=" + std::string(value);
    for (const auto& f : redactor->scan(line))
      if (f.is_rule && f.end > name.size() + 1) return f.label;
    return std::nullopt;
  };
}

std::string claude_desktop() {
  return R"({
  "globalShortcut": "Ctrl+Space",
  "mcpServers": {
    "github": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": ")" +
         kCanaryToken + R"(", "LOG_LEVEL": "debug", "HINT": ")" + kCanaryRule + R"("}
    },
    "my server.v2": {"type": "stdio", "command": "node", "args": ["/srv/s.js", 3]},
    "my server v2": {"command": "node"},
    "remote": {"type": "http", "url": "https://example.com/mcp",
               "headers": {"Authorization": "Bearer x"}},
    "sse": {"url": "https://example.com/sse"},
    "broken": {"args": ["x"]}
  }
})";
}

}  // namespace

TEST_CASE("import: the mcpServers shape (Claude Desktop, Claude Code, Cursor)") {
  auto client = parse_client_config(claude_desktop());
  REQUIRE(client.is_ok());
  CHECK(client->format == ClientFormat::kMcpServers);
  REQUIRE(client->servers.size() == 6);
  CHECK(client->servers[0].name == "github");
  CHECK(client->servers[0].command ==
        std::vector<std::string>{"npx", "-y", "@modelcontextprotocol/server-github"});
  CHECK(client->servers[0].env.size() == 3);
  CHECK(client->servers[1].command == std::vector<std::string>{"node", "/srv/s.js", "3"});
  CHECK(client->servers[3].skip_reason.find("remote servers are not mounted yet") == 0);
  CHECK(client->servers[4].skip_reason.find("remote servers are not mounted yet") == 0);
  CHECK(client->servers[5].skip_reason.find("no command") != std::string::npos);
}

TEST_CASE("import: the VS Code shape, with inputs, comments and ${input:} references") {
  const std::string text = R"({
  // VS Code allows comments in mcp.json
  "inputs": [{"type": "promptString", "id": "key", "password": true}],
  "servers": {
    "fs": {"type": "stdio", "command": "node", "args": ["fs.js"], "cwd": "/tmp",
           "env": {"API_KEY": "${input:key}", "DB_PASSWORD": ")" +
                           kCanaryToken + R"(", "N": 5, "BAD": null}},
    "web": {"type": "sse", "url": "http://localhost:1/sse"}
  }
})";
  auto client = parse_client_config(text);
  REQUIRE(client.is_ok());
  CHECK(client->format == ClientFormat::kVsCode);
  auto plan = plan_import(*client, rules_matcher());
  REQUIRE(plan.instances.size() == 1);
  REQUIRE(plan.skipped.size() == 1);
  CHECK(plan.skipped[0].source_name == "web");
  const auto& vars = plan.instances[0].variables;
  REQUIRE(vars.size() == 4);
  CHECK(vars[0].name == "API_KEY");
  CHECK(vars[0].kind == VariableKind::kSkipped);  // the client fills it in
  CHECK(vars[1].kind == VariableKind::kVault);
  CHECK(vars[1].secret_name == "import/fs/DB_PASSWORD");
  CHECK(vars[2].kind == VariableKind::kPlain);
  CHECK(vars[2].value == "5");
  CHECK(vars[3].name == "BAD");
  CHECK(vars[3].kind == VariableKind::kSkipped);
  CHECK(plan.instances[0].notes.size() == 1);  // cwd

  // settings.json: "mcp": {"servers": ...}
  auto settings = parse_client_config(R"({"mcp": {"servers": {"a": {"command": "x"}}}})");
  REQUIRE(settings.is_ok());
  CHECK(settings->format == ClientFormat::kVsCode);
}

TEST_CASE("import: errors say where and why, never quoting the content") {
  std::string error;
  error = error_of("{\n  \"mcpServers\": {\n    \"a\": " + kCanaryToken + "\n}");
  CHECK(error.find("invalid JSON at line 3, column") == 0);
  CHECK(error.find(kCanaryToken) == std::string::npos);
  CHECK(error.find("canary") == std::string::npos);

  error = error_of("[1, 2]");
  CHECK(error.find("unknown shape") == 0);
  error = error_of(R"({"other": {}})");
  CHECK(error.find("unknown shape") == 0);
  error = error_of(R"({"mcpServers": []})");
  CHECK(error.find("unknown shape") == 0);
  error = error_of(R"({"mcpServers": {}})");
  CHECK(error.find("no servers") == 0);
  error = error_of("");
  CHECK(error.find("invalid JSON at line 1") == 0);
}

TEST_CASE("import: variable names and credential rules decide what goes to the vault") {
  for (const char* name : {"GITHUB_TOKEN", "api_key", "Client_Secret", "DB_PASSWORD",
                           "PASSWORD_FILE_CONTENT", "GITLAB_PAT", "token", "PASSWORD"}) {
    INFO(name);
    CHECK(credential_variable_name(name));
  }
  for (const char* name : {"LOG_LEVEL", "KEYBOARD", "TOKENIZER", "PATH", "PATTERN", "HOME"}) {
    INFO(name);
    CHECK_FALSE(credential_variable_name(name));
  }
  auto client = parse_client_config(claude_desktop());
  REQUIRE(client.is_ok());
  auto plan = plan_import(*client, rules_matcher());
  REQUIRE(plan.instances.size() == 3);
  const auto& vars = plan.instances[0].variables;
  REQUIRE(vars.size() == 3);
  CHECK(vars[0].kind == VariableKind::kVault);
  CHECK(vars[0].why == "name");
  CHECK(vars[0].secret_name == "import/github/GITHUB_PERSONAL_ACCESS_TOKEN");
  CHECK(vars[1].kind == VariableKind::kPlain);
  CHECK(vars[2].kind == VariableKind::kVault);  // HINT: its value is a GitHub token
  CHECK(vars[2].why == "rule github-token");
  CHECK(plan.skipped.size() == 3);
}

TEST_CASE("import: instance names are sanitized and de-duplicated") {
  CHECK(sanitize_instance_name("github") == "github");
  CHECK(sanitize_instance_name("my server.v2") == "my_server_v2");
  CHECK(sanitize_instance_name("") == "server");
  CHECK(sanitize_instance_name(std::string(100, 'a')).size() == 64);
  auto client = parse_client_config(claude_desktop());
  REQUIRE(client.is_ok());
  auto plan = plan_import(*client, {});
  REQUIRE(plan.instances.size() == 3);
  CHECK(plan.instances[1].instance == "my_server_v2");
  CHECK(plan.instances[2].instance == "my_server_v2-2");
  CHECK(plan.instances[2].source_name == "my server v2");
}

TEST_CASE("import: the rendered TOML loads as a keyhold config, the plan text names only") {
  std::string text = claude_desktop();
  // A plain value with characters TOML must escape.
  text.replace(text.find("\"debug\""), 7, R"("de\"b\\ug\n\u0001")");
  auto client = parse_client_config(text);
  REQUIRE(client.is_ok());
  auto plan = plan_import(*client, rules_matcher());
  const std::string toml = render_instances_toml(plan, "/home/u/claude \"desktop\".json");
  auto config = keyhold::parse_config(toml, "/tmp/keyhold.toml");
  INFO(config.status().message());
  REQUIRE(config.is_ok());
  REQUIRE(config->instances.size() == 3);
  const auto& github = config->instances[0];
  CHECK(github.name == "github");
  REQUIRE(github.server);
  CHECK(github.server->command.front() == "npx");
  CHECK(github.server->env.at("LOG_LEVEL") == "de\"b\\ug\n\x01");
  CHECK(github.secrets.at("GITHUB_PERSONAL_ACCESS_TOKEN").source ==
        "vault:import/github/GITHUB_PERSONAL_ACCESS_TOKEN");
  CHECK(github.secrets.at("HINT").source == "vault:import/github/HINT");
  CHECK(toml.find(kCanaryToken) == std::string::npos);
  CHECK(toml.find(kCanaryRule) == std::string::npos);
  CHECK(config->instances[2].name == "my_server_v2-2");

  const std::string shown = render_plan_text(plan, {});
  CHECK(shown.find(kCanaryToken) == std::string::npos);
  CHECK(shown.find(kCanaryRule) == std::string::npos);
  CHECK(shown.find("de\"b") == std::string::npos);
  CHECK(shown.find("GITHUB_PERSONAL_ACCESS_TOKEN -> import/github/GITHUB_PERSONAL_ACCESS_TOKEN") !=
        std::string::npos);
  CHECK(shown.find("plain (server.env): LOG_LEVEL") != std::string::npos);
  CHECK(shown.find("skipped: server \"remote\": remote servers are not mounted yet") !=
        std::string::npos);
}

TEST_CASE("import: the client rewrite keeps other keys and the skipped servers") {
  auto out = rewrite_client_config(claude_desktop(), {"/usr/bin/keyhold", "serve"},
                                   {"remote", "sse", "broken"});
  REQUIRE(out.is_ok());
  auto json = nlohmann::ordered_json::parse(*out);
  CHECK(json["globalShortcut"] == "Ctrl+Space");
  CHECK(json.begin().key() == "globalShortcut");
  const auto& servers = json["mcpServers"];
  CHECK(servers.size() == 4);
  CHECK(servers.contains("remote"));
  CHECK_FALSE(servers.contains("github"));
  CHECK(servers["keyhold"]["command"] == "/usr/bin/keyhold");
  CHECK(servers["keyhold"]["args"] == nlohmann::json::array({"serve"}));
  CHECK(out->find(kCanaryToken) == std::string::npos);

  auto vscode = rewrite_client_config(
      R"({"inputs": [], "servers": {"keyhold": {"url": "http://x"}, "a": {"command": "x"}}})",
      {"/k", "serve", "--config", "/c.toml"}, {"keyhold"});
  REQUIRE(vscode.is_ok());
  auto v = nlohmann::json::parse(*vscode);
  CHECK(v["servers"]["keyhold-import"]["type"] == "stdio");
  CHECK(v["servers"]["keyhold-import"]["args"].size() == 3);
  CHECK(v["servers"]["keyhold"]["url"] == "http://x");
  CHECK(v.contains("inputs"));
}

TEST_CASE("import: ~/.claude.json: top-level servers are read, per-project ones are noted") {
  std::string error;
  auto client = parse_client_config(
      R"({"numStartups": 3, "projects": {"/src/app": {"mcpServers": {"p": {"command": "x"}}}},
          "mcpServers": {"u": {"type": "stdio", "command": "y"}}})");
  REQUIRE(client.is_ok());
  REQUIRE(client->servers.size() == 1);
  CHECK(client->servers[0].name == "u");
  REQUIRE(client->notes.size() == 1);
  CHECK(client->notes[0].find("projects") != std::string::npos);
  error = error_of(R"({"projects": {"/a": {"mcpServers": {}}}})");
  CHECK(error.find("import the project's .mcp.json") != std::string::npos);
}
