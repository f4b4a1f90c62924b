#include "mount/mount_loader.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "loader/runner_policy.hpp"
#include "mount/http_transport.hpp"
#include "mount/mcp_server_backend.hpp"
#include "mount/remote_headers.hpp"
#include "mount/server_process.hpp"
#include "mount/stdio_transport.hpp"
#include "runner/child_env.hpp"
#include "secrets/env_entry.hpp"

namespace keyhold::mount {

namespace {

constexpr const char* kInheritedVariables[] = {"PATH", "HOME", "LANG", "TMPDIR", "USER"};

// argv[0] as execvp would find it in the host's PATH, resolved through links.
std::filesystem::path resolve_program(const std::string& program) {
  std::error_code ec;
  if (program.find('/') != std::string::npos)
    return std::filesystem::weakly_canonical(std::filesystem::absolute(program, ec), ec);
  const char* path = std::getenv("PATH");
  std::string_view rest(path != nullptr ? path : "/usr/bin:/bin");
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const std::string dir(rest.substr(0, colon));
    const std::filesystem::path candidate =
        std::filesystem::path(dir.empty() ? "." : dir) / program;
    if (::access(candidate.c_str(), X_OK) == 0)
      return std::filesystem::weakly_canonical(std::filesystem::absolute(candidate, ec), ec);
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return {};
}

// One variable for the server, as its sandbox wrapper takes it: under the prefix of
// runner/child_env.hpp, so that none takes effect before the sandbox.
void append_entry(std::vector<vault::SecretBuffer>* env, std::string_view name,
                  std::string_view value) {
  env->push_back(secrets::env_entry(runner::kChildEnvPrefix, name, value));
}

}  // namespace

std::vector<std::string> default_read_paths(const std::vector<std::string>& command) {
  std::vector<std::string> paths;
  auto add = [&](const std::filesystem::path& p) {  // the sandbox refuses a missing path
    const std::string text = p.string();
    std::error_code exists_ec;
    if (!text.empty() && std::filesystem::exists(p, exists_ec) &&
        std::find(paths.begin(), paths.end(), text) == paths.end())
      paths.push_back(text);
  };
  if (command.empty()) return paths;
  if (auto program = resolve_program(command[0]); !program.empty()) add(program.parent_path());
  std::error_code ec;
  for (std::size_t i = 1; i < command.size(); ++i) {
    const std::string& arg = command[i];
    if (arg.empty() || arg[0] == '-') continue;
    const std::filesystem::path file = std::filesystem::absolute(arg, ec);
    if (ec || !std::filesystem::is_regular_file(file, ec)) continue;
    const std::filesystem::path real = std::filesystem::weakly_canonical(file, ec);
    std::filesystem::path outermost;
    for (auto p = real.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path())
      if (p.filename() == "node_modules") outermost = p;
    add(outermost.empty() ? real.parent_path() : outermost);
  }
  return paths;
}

std::vector<vault::SecretBuffer> server_environment(const std::string& instance,
                                                    const MountedServerConfig& server,
                                                    const std::vector<std::string>& aliases,
                                                    secrets::SecretServices* services) {
  std::vector<vault::SecretBuffer> env;
  for (const char* name : kInheritedVariables)
    if (!server.env.contains(name))
      if (const char* value = std::getenv(name)) append_entry(&env, name, value);
  for (const auto& [name, value] : server.env) append_entry(&env, name, value);
  if (services == nullptr || !services->broker) {
    for (const auto& alias : aliases)
      spdlog::warn("instance '{}': no secret services; the server starts without {}", instance,
                   alias);
    return env;
  }
  // The redactor learns every value before the server can print one (stderr included);
  // when it cannot, no value is handed out (fail closed).
  if (services->redactor) {
    if (Status known = services->redactor->set_secrets(services->broker->releasable_values());
        !known.is_ok()) {
      spdlog::error(
          "instance '{}': the redactor refused the secret values ({}); the server starts "
          "without any of them",
          instance, known.message());
      return env;
    }
  }
  for (const auto& alias : aliases) {
    auto value = services->broker->value_for_env(instance, alias, server.command, "");
    if (!value.is_ok()) {
      spdlog::warn(
          "instance '{}': {}; its server starts without the variable {} (grant it with "
          "`keyhold vault grant {} SECRET --ops env`)",
          instance, value.status().message(), alias, instance);
      continue;
    }
    append_entry(&env, alias, value->view());
  }
  return env;
}

namespace {

std::unique_ptr<PluginBackend> make_remote_backend(const InstanceConfig& instance,
                                                   std::size_t max_message_bytes) {
  const MountedServerConfig& server = *instance.server;
  McpServerOptions options;
  options.instance = instance.name;
  options.lazy = instance.server->lazy;
  options.remote = true;
  options.description = "an MCP server mounted over Streamable HTTP";
  options.max_message_bytes = max_message_bytes;
  options.call_timeout = std::chrono::seconds(instance.call_timeout_seconds);
  for (const auto& [alias, mapping] : instance.secrets) options.secret_aliases.push_back(alias);
  options.connect =
      [name = instance.name, server, max_message_bytes](
          secrets::SecretServices* services) -> Result<std::unique_ptr<ServerTransport>> {
    // Built now to check the grants before anything is sent (a server without its
    // credentials would only answer 401); the first request carries these lines, every
    // later one builds its own.
    auto headers = std::make_shared<BrokerHeaders>(name, server, services);
    auto first = headers->build({});  // for initialize: keyhold's own request
    if (!first.is_ok()) return first.status();
    // The redactor learns every value before the server can answer with one; when it
    // cannot, no header leaves (fail closed). Later changes reach it through the broker's
    // change listener, before a changed value leaves.
    if (services != nullptr && services->broker && services->redactor) {
      if (Status known = services->redactor->set_secrets(services->broker->releasable_values());
          !known.is_ok())
        return internal_error("the redactor refused the secret values (" + known.message() +
                              "); no secret header is sent");
    }
    HttpTransportOptions http;
    http.instance = name;
    http.url = server.url;
    http.headers = std::move(headers);
    http.first_headers = std::move(first).value();
    http.ca_file = server.ca_file;
    http.max_message_bytes = max_message_bytes;
    auto transport = HttpTransport::open(std::move(http));
    if (!transport.is_ok()) return transport.status();
    return std::unique_ptr<ServerTransport>(std::move(transport).value());
  };
  options.sandbox_applied = {"remote server at " + HttpTransport::origin_of(server.url) +
                             " (not a child of keyhold: no sandbox)"};
  return std::make_unique<McpServerBackend>(std::move(options));
}

}  // namespace

std::unique_ptr<PluginBackend> make_mounted_backend(const InstanceConfig& instance,
                                                    std::size_t max_message_bytes,
                                                    const std::filesystem::path& runner) {
  const MountedServerConfig& server = *instance.server;
  if (!server.url.empty()) return make_remote_backend(instance, max_message_bytes);
  nlohmann::json policy = runner_policy(instance);
  nlohmann::json reads = policy.value("read", nlohmann::json::array());
  for (const auto& path : default_read_paths(server.command)) reads.push_back(path);
  policy["read"] = std::move(reads);

  McpServerOptions options;
  options.instance = instance.name;
  options.lazy = instance.server->lazy;
  std::vector<std::string> argv = {runner.string(), "--exec-policy=" + policy.dump(), "--"};
  argv.insert(argv.end(), server.command.begin(), server.command.end());
  options.max_message_bytes = max_message_bytes;
  options.call_timeout = std::chrono::seconds(instance.call_timeout_seconds);
  for (const auto& [alias, mapping] : instance.secrets) options.secret_aliases.push_back(alias);
  options.connect =
      [name = instance.name, server, argv = std::move(argv), aliases = options.secret_aliases,
       max_message_bytes](
          secrets::SecretServices* services) -> Result<std::unique_ptr<ServerTransport>> {
    auto process =
        ServerProcess::start(argv, server_environment(name, server, aliases, services), name);
    if (!process.is_ok()) return io_error(process.status().message());
    return std::unique_ptr<ServerTransport>(
        std::make_unique<StdioTransport>(std::move(process).value(), max_message_bytes));
  };
  options.sandbox_applied = {
      "server started by keyhold-runner --exec-policy (read: " + policy["read"].dump() + ")"};
  return std::make_unique<McpServerBackend>(std::move(options));
}

}  // namespace keyhold::mount
