#pragma once
// keyhold.toml: server settings and plugin instances.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "config/oauth_config.hpp"

namespace keyhold {

// Where one secret alias of an instance comes from, and which commands may receive it
// in their environment (the env service). A plain string in the config is a mapping
// with no env commands: reveal and sign work as granted, env is refused.
struct SecretMapping {
  std::string source;  // "vault:NAME" | "env:VAR" | "file:PATH"
  // Each entry is an argv prefix a child must start with to get the value: {"node"}
  // allows any argv whose argv[0] is exactly "node"; {"npm", "test"} only `npm test ...`.
  std::vector<std::vector<std::string>> env_commands;
};

// An existing MCP server mounted as an instance (`server.command`, `server.env`): the host
// starts it as a child speaking MCP over stdio and is its client.
struct MountedServerConfig {
  // A stdio server (command set) or a remote one (url set); never both.
  std::vector<std::string> command;        // argv, run without a shell
  std::map<std::string, std::string> env;  // plain variables, by name
  // A remote server reached over Streamable HTTP: its endpoint (http:// or https://),
  // headers sent with every request (values may hold {secret:ALIAS}, filled in by the
  // host; see header_template.hpp) and a PEM file of CA certificates to trust instead of
  // the system's (empty: the system's). TLS verification is always on.
  std::string url;
  std::map<std::string, std::string> headers;
  std::string ca_file;
  // server.lazy: the server is started at serve start only to read its catalog, then
  // stopped; it starts again at the first call (either kind).
  bool lazy = false;
};

struct InstanceConfig {
  std::string name;
  std::string plugin;  // a name searched in the plugin dirs, or a path; empty when mounted
  // Set instead of plugin for a mounted MCP server. Its [secrets] aliases are variable
  // names: each granted alias (operation env) reaches the server's environment.
  std::optional<MountedServerConfig> server;
  std::optional<std::string> prefix;  // default "<name>_"
  nlohmann::json options = nlohmann::json::object();
  std::map<std::string, SecretMapping> secrets;  // by alias
  std::string guard = "block";                   // argument guard: "block" | "redact" | "off"
  // Where the plugin runs: "process" (a sandboxed keyhold-runner, the default) or
  // "in-process" (inside the host: trusted code only).
  std::string isolation = "process";
  // "strict": a sandbox feature the kernel lacks stops the instance; "best-effort": the
  // instance starts with what exists, and the log and `plugins list` say what is missing.
  std::string sandbox_mode = "strict";
  // [instances.X.sandbox] as the runner's policy JSON: read, write (absolute paths),
  // network ("none" | "any" | "allowlist" with ports), memory (bytes), max_open_files,
  // max_processes, unix_sockets, udp.
  nlohmann::json sandbox = nlohmann::json::object();
  std::int64_t call_timeout_seconds = 600;  // [instances.X.sandbox] call_timeout

  std::string effective_prefix() const { return prefix ? *prefix : name + "_"; }
};

struct HttpConfig {
  bool auth = true;  // bearer tokens required; "off" only on a loopback bind
  std::vector<std::string> allowed_origins;
  std::size_t max_sessions = 100;
  std::size_t max_body_bytes = 4u << 20;
  std::size_t max_connections = 128;
  std::int64_t read_timeout_seconds = 30;  // whole request, and idle keep-alive
  std::int64_t session_idle_timeout_seconds = 1800;
  std::size_t max_sessions_per_token = 16;
  // A session with no request in flight and no open stream for this long is ended.
  std::int64_t abandoned_session_timeout_seconds = 300;
  // Per-token token bucket: `rate_limit = { rate = 20, burst = 40 }`.
  double rate_limit_rate = 20;   // requests per second
  double rate_limit_burst = 40;  // requests at once
};

struct Config {
  std::filesystem::path path;  // the file it came from (empty for built-in defaults)
  std::vector<std::filesystem::path> plugin_dirs;
  std::size_t page_size = 100;
  std::size_t workers = 8;
  std::size_t max_message_bytes = 4u << 20;
  std::string log_level = "info";
  std::vector<InstanceConfig> instances;  // in file order
  HttpConfig http;
  OAuthProviders oauth;  // [oauth.NAME], by name
};

// Parses a config file. Fails with a message naming the file, line and cause when it cannot
// be read (kIo) or is invalid (kInvalidArgument).
Result<Config> load_config(const std::filesystem::path& path);
// Same, from text (path is only used in messages and to resolve relative paths).
Result<Config> parse_config(std::string_view text, const std::filesystem::path& path);

// $XDG_CONFIG_HOME/keyhold/keyhold.toml, else ~/.config/keyhold/keyhold.toml.
std::filesystem::path default_config_path();
// $XDG_DATA_HOME/keyhold, else ~/.local/share/keyhold.
std::filesystem::path default_data_dir();

// The commented configuration written on first run.
std::string default_config_text();
// Writes default_config_text() to path (creating folders, mode 0600) unless the file
// exists. Fails with kIo and a message naming the path.
Status write_default_config(const std::filesystem::path& path);

}  // namespace keyhold
