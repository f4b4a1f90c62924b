#include "cli/import_plan.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace keyhold::cli::import {
namespace {

using ojson = nlohmann::ordered_json;

bool valid_variable_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool ends_with(std::string_view text, std::string_view tail) {
  return text.size() >= tail.size() && text.substr(text.size() - tail.size()) == tail;
}

// Line and column (1-based) of byte offset `at` of text.
std::pair<std::size_t, std::size_t> line_column(std::string_view text, std::size_t at) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < at && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

// A scalar as text: strings as they are, numbers and booleans as JSON writes them.
std::optional<std::string> scalar_text(const ojson& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number() || value.is_boolean()) return value.dump();
  return std::nullopt;
}

bool is_remote_type(const std::string& type) {
  return type == "http" || type == "sse" || type == "streamable-http" || type == "streamableHttp" ||
         type == "ws" || type == "websocket";
}

ClientServer read_server(const std::string& name, const ojson& entry) {
  ClientServer server;
  server.name = name;
  if (!entry.is_object()) {
    server.skip_reason = "its entry is not a JSON object";
    return server;
  }
  std::string type;
  if (auto it = entry.find("type"); it != entry.end()) {
    if (!it->is_string()) {
      server.skip_reason = "its \"type\" is not a string";
      return server;
    }
    type = it->get<std::string>();
  }
  if (entry.contains("url") || is_remote_type(type)) {
    std::string what = entry.contains("url") ? "url" : "";
    if (!type.empty()) what += (what.empty() ? "type " : ", type ") + type;
    server.skip_reason = "remote servers are not mounted yet (" + what + ")";
    return server;
  }
  if (!type.empty() && type != "stdio") {
    server.skip_reason = "unknown server type (expected stdio)";
    return server;
  }
  auto command = entry.find("command");
  if (command == entry.end() || !command->is_string() || command->get<std::string>().empty()) {
    server.skip_reason = "it has no command (a non-empty string) to start it with";
    return server;
  }
  server.command.push_back(command->get<std::string>());
  if (auto args = entry.find("args"); args != entry.end() && !args->is_null()) {
    if (!args->is_array()) {
      server.skip_reason = "its \"args\" is not an array";
      server.command.clear();
      return server;
    }
    for (const auto& arg : *args) {
      auto text = scalar_text(arg);
      if (!text) {
        server.skip_reason = "an element of its \"args\" is not a string";
        server.command.clear();
        return server;
      }
      server.command.push_back(std::move(*text));
    }
  }
  for (const auto& word : server.command) {
    if (word.find('\0') != std::string::npos) {
      server.skip_reason = "its command line contains a NUL character";
      server.command.clear();
      return server;
    }
  }
  if (auto env = entry.find("env"); env != entry.end() && !env->is_null()) {
    if (!env->is_object()) {
      server.skip_reason = "its \"env\" is not an object";
      server.command.clear();
      return server;
    }
    for (const auto& [key, value] : env->items()) {
      auto text = scalar_text(value);
      if (text && text->find('\0') == std::string::npos) {
        server.env.emplace_back(key, std::move(*text));
      } else {
        server.env_skipped.push_back(key);
      }
    }
  }
  if (entry.contains("cwd")) {
    server.notes.push_back(
        "\"cwd\" is not carried over: a mounted server starts in keyhold's working folder");
  }
  if (entry.contains("envFile")) {
    server.notes.push_back(
        "\"envFile\" is not read: put its variables in server.env or the vault by hand");
  }
  return server;
}

// Where the server list is: "mcpServers", "servers" or "mcp.servers"; nullptr if none.
const ojson* server_list(const ojson& root, ClientFormat* format, std::string* where) {
  if (auto it = root.find("mcpServers"); it != root.end()) {
    *format = ClientFormat::kMcpServers;
    *where = "mcpServers";
    return &*it;
  }
  if (auto it = root.find("servers"); it != root.end()) {
    *format = ClientFormat::kVsCode;
    *where = "servers";
    return &*it;
  }
  if (auto mcp = root.find("mcp"); mcp != root.end() && mcp->is_object()) {
    if (auto it = mcp->find("servers"); it != mcp->end()) {
      *format = ClientFormat::kVsCode;
      *where = "mcp.servers";
      return &*it;
    }
  }
  return nullptr;
}

ojson* server_list(ojson& root) {
  ClientFormat format{};
  std::string where;
  return const_cast<ojson*>(server_list(static_cast<const ojson&>(root), &format, &where));
}

Result<ojson> parse_json(std::string_view text) {
  try {
    return ojson::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/true,
                        /*ignore_comments=*/true);
  } catch (const ojson::parse_error& e) {
    // e.what() quotes the text around the error: only its position is reported.
    const std::size_t at = e.byte > 0 ? e.byte - 1 : 0;
    auto [line, column] = line_column(text, at);
    return invalid_argument("invalid JSON at line " + std::to_string(line) + ", column " +
                            std::to_string(column) + " (parse error " + std::to_string(e.id) + ")");
  }
}

bool plain_word(std::string_view word) {
  if (word.empty()) return false;
  return std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("_./:=@%+,-").find(c) != std::string_view::npos;
  });
}

}  // namespace

const char* format_label(ClientFormat format) {
  return format == ClientFormat::kVsCode ? "VS Code (servers)"
                                         : "Claude Desktop, Claude Code or Cursor (mcpServers)";
}

Result<ClientConfig> parse_client_config(std::string_view text) {
  auto parsed = parse_json(text);
  if (!parsed.is_ok()) return parsed.status();
  const ojson root = std::move(parsed).value();
  if (!root.is_object())
    return invalid_argument("unknown shape: the top level is not a JSON object");
  ClientConfig config;
  std::string where;
  const ojson* list = server_list(root, &config.format, &where);
  if (list == nullptr) {
    std::string why =
        "unknown shape: no \"mcpServers\" object (Claude Desktop, Claude Code, Cursor) and no "
        "\"servers\" object (VS Code mcp.json)";
    if (auto projects = root.find("projects"); projects != root.end() && projects->is_object()) {
      why +=
          "; per-project servers under \"projects\" are not imported: import the "
          "project's .mcp.json instead";
    }
    return invalid_argument(why);
  }
  if (!list->is_object())
    return invalid_argument("unknown shape: \"" + where + "\" is not an object of named servers");
  if (list->empty()) return invalid_argument("no servers: \"" + where + "\" is empty");
  for (const auto& [name, entry] : list->items())
    config.servers.push_back(read_server(name, entry));
  if (auto projects = root.find("projects"); projects != root.end() && projects->is_object()) {
    config.notes.push_back(
        "per-project servers under \"projects\" are not imported: import each project's "
        ".mcp.json");
  }
  return config;
}

bool credential_variable_name(std::string_view name) {
  const std::string n = upper(name);
  if (n == "TOKEN" || n == "SECRET" || n == "PASSWORD") return true;
  for (std::string_view tail : {"_TOKEN", "_KEY", "_SECRET", "_PAT"}) {
    if (ends_with(n, tail)) return true;
  }
  return n.find("PASSWORD") != std::string::npos;
}

std::string import_secret_name(std::string_view instance, std::string_view variable) {
  return "import/" + std::string(instance) + "/" + std::string(variable);
}

std::string sanitize_instance_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    out.push_back(ok ? c : '_');
    if (out.size() == 64) break;
  }
  return out.empty() ? "server" : out;
}

ImportPlan plan_import(
    const ClientConfig& client, const CredentialMatcher& matcher,
    const std::function<std::optional<std::string>(std::string_view)>& argument_matcher) {
  ImportPlan plan;
  plan.format = client.format;
  plan.notes = client.notes;
  std::set<std::string> used;
  for (const auto& server : client.servers) {
    if (!server.skip_reason.empty()) {
      plan.skipped.push_back({server.name, server.skip_reason});
      continue;
    }
    InstancePlan instance;
    instance.source_name = server.name;
    const std::string base = sanitize_instance_name(server.name);
    instance.instance = base;
    for (int n = 2; used.count(instance.instance) != 0; ++n) {
      const std::string suffix = "-" + std::to_string(n);
      instance.instance = base.substr(0, 64 - suffix.size()) + suffix;
    }
    used.insert(instance.instance);
    instance.command = server.command;
    instance.notes = server.notes;
    for (std::size_t i = 1; i < server.command.size(); ++i) {
      const std::string& arg = server.command[i];
      if (arg.find("${") != std::string::npos) {
        instance.notes.push_back("argument " + std::to_string(i) +
                                 " uses ${...}, which the client expands and keyhold does not");
      }
      if (argument_matcher) {
        if (auto rule = argument_matcher(arg)) {
          instance.notes.push_back("argument " + std::to_string(i) +
                                   " looks like a credential (rule " + *rule +
                                   ") and stays on the command line in the config: pass it "
                                   "through a variable from the vault instead if the server "
                                   "can read one");
        }
      }
    }
    for (const auto& [name, value] : server.env) {
      VariablePlan v;
      v.name = name;
      if (!valid_variable_name(name)) {
        v.kind = VariableKind::kSkipped;
        v.why = "not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)";
      } else if (value.find("${") != std::string::npos) {
        v.kind = VariableKind::kSkipped;
        v.why = "its value is filled in by the client (${...}), which keyhold does not do";
      } else if (!value.empty() && credential_variable_name(name)) {
        v.kind = VariableKind::kVault;
        v.why = "name";
      } else if (auto rule = value.empty() || !matcher ? std::nullopt : matcher(name, value)) {
        v.kind = VariableKind::kVault;
        v.why = "rule " + *rule;
      } else {
        v.kind = VariableKind::kPlain;
      }
      if (v.kind == VariableKind::kVault)
        v.secret_name = import_secret_name(instance.instance, name);
      if (v.kind != VariableKind::kSkipped) v.value = value;
      instance.variables.push_back(std::move(v));
    }
    for (const auto& name : server.env_skipped) {
      instance.variables.push_back(
          {name, VariableKind::kSkipped, "its value is not a string", "", ""});
    }
    const std::string program = server.command.front();
    const std::string leaf = program.substr(program.find_last_of('/') + 1);
    if (leaf == "npx" || leaf == "uvx" || leaf == "docker" || leaf == "pipx") {
      instance.notes.push_back(
          leaf +
          " may need the network or folders outside the sandbox's defaults: see "
          "[instances." +
          instance.instance + ".sandbox] in host/mount/README.md");
    }
    plan.instances.push_back(std::move(instance));
  }
  return plan;
}

std::string toml_string(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

std::string render_instances_toml(const ImportPlan& plan, std::string_view source_file) {
  std::string out;
  for (const auto& instance : plan.instances) {
    out += "\n# Imported by `keyhold import` from " + toml_string(source_file) + ", server " +
           toml_string(instance.source_name) + ".\n";
    out += "[instances." + instance.instance + "]\n";
    out += "server.command = [";
    for (std::size_t i = 0; i < instance.command.size(); ++i) {
      out += (i == 0 ? "" : ", ") + toml_string(instance.command[i]);
    }
    out += "]\n";
    std::string plain, secrets;
    for (const auto& v : instance.variables) {
      if (v.kind == VariableKind::kPlain) {
        plain += (plain.empty() ? "" : ", ") + v.name + " = " + toml_string(v.value);
      } else if (v.kind == VariableKind::kVault) {
        secrets += v.name + " = " + toml_string("vault:" + v.secret_name) + "\n";
      }
    }
    if (!plain.empty()) out += "server.env = { " + plain + " }\n";
    if (!secrets.empty()) {
      out += "[instances." + instance.instance + ".secrets]  # granted for env by the import\n";
      out += secrets;
    }
  }
  return out;
}

std::string render_plan_text(const ImportPlan& plan,
                             const std::function<std::string(std::string_view)>& show_argument) {
  std::string out;
  for (const auto& instance : plan.instances) {
    out += "instance " + instance.instance + " (server " +
           nlohmann::json(instance.source_name).dump() + ")\n";
    out += "  command:";
    for (const auto& word : instance.command) {
      const std::string shown = show_argument ? show_argument(word) : word;
      out += " " + (plain_word(shown) ? shown : nlohmann::json(shown).dump());
    }
    out += "\n";
    std::string plain, skipped;
    for (const auto& v : instance.variables) {
      if (v.kind == VariableKind::kVault) {
        out += "  to the vault: " + v.name + " -> " + v.secret_name + " (" +
               (v.why == "name" ? std::string("by its name") : v.why) + "), granted to " +
               instance.instance + " for env\n";
      } else if (v.kind == VariableKind::kPlain) {
        plain += (plain.empty() ? "" : ", ") + v.name;
      } else {
        skipped += "  left out: " + nlohmann::json(v.name).dump() + ": " + v.why + "\n";
      }
    }
    if (!plain.empty()) out += "  plain (server.env): " + plain + "\n";
    out += skipped;
    for (const auto& note : instance.notes) out += "  note: " + note + "\n";
  }
  for (const auto& s : plan.skipped) {
    out += "skipped: server " + nlohmann::json(s.source_name).dump() + ": " + s.reason + "\n";
  }
  for (const auto& note : plan.notes) out += "note: " + note + "\n";
  return out;
}

Result<std::string> rewrite_client_config(std::string_view text,
                                          const std::vector<std::string>& keyhold_argv,
                                          const std::set<std::string>& keep) {
  auto parsed = parse_json(text);
  if (!parsed.is_ok()) return parsed.status();
  ojson root = std::move(parsed).value();
  ClientFormat format{};
  std::string where;
  if (!root.is_object() || server_list(static_cast<const ojson&>(root), &format, &where) == nullptr)
    return invalid_argument("unknown shape");
  ojson* list = server_list(root);
  if (list == nullptr || !list->is_object() || keyhold_argv.empty())
    return invalid_argument("unknown shape");
  ojson replaced = ojson::object();
  for (const auto& [name, entry] : list->items()) {
    if (keep.count(name) != 0) replaced[name] = entry;
  }
  ojson entry = ojson::object();
  if (format == ClientFormat::kVsCode) entry["type"] = "stdio";
  entry["command"] = keyhold_argv.front();
  entry["args"] = ojson(std::vector<std::string>(keyhold_argv.begin() + 1, keyhold_argv.end()));
  const std::string entry_name = replaced.contains("keyhold") ? "keyhold-import" : "keyhold";
  replaced[entry_name] = std::move(entry);
  *list = std::move(replaced);
  return root.dump(2) + "\n";
}

}  // namespace keyhold::cli::import
