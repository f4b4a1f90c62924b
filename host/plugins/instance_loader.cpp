#include "plugins/instance_loader.hpp"

#include <boost/dll/runtime_symbol_info.hpp>
#include <cstdlib>

namespace keyhold {

std::vector<std::filesystem::path> plugin_search_dirs(const Config& config) {
  std::vector<std::filesystem::path> dirs = config.plugin_dirs;
  if (const char* env = std::getenv("KEYHOLD_PLUGIN_PATH"); env != nullptr) {
    std::string_view rest(env);
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      std::string_view part = rest.substr(0, colon);
      if (!part.empty()) dirs.emplace_back(std::string(part));
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  std::error_code ec;
  const std::filesystem::path exe_dir = boost::dll::program_location(ec).parent_path();
  if (!ec) {
    dirs.push_back(exe_dir.parent_path() / "plugins");                  // build tree
    dirs.push_back(exe_dir.parent_path() / KEYHOLD_INSTALL_PLUGINDIR);  // installed
  }
  return dirs;
}

std::vector<InstanceLoadResult> load_instances(const Config& config, Registry& registry,
                                               HostServices* events,
                                               secrets::SecretServices* secrets) {
  std::vector<InstanceLoadResult> results;
  const auto dirs = plugin_search_dirs(config);
  const std::filesystem::path base =
      config.path.has_parent_path() ? config.path.parent_path() : std::filesystem::path(".");
  for (const auto& instance : config.instances) {
    InstanceLoadResult result{instance.name, instance.plugin, false, {}};
    std::string error;
    const auto path = resolve_plugin_path(instance.plugin, base, dirs, &error);
    if (path.empty()) {
      result.error = error;
      results.push_back(std::move(result));
      continue;
    }
    result.plugin_path = path.string();
    auto library = PluginLibrary::load(path, &error);
    if (!library) {
      result.error = error;
      results.push_back(std::move(result));
      continue;
    }
    if (!instance.secrets.empty() && (secrets == nullptr || !secrets->broker)) {
      result.error = "[secrets] are mapped but no secret services are available";
      results.push_back(std::move(result));
      continue;
    }
    if (secrets != nullptr && secrets->broker &&
        !secrets->broker->bind_instance(instance.name, library->definition(), instance.secrets,
                                        &error)) {
      result.error = error;
      results.push_back(std::move(result));
      continue;
    }
    auto created = std::make_unique<PluginInstance>(instance.name, instance.effective_prefix(),
                                                    library, instance.options, events);
    created->set_secrets(secrets);
    created->set_guard(instance.guard == "off"      ? secrets::GuardMode::kOff
                       : instance.guard == "redact" ? secrets::GuardMode::kRedact
                                                    : secrets::GuardMode::kBlock);
    if (!created->create(&error) || !registry.add(std::move(created), &error)) {
      result.error = error;
      results.push_back(std::move(result));
      continue;
    }
    result.loaded = true;
    results.push_back(std::move(result));
  }
  return results;
}

}  // namespace keyhold
