#pragma once
// Turns the [instances] of a config into loaded, created, registered plugin instances.
#include <string>
#include <vector>

#include "config/config.hpp"
#include "loader/host_services.hpp"
#include "loader/plugin_backend.hpp"
#include "loader/registry.hpp"

namespace keyhold {

struct InstanceLoadResult {
  std::string instance;
  std::string plugin_path;  // resolved file, or the reference when it did not resolve
  bool loaded = false;
  std::string error;                                  // one line: why it was skipped
  std::string isolation;                              // "process" or "in-process"
  nlohmann::json sandbox = nlohmann::json::object();  // the policy the runner applied
  std::vector<std::string> sandbox_applied, sandbox_missing;
};

// The folders searched for "<name>.so": the config's plugin_dirs, $KEYHOLD_PLUGIN_PATH
// (colon-separated), then the plugin folder next to the executable (build tree and
// installed layout).
std::vector<std::filesystem::path> plugin_search_dirs(const Config& config);

// The plugin at path (resolved) for instance: in a sandboxed runner (isolation
// "process") or loaded into this process ("in-process"). An error when it cannot start.
Result<std::unique_ptr<PluginBackend>> start_backend(const InstanceConfig& instance,
                                                     const std::filesystem::path& path);

// Loads every instance of config into registry, in file order. A failing instance is
// skipped and reported; the others still load. events receives instance-wide events.
// When secrets is given, each instance's [secrets] aliases are bound in its broker before
// the plugin is created (a bad mapping skips the instance) and the instance may use
// handles; otherwise every secret operation answers "not granted".
std::vector<InstanceLoadResult> load_instances(const Config& config, Registry& registry,
                                               HostServices* events,
                                               secrets::SecretServices* secrets = nullptr);

}  // namespace keyhold
