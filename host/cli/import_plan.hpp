#pragma once
// The pure part of `keyhold import FILE` (issue 17): read an MCP client's config (Claude
// Desktop, Claude Code, Cursor: `mcpServers`; VS Code: `servers`) into a list of servers,
// decide for each environment variable whether it goes to the vault, stays plain or is
// left out, and render the keyhold instances as TOML. No I/O here; values are carried but
// never put into any text this file produces except the TOML of plain variables.
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.hpp"

namespace keyhold::cli::import {

enum class ClientFormat {
  kMcpServers,  // {"mcpServers": {...}}: Claude Desktop, Claude Code, Cursor
  kVsCode,      // {"servers": {...}} (mcp.json) or {"mcp": {"servers": {...}}} (settings.json)
};
const char* format_label(ClientFormat format);

// One entry of the client's server list, as written there.
struct ClientServer {
  std::string name;
  std::vector<std::string> command;                      // command + args; empty if none
  std::vector<std::pair<std::string, std::string>> env;  // in file order
  std::vector<std::string> env_skipped;                  // names of non-string values
  std::string skip_reason;         // not empty: not importable (remote, no command, malformed)
  std::vector<std::string> notes;  // fields keyhold does not carry over (cwd, envFile)
};

struct ClientConfig {
  ClientFormat format = ClientFormat::kMcpServers;
  std::vector<ClientServer> servers;  // in file order
  std::vector<std::string> notes;     // about the file as a whole
};

// Parses the client config. kInvalidArgument (never quoting the file's content): invalid
// JSON (with line and column), an unknown shape, no servers.
Result<ClientConfig> parse_client_config(std::string_view text);

// True when the variable's name says it holds a credential: *_TOKEN, *_KEY, *_SECRET,
// *PASSWORD*, *_PAT (case-insensitive), or exactly TOKEN, SECRET, PASSWORD.
bool credential_variable_name(std::string_view name);

// A credential rule that matches NAME=value (its id), or nullopt.
using CredentialMatcher =
    std::function<std::optional<std::string>(std::string_view name, std::string_view value)>;

enum class VariableKind { kVault, kPlain, kSkipped };

struct VariablePlan {
  std::string name;
  VariableKind kind = VariableKind::kPlain;
  std::string why;          // kVault: "name" or "rule <id>"; kSkipped: the reason
  std::string secret_name;  // kVault: import/<instance>/<name>
  std::string value;        // never printed
};

struct InstancePlan {
  std::string source_name;  // the client's name for the server
  std::string instance;     // sanitized, unique
  std::vector<std::string> command;
  std::vector<VariablePlan> variables;
  std::vector<std::string> notes;  // e.g. "argument 3 looks like a credential (rule x)"
};

struct SkippedServer {
  std::string source_name;
  std::string reason;
};

struct ImportPlan {
  ClientFormat format = ClientFormat::kMcpServers;
  std::vector<InstancePlan> instances;
  std::vector<SkippedServer> skipped;
  std::vector<std::string> notes;
};

// The secret name a variable of an instance is stored under: import/<instance>/<variable>.
std::string import_secret_name(std::string_view instance, std::string_view variable);

// What the config and the vault accept as an instance name: [A-Za-z0-9_-], 1..64 bytes.
// Other characters become '_'; an empty name becomes "server".
std::string sanitize_instance_name(std::string_view name);

// argument_matcher (may be empty) names a credential rule an argument matches, for a note.
ImportPlan plan_import(
    const ClientConfig& client, const CredentialMatcher& matcher,
    const std::function<std::optional<std::string>(std::string_view)>& argument_matcher = {});

// [instances.X] tables for every instance of plan, each preceded by a comment naming the
// client file and server. Plain variables are written with their values; vault ones as
// "vault:<secret>" mappings.
std::string render_instances_toml(const ImportPlan& plan, std::string_view source_file);

// What `keyhold import` prints: per server the instance, command (arguments shown through
// show_argument), variables by name only, what is skipped and why.
std::string render_plan_text(const ImportPlan& plan,
                             const std::function<std::string(std::string_view)>& show_argument);

// A TOML basic string for any UTF-8 text.
std::string toml_string(std::string_view text);

// The client config with its server list replaced by one entry running keyhold_argv
// (entry "keyhold", or "keyhold-import" when kept servers use that name). Servers named in
// keep (those not imported) stay. Other keys keep their order.
Result<std::string> rewrite_client_config(std::string_view text,
                                          const std::vector<std::string>& keyhold_argv,
                                          const std::set<std::string>& keep);

}  // namespace keyhold::cli::import
