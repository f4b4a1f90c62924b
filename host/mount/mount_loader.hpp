#pragma once
// Starts the backend of a mounted MCP server instance ([instances.X] server.command, or
// server.url for a remote one, reached over Streamable HTTP with headers built per request,
// see remote_headers.hpp):
// builds its sandbox (the instance's [sandbox] policy, applied by keyhold-runner before it
// execs the server: the same code path as a plugin's child processes) and its environment
// (a few host variables, server.env, then each secret alias granted for env).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "config/config.hpp"
#include "loader/plugin_backend.hpp"
#include "secrets/secret_services.hpp"

namespace keyhold::mount {

// The paths a server's command needs to read besides the system's: the folder of
// argv[0]'s resolved program, and for each argument naming an existing file, the
// outermost node_modules folder above it (a Node package imports its dependencies from
// there) or else its folder. Relative paths are taken from the current directory; paths
// that do not exist are left out.
std::vector<std::string> default_read_paths(const std::vector<std::string>& command);

// The server's environment: PATH, HOME, LANG, TMPDIR and USER from the host, then env,
// then for each alias the value granted for env to `instance` now ("ALIAS=value"). An
// alias not granted is left out and logged by name (never a value). With services null
// no alias is set. Each entry carries the prefix of runner/child_env.hpp: it is the
// environment of the sandbox wrapper, which gives the server the variables unprefixed.
std::vector<vault::SecretBuffer> server_environment(const std::string& instance,
                                                    const MountedServerConfig& server,
                                                    const std::vector<std::string>& aliases,
                                                    secrets::SecretServices* services);

// The backend of instance (instance.server set: server.command or server.url). Nothing starts yet:
// create() starts it.
std::unique_ptr<PluginBackend> make_mounted_backend(const InstanceConfig& instance,
                                                    std::size_t max_message_bytes,
                                                    const std::filesystem::path& runner);

}  // namespace keyhold::mount
