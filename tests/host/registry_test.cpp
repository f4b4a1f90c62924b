// Loader and registry against real plugin libraries built in this tree.
#include <catch2/catch.hpp>

#include <fstream>

#include "loader/instance_loader.hpp"
#include "loader/registry.hpp"
#include "server/event_hub.hpp"

using namespace keyhold;
using nlohmann::json;

namespace {
const std::filesystem::path kPlugins = KEYHOLD_TEST_PLUGIN_DIR;
const std::filesystem::path kBad = KEYHOLD_TEST_BAD_PLUGIN_DIR;

Config config_with(std::vector<InstanceConfig> instances) {
  Config config;
  config.path = "/nonexistent/keyhold.toml";
  config.plugin_dirs = {kPlugins};
  config.instances = std::move(instances);
  return config;
}

InstanceConfig instance(std::string name, std::string plugin,
                        std::optional<std::string> prefix = {}) {
  InstanceConfig c;
  c.name = std::move(name);
  c.plugin = std::move(plugin);
  c.prefix = std::move(prefix);
  return c;
}

std::string load_one_error(const InstanceConfig& bad) {
  Registry registry;
  EventHub hub(registry);
  auto results = load_instances(config_with({instance("echo", "echo"), bad}), registry, &hub);
  REQUIRE(results.size() == 2);
  CHECK(results[0].loaded);  // the good instance still serves
  CHECK(registry.snapshot()->tool_by_name.contains("echo_echo"));
  CHECK_FALSE(results[1].loaded);
  return results[1].error;
}
}  // namespace

TEST_CASE("instances load with prefixes and tools are found by exposed name") {
  Registry registry;
  EventHub hub(registry);
  auto results = load_instances(
      config_with({instance("echo", "echo"), instance("c", "c_fixture", "")}), registry, &hub);
  for (const auto& r : results) {
    INFO(r.instance << ": " << r.error);
    CHECK(r.loaded);
  }
  auto snap = registry.snapshot();
  CHECK(snap->tool_by_name.contains("echo_echo"));
  CHECK(snap->tool_by_name.at("echo_echo").plugin_name == "echo");
  CHECK(snap->tool_by_name.contains("params"));
  CHECK(snap->prompt_by_name.contains("echo_greet"));
  CHECK(registry.resource_owner("echo://echo/greeting") != nullptr);
  CHECK(registry.resource_owner("echo://other/greeting") == nullptr);
}

TEST_CASE("each bad plugin is skipped with a one-line cause") {
  CHECK(load_one_error(instance("x", (kBad / "missing.so").string())) == "file not found");
  CHECK(load_one_error(instance("x", "no_such_plugin"))
            .starts_with("no plugin named \"no_such_plugin\""));
  CHECK_THAT(load_one_error(instance("x", (kBad / "bad_no_entry.so").string())),
             Catch::Contains("no exported symbol keyhold_plugin_entry"));
  CHECK_THAT(load_one_error(instance("x", (kBad / "bad_abi_major.so").string())),
             Catch::Contains("ABI major version 99 does not match"));
  CHECK_THAT(load_one_error(instance("x", (kBad / "bad_abi_minor.so").string())),
             Catch::Contains("upgrade keyhold"));
  CHECK(load_one_error(instance("x", (kBad / "bad_create_fails.so").string())) ==
        "create() failed: cannot reach the database at db.invalid:5432");
  CHECK(load_one_error(instance("x", (kBad / "bad_create_throws.so").string())) ==
        "create() failed: option 'path' is required");
  CHECK_THAT(load_one_error(instance("x", (kBad / "bad_schema.so").string())),
             Catch::Contains("tool 'broken': invalid inputSchema"));
  CHECK_THAT(load_one_error(instance("x", (kBad / "collide_echo.so").string(), "echo_")),
             Catch::Contains("tool 'echo_echo' of instance 'x' collides with instance 'echo'"));

  const auto not_elf = std::filesystem::temp_directory_path() / "keyhold-not-a-library.so";
  std::ofstream(not_elf) << "this is not an ELF file\n";
  CHECK_THAT(load_one_error(instance("x", not_elf.string())),
             Catch::Contains("cannot load shared library") && Catch::Contains("dlerror"));
  std::filesystem::remove(not_elf);
}

TEST_CASE("two instances of one plugin coexist under different prefixes") {
  Registry registry;
  EventHub hub(registry);
  auto results =
      load_instances(config_with({instance("a", "echo"), instance("b", "echo")}), registry, &hub);
  CHECK(results[0].loaded);
  CHECK(results[1].loaded);
  auto snap = registry.snapshot();
  CHECK(snap->tool_by_name.at("a_echo").instance != snap->tool_by_name.at("b_echo").instance);
}
