#include <catch2/catch.hpp>

#include "config/config.hpp"

using namespace keyhold;

TEST_CASE("a config with instances, options and secrets parses") {
  auto config = parse_config(R"(
[server]
page_size = 5
plugin_dirs = ["plugins", "/abs"]
[instances.db]
plugin = "sql"
prefix = ""
[instances.db.options]
path = "demo.db"
limits = { rows = 10, strict = true }
[instances.db.secrets]
password = "vault:prod/db-password"
token = { source = "env:CI_TOKEN", env_commands = ["node", ["npm", "test"]] }
[instances.echo]
plugin = "echo"
)",
                             "/etc/keyhold/keyhold.toml");
  INFO(config.status().message());
  REQUIRE(config.is_ok());
  CHECK(config->page_size == 5);
  CHECK(config->plugin_dirs[0] == "/etc/keyhold/plugins");
  CHECK(config->plugin_dirs[1] == "/abs");
  REQUIRE(config->instances.size() == 2);
  const auto& db = config->instances[0];
  CHECK(db.name == "db");
  CHECK(db.effective_prefix() == "");
  CHECK(db.options["limits"]["rows"] == 10);
  CHECK(db.options["limits"]["strict"] == true);
  CHECK(db.secrets.at("password").source == "vault:prod/db-password");
  CHECK(db.secrets.at("password").env_commands.empty());
  CHECK(db.secrets.at("token").source == "env:CI_TOKEN");
  using Argv = std::vector<std::string>;
  CHECK(db.secrets.at("token").env_commands ==
        std::vector<Argv>{Argv{"node"}, Argv{"npm", "test"}});
  CHECK(config->instances[1].effective_prefix() == "echo_");
}

TEST_CASE("config errors name the file, the line and the cause") {
  std::string error;
  error = parse_config("[instances.x]\nprefix = \"p\"\n", "k.toml").status().message();
  CHECK(error ==
        "k.toml:1: instances.x needs plugin = \"<name or path>\", server.command = [...] or "
        "server.url = \"...\"");
  error =
      parse_config("[instances.x]\nplugin = \"echo\"\nplgin = 1\n", "k.toml").status().message();
  CHECK(error ==
        "k.toml:3: instances.x: unknown key 'plgin' (expected plugin or server, prefix, options, "
        "secrets, guard, isolation, sandbox)");
  error = parse_config("[server]\npage_size = -1\n", "k.toml").status().message();
  CHECK(error == "k.toml:2: server.page_size must be a positive integer");
  error = parse_config("this is = = not toml", "k.toml").status().message();
  CHECK_THAT(error, Catch::StartsWith("k.toml:1: "));
}

TEST_CASE("a secret mapping table is checked field by field") {
  std::string error;
  auto parse = [&](const std::string& mapping) {
    auto config = parse_config(
        "[instances.x]\nplugin = \"echo\"\n[instances.x.secrets]\n" + mapping, "k.toml");
    error = config.status().message();
    return config.is_ok();
  };
  CHECK_FALSE(parse("t = { env_commands = [\"node\"] }\n"));
  CHECK(error == "k.toml:4: instances.x.secrets.t.source must be a string like \"vault:NAME\"");
  CHECK_FALSE(parse("t = { source = \"vault:a\", commands = [\"node\"] }\n"));
  CHECK(error ==
        "k.toml:4: instances.x.secrets.t: unknown field 'commands' (expected source, "
        "env_commands)");
  CHECK_FALSE(parse("t = { source = \"vault:a\", env_commands = \"node\" }\n"));
  CHECK_THAT(error, Catch::Contains("env_commands must be an array of commands"));
  CHECK_FALSE(parse("t = { source = \"vault:a\", env_commands = [[]] }\n"));
  CHECK_THAT(error, Catch::Contains("env_commands must be an array of commands"));
  CHECK_FALSE(parse("t = { source = \"vault:a\", env_commands = [[\"npm\", 1]] }\n"));
  CHECK_THAT(error, Catch::Contains("env_commands must be an array of commands"));
  CHECK_FALSE(parse("t = 5\n"));
  CHECK_THAT(error, Catch::Contains("must be a string like \"vault:NAME\" or a table"));
}

TEST_CASE("the default config text is itself a valid config serving echo and the sql demo") {
  auto config = parse_config(default_config_text(), "default.toml");
  INFO(config.status().message());
  REQUIRE(config.is_ok());
  REQUIRE(config->instances.size() == 2);
  CHECK(config->instances[0].plugin == "echo");
  CHECK(config->instances[1].plugin == "sql");
  CHECK(config->instances[1].options["create_demo"] == true);
}
