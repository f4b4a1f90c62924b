#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "mount/mount_loader.hpp"

using namespace keyhold;

TEST_CASE("a mounted server's command, env and secrets parse") {
  auto config = parse_config(R"(
[instances.everything]
server.command = ["node", "/srv/everything/dist/index.js", "stdio"]
server.env = { LOG_LEVEL = "info" }
prefix = "ev_"
[instances.everything.secrets]
API_KEY = "vault:team/everything-key"
[instances.everything.sandbox]
read = ["/srv/data"]
)",
                             "/etc/keyhold/keyhold.toml");
  INFO(config.status().message());
  REQUIRE(config.is_ok());
  REQUIRE(config->instances.size() == 1);
  const InstanceConfig& instance = config->instances[0];
  REQUIRE(instance.server);
  CHECK(instance.plugin.empty());
  CHECK(instance.server->command ==
        std::vector<std::string>{"node", "/srv/everything/dist/index.js", "stdio"});
  CHECK(instance.server->env.at("LOG_LEVEL") == "info");
  CHECK(instance.secrets.at("API_KEY").source == "vault:team/everything-key");
  CHECK(instance.sandbox["read"] == nlohmann::json::array({"/srv/data"}));
  CHECK(instance.effective_prefix() == "ev_");
}

TEST_CASE("bad mounted-server settings are refused with the line and the cause") {
  std::string error;
  auto refused = [&](const char* text) {
    auto config = parse_config(text, "k.toml");
    error = config.status().message();
    return !config.is_ok();
  };
  CHECK(refused("[instances.x]\nserver.command = []\n"));
  CHECK(error ==
        "k.toml:2: instances.x.server.command must be a non-empty array of strings (the program "
        "and its arguments, run without a shell)");
  CHECK(refused("[instances.x]\nserver.command = \"node index.js\"\n"));
  CHECK(error ==
        "k.toml:2: instances.x.server.command must be a non-empty array of strings (the program "
        "and its arguments, run without a shell)");
  CHECK(refused("[instances.x]\nserver.command = [\"node\", 3]\n"));
  CHECK_THAT(error, Catch::StartsWith("k.toml:2: instances.x.server.command must be"));
  CHECK(refused("[instances.x]\nserver.env = { A = \"1\" }\n"));
  CHECK_THAT(error, Catch::StartsWith("k.toml:"));
  CHECK_THAT(error, Catch::Contains("instances.x.server.command must be"));
  CHECK(refused("[instances.x]\nserver.command = [\"node\"]\nserver.env = { A = 1 }\n"));
  CHECK(error ==
        "k.toml:3: instances.x.server.env.A: each entry must be NAME = \"value\" with NAME of "
        "[A-Za-z0-9_]");
  CHECK(refused("[instances.x]\nserver.command = [\"node\"]\nserver.url = \"http://x\"\n"));
  CHECK(error ==
        "k.toml:3: instances.x.server: server.command (a stdio server) or server.url (a remote "
        "one), not both");
  CHECK(refused("[instances.x]\nserver.command = [\"node\"]\nserver.headers = {}\n"));
  CHECK(error ==
        "k.toml:3: instances.x.server: unknown key 'headers' (expected command, env, lazy; or "
        "url, headers, ca_file)");
  CHECK(refused("[instances.x]\nplugin = \"echo\"\nserver.command = [\"node\"]\n"));
  CHECK(error ==
        "k.toml:3: instances.x has both plugin and server: an instance is either a plugin or a "
        "mounted MCP server");
  CHECK(refused("[instances.x]\nserver.command = [\"node\"]\nisolation = \"in-process\"\n"));
  CHECK(error ==
        "k.toml:3: instances.x: a mounted server always runs in its own sandboxed process");
  CHECK(
      refused("[instances.x]\nserver.command = [\"node\"]\n[instances.x.secrets]\n\"api-key\" = "
              "\"vault:k\"\n"));
  CHECK(error ==
        "k.toml:4: instances.x.secrets.api-key: a mounted server's secret is the variable of "
        "that name, so the alias must be [A-Za-z_][A-Za-z0-9_]* and the mapping a plain "
        "\"vault:NAME\"");
}

TEST_CASE("a server's default read paths: its program's folder and its package tree") {
  CHECK(mount::default_read_paths({"/no/such/server"}).empty());  // missing: left out
  const auto paths = mount::default_read_paths({"/bin/sh", "/no/such/file.js", "-e"});
  REQUIRE(!paths.empty());
  std::error_code ec;
  CHECK(paths[0] == std::filesystem::weakly_canonical("/bin/sh", ec).parent_path().string());
  CHECK(paths.size() == 1);  // a missing file and a flag add nothing
}
