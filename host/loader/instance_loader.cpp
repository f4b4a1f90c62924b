#include "loader/instance_loader.hpp"

#include <spdlog/spdlog.h>
#include <boost/dll/runtime_symbol_info.hpp>

#include <cstdlib>
#include <optional>
#include <thread>

#include "loader/runner_backend.hpp"
#include "loader/runner_policy.hpp"
#include "mount/mount_loader.hpp"
#include "sandbox/task_group.hpp"

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

Result<std::unique_ptr<PluginBackend>> start_backend(const InstanceConfig& instance,
                                                     const std::filesystem::path& path) {
  if (instance.isolation == "in-process") {
    auto library = PluginLibrary::load(path);
    if (!library.is_ok()) return library.status();
    spdlog::warn(
        "instance '{}' runs in-process (isolation = \"in-process\"): its code can read "
        "everything the host holds",
        instance.name);
    return std::unique_ptr<PluginBackend>(
        std::make_unique<InProcessBackend>(std::move(library).value()));
  }
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))  // the same words as an in-process load
    return not_found("file not found");
  RunnerOptions options;
  options.runner_path = runner_executable();
  options.plugin_path = path;
  // The configured cap, or 64, for the instance's pids cgroup too, which binds for root
  // (runner_policy() leaves a root host's runner without RLIMIT_NPROC).
  const auto cap = instance.sandbox.find("max_processes");
  const bool capped = cap != instance.sandbox.end() && cap->is_number_unsigned();
  options.max_tasks = capped ? cap->get<std::uint64_t>() : 64;
  options.policy = runner_policy(instance);
  options.call_timeout = std::chrono::seconds(instance.call_timeout_seconds);
  auto backend = RunnerBackend::start(instance.name, std::move(options));
  if (!backend.is_ok())
    return Status(backend.status().code(), "isolated runner: " + backend.status().message());
  return std::unique_ptr<PluginBackend>(std::move(backend).value());
}

namespace {

// A started backend made into a created instance with its catalog read: secrets bound
// first (the plugin may use handles in create), then create and describe. On failure
// `error` says why and nothing is kept.
struct Prepared {
  std::unique_ptr<PluginInstance> instance;
  nlohmann::json catalog;
  std::string error;
  std::vector<std::string> sandbox_applied, sandbox_missing;  // reported either way
};

Prepared prepare(const InstanceConfig& instance, std::unique_ptr<PluginBackend> backend,
                 HostServices* events, secrets::SecretServices* secrets) {
  Prepared prepared;
  prepared.sandbox_applied = backend->sandbox_applied();
  prepared.sandbox_missing = backend->sandbox_missing();
  if (!instance.secrets.empty() && (secrets == nullptr || !secrets->broker)) {
    prepared.error = "[secrets] are mapped but no secret services are available";
    return prepared;
  }
  // A mounted server's secrets go to its own command's environment, nowhere else.
  auto mapping = instance.secrets;
  if (instance.server)
    for (auto& [alias, entry] : mapping) entry.env_commands = {instance.server->command};
  if (secrets != nullptr && secrets->broker) {
    if (Status bound =
            secrets->broker->bind_instance(instance.name, backend->definition(), mapping);
        !bound.is_ok()) {
      prepared.error = bound.message();
      return prepared;
    }
  }
  auto created = std::make_unique<PluginInstance>(instance.name, instance.effective_prefix(),
                                                  std::move(backend), instance.options, events);
  created->set_secrets(secrets);
  if (instance.isolation == "process" && !instance.server && secrets != nullptr &&
      secrets->children) {
    // Children started through the env service get the instance's sandbox too.
    secrets->children->set_wrapper(
        instance.name,
        {runner_executable().string(), "--exec-policy=" + runner_policy(instance).dump(), "--"});
  }
  created->set_guard(
      secrets::parse_guard_mode(instance.guard).value_or(secrets::GuardMode::kBlock));
  if (Status done = created->create(); !done.is_ok()) {
    prepared.error = done.message();
    return prepared;
  }
  auto catalog = created->describe();
  if (!catalog.is_ok()) {
    prepared.error = catalog.status().message();
    return prepared;
  }
  prepared.instance = std::move(created);
  prepared.catalog = std::move(catalog).value();
  return prepared;
}

}  // namespace

std::vector<InstanceLoadResult> load_instances(const Config& config, Registry& registry,
                                               HostServices* events,
                                               secrets::SecretServices* secrets) {
  // pids cgroups of a host that died without cleaning up (SIGKILL): their processes end now.
  TaskGroup::remove_stale();
  std::vector<InstanceLoadResult> results;
  const auto dirs = plugin_search_dirs(config);
  const std::filesystem::path base =
      config.path.has_parent_path() ? config.path.parent_path() : std::filesystem::path(".");

  // Isolated instances start side by side, up to their catalog (a runner's start is mostly
  // a new process; create and describe are round trips to it); in-process plugins (the
  // host's own dynamic loader, plugin code in this process) and mounted servers one at a
  // time. The registry takes them in config order, so a name collision always names the
  // later instance.
  struct Started {
    std::filesystem::path path;
    std::unique_ptr<PluginBackend> backend;
    Status status;
    std::optional<Prepared> prepared;
  };
  std::vector<Started> started(config.instances.size());
  {
    std::vector<std::thread> starters;
    for (std::size_t i = 0; i < config.instances.size(); ++i) {
      Started& s = started[i];
      if (const auto& server = config.instances[i].server) {  // a mounted MCP server
        s.path = server->url.empty() ? server->command.front() : server->url;
        s.backend = mount::make_mounted_backend(config.instances[i], config.max_message_bytes,
                                                runner_executable());
        continue;
      }
      auto resolved = resolve_plugin_path(config.instances[i].plugin, base, dirs);
      if (!resolved.is_ok()) {
        s.status = resolved.status();
        continue;
      }
      s.path = std::move(resolved).value();
      const bool isolated = config.instances[i].isolation != "in-process";
      auto start = [&s, &instance = config.instances[i], isolated, events, secrets] {
        auto backend = start_backend(instance, s.path);
        if (!backend.is_ok())
          s.status = backend.status();
        else if (isolated)
          s.prepared = prepare(instance, std::move(backend).value(), events, secrets);
        else
          s.backend = std::move(backend).value();
      };
      if (isolated)
        starters.emplace_back(start);
      else
        start();
    }
    for (auto& t : starters) t.join();
  }

  for (std::size_t i = 0; i < config.instances.size(); ++i) {
    const InstanceConfig& instance = config.instances[i];
    Started& s = started[i];
    InstanceLoadResult result;
    result.instance = instance.name;
    result.plugin_path = instance.plugin;
    result.isolation =
        instance.server && !instance.server->url.empty() ? "remote" : instance.isolation;
    result.sandbox = instance.sandbox;
    if (!s.path.empty()) result.plugin_path = s.path.string();
    if (instance.server)
      result.plugin_path = instance.server->url.empty()
                               ? "server.command " + nlohmann::json(instance.server->command).dump()
                               : "server.url " + instance.server->url;
    if (s.backend) s.prepared = prepare(instance, std::move(s.backend), events, secrets);
    if (!s.prepared) {
      result.error = s.status.message();
      results.push_back(std::move(result));
      continue;
    }
    Prepared& prepared = *s.prepared;
    result.sandbox_applied = std::move(prepared.sandbox_applied);
    result.sandbox_missing = std::move(prepared.sandbox_missing);
    Status loaded = prepared.error.empty()
                        ? registry.add(std::move(prepared.instance), std::move(prepared.catalog))
                        : internal_error(prepared.error);
    if (!loaded.is_ok()) {
      result.error = loaded.message();
      results.push_back(std::move(result));
      continue;
    }
    result.loaded = true;
    results.push_back(std::move(result));
  }
  return results;
}

}  // namespace keyhold
