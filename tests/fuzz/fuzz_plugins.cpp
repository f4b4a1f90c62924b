#include "fuzz_plugins.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

#include "loader/instance_loader.hpp"

namespace keyhold::fuzz {

FuzzFixture& fuzz_fixture() {
  static FuzzFixture* fixture = [] {
    auto* created = new FuzzFixture;  // never destroyed: plugin threads may outlive main()
    Config config;
    InstanceConfig echo;
    echo.name = "echo";
    echo.plugin = "echo";
    // In-process: the fuzzers target the host's parsing and dispatch, and a runner per
    // fuzz process would only slow every input down.
    echo.isolation = "in-process";
    config.instances.push_back(echo);
    InstanceConfig conformance;
    conformance.name = "conformance";
    conformance.plugin = "conformance";
    conformance.prefix = "";
    conformance.isolation = "in-process";
    config.instances.push_back(conformance);
    for (const auto& result : load_instances(config, created->registry, &created->hub)) {
      if (!result.loaded) {
        std::fprintf(stderr,
                     "fuzz fixture: plugin '%s' (%s) did not load: %s\n"
                     "build it (cmake --build BUILD --target echo conformance) or point "
                     "KEYHOLD_PLUGIN_PATH at the folder that holds it\n",
                     result.instance.c_str(), result.plugin_path.c_str(), result.error.c_str());
        std::exit(1);
      }
    }
    return created;
  }();
  return *fixture;
}

void silence_host_logging() { spdlog::set_level(spdlog::level::off); }

}  // namespace keyhold::fuzz
