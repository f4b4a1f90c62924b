#include "config/config.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "config/header_template.hpp"
#include "config/oauth_config_reader.hpp"
#include "keyhold/vault/vault.hpp"

namespace keyhold {

namespace {

nlohmann::json to_json(const toml::node& node) {
  if (auto* table = node.as_table()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, value] : *table) out[std::string(key.str())] = to_json(value);
    return out;
  }
  if (auto* array = node.as_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& value : *array) out.push_back(to_json(value));
    return out;
  }
  if (auto* s = node.as_string()) return s->get();
  if (auto* i = node.as_integer()) return i->get();
  if (auto* f = node.as_floating_point()) return f->get();
  if (auto* b = node.as_boolean()) return b->get();
  std::ostringstream text;  // dates and times: their TOML text
  if (auto* d = node.as_date()) text << d->get();
  if (auto* t = node.as_time()) text << t->get();
  if (auto* dt = node.as_date_time()) text << dt->get();
  return text.str();
}

std::string where(const std::filesystem::path& path, const toml::node& node) {
  return path.string() + ":" + std::to_string(node.source().begin.line);
}

Status read_size(const toml::table& table, const char* section, const char* key, std::size_t* out,
                 const std::filesystem::path& path) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return Status::ok();
  auto value = node->value<int64_t>();
  if (!value || *value <= 0) {
    return invalid_argument(where(path, *node) + ": " + section + "." + key +
                            " must be a positive integer");
  }
  *out = static_cast<std::size_t>(*value);
  return Status::ok();
}

Status read_duration(const toml::table& table, const char* section, const char* key,
                     std::int64_t* seconds, const std::filesystem::path& path);

// A byte size: a positive integer, or "512MiB", "2GiB", "64KiB", "1000000B".
std::optional<std::uint64_t> parse_bytes(const toml::node& node) {
  if (auto number = node.value<int64_t>(); number && *number > 0)
    return static_cast<std::uint64_t>(*number);
  auto text = node.value<std::string>();
  if (!text || text->empty()) return std::nullopt;
  std::size_t digits = 0;
  while (digits < text->size() && std::isdigit(static_cast<unsigned char>((*text)[digits])))
    ++digits;
  if (digits == 0 || digits > 12) return std::nullopt;
  const std::uint64_t value = std::stoull(text->substr(0, digits));
  const std::string unit = text->substr(digits);
  const std::uint64_t scale = unit == "B" || unit.empty() ? 1
                              : unit == "KiB"             ? 1ull << 10
                              : unit == "MiB"             ? 1ull << 20
                              : unit == "GiB"             ? 1ull << 30
                                                          : 0;
  if (scale == 0 || value == 0) return std::nullopt;
  return value * scale;
}

// [instances.X.sandbox]: the runner's policy. Paths are made absolute (relative to the
// config file's folder) and must exist; network entries are ports ("host:port" or a
// number; Landlock binds ports, not addresses: see the README's security model).
Status read_sandbox(const toml::table& table, InstanceConfig& instance,
                    const std::filesystem::path& base_dir, const std::filesystem::path& path) {
  const std::string name = "instances." + instance.name + ".sandbox";
  nlohmann::json& policy = instance.sandbox;
  for (const char* key : {"read", "write"}) {
    const toml::node* node = table.get(key);
    if (node == nullptr) continue;
    const toml::array* list = node->as_array();
    nlohmann::json paths = nlohmann::json::array();
    bool ok = list != nullptr;
    if (ok)
      for (const auto& item : *list) {
        auto text = item.value<std::string>();
        if (!text || text->empty()) {
          ok = false;
          break;
        }
        std::filesystem::path p(*text);
        if (p.is_relative()) p = base_dir / p;
        paths.push_back(p.lexically_normal().string());
      }
    if (!ok) {
      return invalid_argument(where(path, *node) + ": " + name + "." + key +
                              " must be an array of paths");
    }
    policy[key] = std::move(paths);
  }
  if (const toml::node* node = table.get("network")) {
    if (auto text = node->value<std::string>(); text && (*text == "none" || *text == "any")) {
      policy["network"] = *text;
    } else if (const toml::array* list = node->as_array()) {
      nlohmann::json ports = nlohmann::json::array();
      for (const auto& item : *list) {
        std::optional<std::int64_t> port = item.value<int64_t>();
        if (auto entry = item.value<std::string>()) {
          const auto colon = entry->rfind(':');
          const std::string digits = colon == std::string::npos ? *entry : entry->substr(colon + 1);
          if (!digits.empty() && digits.size() <= 5 &&
              digits.find_first_not_of("0123456789") == std::string::npos)
            port = std::stoll(digits);
        }
        if (!port || *port <= 0 || *port > 65535) {
          return invalid_argument(where(path, item) + ": " + name +
                                  ".network entries must be \"host:port\" or a port number");
        }
        ports.push_back(*port);
      }
      policy["network"] = "allowlist";
      policy["ports"] = std::move(ports);
    } else {
      return invalid_argument(where(path, *node) + ": " + name +
                              ".network must be \"none\", \"any\" or an array of \"host:port\"");
    }
  }
  if (const toml::node* node = table.get("memory")) {
    auto bytes = parse_bytes(*node);
    if (!bytes) {
      return invalid_argument(where(path, *node) + ": " + name +
                              ".memory must be a size like \"512MiB\"");
    }
    policy["memory"] = *bytes;
  }
  for (const char* key : {"max_open_files", "max_processes"}) {
    std::size_t value = 0;
    if (Status read = read_size(table, name.c_str(), key, &value, path); !read.is_ok()) return read;
    if (value != 0) policy[key] = value;
  }
  for (const char* key : {"unix_sockets", "udp"}) {
    if (const toml::node* node = table.get(key)) {
      auto flag = node->value<bool>();
      if (!flag) {
        return invalid_argument(where(path, *node) + ": " + name + "." + key +
                                " must be true or false");
      }
      policy[key] = *flag;
    }
  }
  if (Status read =
          read_duration(table, name.c_str(), "call_timeout", &instance.call_timeout_seconds, path);
      !read.is_ok())
    return read;
  for (const auto& [field, value] : table) {
    const std::string_view f = field.str();
    if (f != "read" && f != "write" && f != "network" && f != "memory" && f != "max_open_files" &&
        f != "max_processes" && f != "unix_sockets" && f != "udp" && f != "call_timeout") {
      return invalid_argument(where(path, value) + ": " + name + ": unknown key '" +
                              std::string(f) + "'");
    }
  }
  return Status::ok();
}

// A duration: "30s", "2m", "1h" (see vault::parse_duration) or a number of seconds.
Status read_duration(const toml::table& table, const char* section, const char* key,
                     std::int64_t* seconds, const std::filesystem::path& path) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return Status::ok();
  std::optional<std::int64_t> value;
  if (auto text = node->value<std::string>())
    value = vault::parse_duration(*text);
  else if (auto number = node->value<int64_t>(); number && *number > 0)
    value = *number;
  if (!value) {
    return invalid_argument(
        where(path, *node) + ": " + section + "." + key +
        " must be a duration like \"30s\", \"5m\" or \"1h\", or a positive number of seconds");
  }
  *seconds = *value;
  return Status::ok();
}

// `rate_limit = { rate = 20, burst = 40 }`: requests per second and at once, both > 0.
Status read_rate_limit(const toml::table& table, HttpConfig* http,
                       const std::filesystem::path& path) {
  const toml::node* node = table.get("rate_limit");
  if (node == nullptr) return Status::ok();
  const toml::table* limit = node->as_table();
  const auto fail = [&] {
    return invalid_argument(
        where(path, *node) +
        ": http.rate_limit must be a table like { rate = 20, burst = 40 } (requests per "
        "second, requests at once; both positive)");
  };
  if (limit == nullptr) return fail();
  for (const auto& [key, value] : *limit)
    if (key.str() != "rate" && key.str() != "burst") return fail();
  auto rate = (*limit)["rate"].value<double>();
  auto burst = (*limit)["burst"].value<double>();
  if ((*limit).contains("rate") && (!rate || *rate <= 0)) return fail();
  if ((*limit).contains("burst") && (!burst || *burst < 1)) return fail();
  if (rate) http->rate_limit_rate = *rate;
  if (burst) http->rate_limit_burst = *burst;
  return Status::ok();
}

// `alias = "vault:NAME"` or `alias = { source = "vault:NAME", env_commands = [...] }`
// where each env command is a string (argv[0]) or an array of strings (an argv prefix).
Result<SecretMapping> parse_secret_mapping(const std::filesystem::path& path,
                                           const std::string& instance, std::string_view alias,
                                           const toml::node& node) {
  const std::string name = "instances." + instance + ".secrets." + std::string(alias);
  SecretMapping mapping;
  if (auto text = node.value<std::string>()) {
    mapping.source = *text;
    return mapping;
  }
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return invalid_argument(
        where(path, node) + ": " + name +
        " must be a string like \"vault:NAME\" or a table { source = \"vault:NAME\", "
        "env_commands = [...] }");
  }
  for (const auto& [field, value] : *table) {
    if (field.str() != "source" && field.str() != "env_commands") {
      return invalid_argument(where(path, value) + ": " + name + ": unknown field '" +
                              std::string(field.str()) + "' (expected source, env_commands)");
    }
  }
  const toml::node* source = table->get("source");
  auto text = source != nullptr ? source->value<std::string>() : std::nullopt;
  if (!text) {
    return invalid_argument(where(path, node) + ": " + name +
                            ".source must be a string like \"vault:NAME\"");
  }
  mapping.source = *text;
  if (const toml::node* commands = table->get("env_commands")) {
    const toml::array* list = commands->as_array();
    auto bad = [&](const toml::node& at) {
      return invalid_argument(
          where(path, at) + ": " + name +
          ".env_commands must be an array of commands, each a non-empty string (argv[0]) "
          "or a non-empty array of strings (an argv prefix)");
    };
    if (list == nullptr) return bad(*commands);
    for (const toml::node& entry : *list) {
      std::vector<std::string> prefix;
      if (auto word = entry.value<std::string>()) {
        prefix.push_back(*word);
      } else if (const toml::array* words = entry.as_array()) {
        for (const toml::node& w : *words) {
          auto word_text = w.value<std::string>();
          if (!word_text) return bad(w);
          prefix.push_back(*word_text);
        }
      } else {
        return bad(entry);
      }
      if (prefix.empty() || prefix.front().empty()) return bad(entry);
      mapping.env_commands.push_back(std::move(prefix));
    }
  }
  return mapping;
}

// A variable name a shell would accept: [A-Za-z_][A-Za-z0-9_]*.
bool valid_variable_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// `server = { command = [...], env = {...} }` of a mounted stdio MCP server, or
// `server = { url = "...", headers = {...}, ca_file = "..." }` of a remote one (usually
// written as dotted keys: server.command, server.url, ...).
Result<MountedServerConfig> read_mounted_server(const toml::node& node, const std::string& instance,
                                                const std::filesystem::path& base_dir,
                                                const std::filesystem::path& path) {
  const std::string name = "instances." + instance + ".server";
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return invalid_argument(
        where(path, node) + ": " + name +
        " must be a table: server.command = [\"program\", \"arg\", ...] or server.url = "
        "\"https://...\"");
  }
  const bool remote = table->contains("url");
  if (remote && table->contains("command")) {
    return invalid_argument(
        where(path, *table->get("url")) + ": " + name +
        ": server.command (a stdio server) or server.url (a remote one), not both");
  }
  for (const auto& [field, value] : *table) {
    const std::string_view f = field.str();
    const bool known = f == "lazy" || (remote ? (f == "url" || f == "headers" || f == "ca_file")
                                              : (f == "command" || f == "env"));
    if (!known) {
      return invalid_argument(
          where(path, value) + ": " + name + ": unknown key '" + std::string(f) +
          (remote ? "' for a remote server (expected url, headers, ca_file, lazy)"
                  : "' (expected command, env, lazy; or url, headers, ca_file)"));
    }
  }
  MountedServerConfig server;
  if (const toml::node* lazy = table->get("lazy")) {
    auto flag = lazy->value<bool>();
    if (!flag) {
      return invalid_argument(where(path, *lazy) + ": " + name + ".lazy must be true or false");
    }
    server.lazy = *flag;
  }
  if (remote) {
    const toml::node* url = table->get("url");
    auto text = url->value<std::string>();
    if (!text || !(text->starts_with("http://") || text->starts_with("https://")) ||
        text->find_first_of(" \t\r\n") != std::string::npos) {
      return invalid_argument(
          where(path, *url) + ": " + name +
          ".url must be an http:// or https:// URL (the server's MCP endpoint)");
    }
    server.url = *text;
    if (const toml::node* headers = table->get("headers")) {
      const toml::table* map = headers->as_table();
      if (map == nullptr) {
        return invalid_argument(
            where(path, *headers) + ": " + name +
            ".headers must be a table: { Authorization = \"Bearer {secret:ALIAS}\" }");
      }
      for (const auto& [key, value] : *map) {
        auto header = value.value<std::string>();
        auto parsed = header ? parse_header_template(*header)
                             : Result<HeaderTemplate>(invalid_argument("it must be a string"));
        if (!valid_header_name(key.str()) || !parsed.is_ok()) {
          return invalid_argument(where(path, value) + ": " + name + ".headers." +
                                  std::string(key.str()) + ": " +
                                  (parsed.is_ok() ? std::string("not a valid header name")
                                                  : parsed.status().message()));
        }
        server.headers[std::string(key.str())] = *header;
      }
    }
    if (const toml::node* ca = table->get("ca_file")) {
      auto file = ca->value<std::string>();
      if (!file || file->empty()) {
        return invalid_argument(where(path, *ca) + ": " + name +
                                ".ca_file must be a path to a PEM file");
      }
      std::filesystem::path p(*file);
      server.ca_file = (p.is_relative() ? base_dir / p : p).string();
    }
    return server;
  }
  const toml::node* command = table->get("command");
  const toml::array* argv = command != nullptr ? command->as_array() : nullptr;
  bool ok = argv != nullptr && !argv->empty();
  for (std::size_t i = 0; ok && i < argv->size(); ++i) {
    auto word = (*argv)[i].value<std::string>();
    ok = word && !(i == 0 && word->empty()) && word->find('\0') == std::string::npos;
    if (ok) server.command.push_back(*word);
  }
  if (!ok) {
    return invalid_argument(
        where(path, command != nullptr ? *command : node) + ": " + name +
        ".command must be a non-empty array of strings (the program and its arguments, "
        "run without a shell)");
  }
  if (const toml::node* env = table->get("env")) {
    const toml::table* vars = env->as_table();
    if (vars == nullptr) {
      return invalid_argument(where(path, *env) + ": " + name + ".env must be a table of strings");
    }
    for (const auto& [key, value] : *vars) {
      auto text = value.value<std::string>();
      if (!valid_variable_name(key.str()) || !text || text->find('\0') != std::string::npos) {
        return invalid_argument(where(path, value) + ": " + name + ".env." +
                                std::string(key.str()) +
                                ": each entry must be NAME = \"value\" with NAME of [A-Za-z0-9_]");
      }
      server.env[std::string(key.str())] = *text;
    }
  }
  return server;
}

std::filesystem::path home_dir() {
  const char* home = std::getenv("HOME");
  return home != nullptr && home[0] != '\0' ? std::filesystem::path(home)
                                            : std::filesystem::path("/");
}

}  // namespace

Result<Config> parse_config(std::string_view document, const std::filesystem::path& path) {
  toml::table root;
  try {
    root = toml::parse(document, path.string());
  } catch (const toml::parse_error& e) {
    return invalid_argument(path.string() + ":" + std::to_string(e.source().begin.line) + ": " +
                            std::string(e.description()));
  }
  Config config;
  config.path = path;
  const std::filesystem::path base_dir =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const std::filesystem::path base = path.has_parent_path() ? path.parent_path() : ".";

  if (const toml::node* server_node = root.get("server")) {
    const toml::table* server = server_node->as_table();
    if (server == nullptr) {
      return invalid_argument(where(path, *server_node) + ": [server] must be a table");
    }
    for (const auto& [key, out] :
         {std::pair{"page_size", &config.page_size}, std::pair{"workers", &config.workers},
          std::pair{"max_message_bytes", &config.max_message_bytes}})
      if (Status read = read_size(*server, "server", key, out, path); !read.is_ok()) return read;
    if (auto level = (*server)["log_level"].value<std::string>()) config.log_level = *level;
    if (const toml::node* dirs = server->get("plugin_dirs")) {
      const toml::array* list = dirs->as_array();
      if (list == nullptr) {
        return invalid_argument(where(path, *dirs) +
                                ": server.plugin_dirs must be an array of strings");
      }
      for (const auto& dir : *list) {
        auto value = dir.value<std::string>();
        if (!value) {
          return invalid_argument(where(path, dir) +
                                  ": server.plugin_dirs must be an array of strings");
        }
        std::filesystem::path p(*value);
        config.plugin_dirs.push_back(p.is_absolute() ? p : base / p);
      }
    }
  }

  if (const toml::node* http_node = root.get("http")) {
    const toml::table* http = http_node->as_table();
    if (http == nullptr) {
      return invalid_argument(where(path, *http_node) + ": [http] must be a table");
    }
    if (const toml::node* auth = http->get("auth")) {
      auto text = auth->value<std::string>();
      if (!text || (*text != "on" && *text != "off")) {
        return invalid_argument(where(path, *auth) + ": http.auth must be \"on\" or \"off\"");
      }
      config.http.auth = *text == "on";
    }
    if (const toml::node* origins = http->get("allowed_origins")) {
      const toml::array* list = origins->as_array();
      for (std::size_t i = 0; list != nullptr && i < list->size(); ++i) {
        auto value = (*list)[i].value<std::string>();
        if (!value)
          list = nullptr;
        else
          config.http.allowed_origins.push_back(*value);
      }
      if (list == nullptr) {
        return invalid_argument(where(path, *origins) +
                                ": http.allowed_origins must be an array of strings");
      }
    }
    // Every reader runs; of two bad keys, the first in this order is the one reported.
    HttpConfig& h = config.http;
    for (Status read :
         {read_size(*http, "http", "max_sessions", &h.max_sessions, path),
          read_size(*http, "http", "max_body_bytes", &h.max_body_bytes, path),
          read_size(*http, "http", "max_connections", &h.max_connections, path),
          read_duration(*http, "http", "read_timeout", &h.read_timeout_seconds, path),
          read_duration(*http, "http", "session_idle_timeout", &h.session_idle_timeout_seconds,
                        path),
          read_size(*http, "http", "max_sessions_per_token", &h.max_sessions_per_token, path),
          read_duration(*http, "http", "abandoned_session_timeout",
                        &h.abandoned_session_timeout_seconds, path),
          read_rate_limit(*http, &h, path)})
      if (!read.is_ok()) return read;
  }

  if (const toml::node* oauth = root.get("oauth")) {
    auto providers = read_oauth_providers(*oauth, path);
    if (!providers.is_ok()) return providers.status();
    config.oauth = std::move(providers).value();
  }

  if (const toml::node* instances_node = root.get("instances")) {
    const toml::table* instances = instances_node->as_table();
    if (instances == nullptr) {
      return invalid_argument(where(path, *instances_node) + ": [instances] must be a table");
    }
    // toml++ keeps tables sorted by key; load in file order instead, so the later of two
    // colliding instances is the one refused and destroy order mirrors the file.
    std::vector<std::pair<std::string_view, const toml::node*>> ordered;
    for (const auto& [key, value] : *instances) ordered.emplace_back(key.str(), &value);
    std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
      return a.second->source().begin < b.second->source().begin;
    });
    for (const auto& [key, value_ptr] : ordered) {
      const toml::node& value = *value_ptr;
      InstanceConfig instance;
      instance.name = std::string(key);
      const toml::table* table = value.as_table();
      if (table == nullptr) {
        return invalid_argument(where(path, value) + ": instances." + instance.name +
                                " must be a table");
      }
      if (const toml::node* server = table->get("server")) {
        if (table->contains("plugin")) {
          return invalid_argument(
              where(path, *server) + ": instances." + instance.name +
              " has both plugin and server: an instance is either a plugin or a mounted "
              "MCP server");
        }
        auto mounted = read_mounted_server(*server, instance.name, base_dir, path);
        if (!mounted.is_ok()) return mounted.status();
        instance.server = std::move(mounted).value();
      } else {
        auto plugin = (*table)["plugin"].value<std::string>();
        if (!plugin || plugin->empty()) {
          return invalid_argument(
              where(path, value) + ": instances." + instance.name +
              " needs plugin = \"<name or path>\", server.command = [...] or server.url = \"...\"");
        }
        instance.plugin = *plugin;
      }
      if (const toml::node* prefix = table->get("prefix")) {
        auto text = prefix->value<std::string>();
        if (!text) {
          return invalid_argument(where(path, *prefix) + ": instances." + instance.name +
                                  ".prefix must be a string");
        }
        instance.prefix = *text;
      }
      if (const toml::node* options = table->get("options")) {
        if (!options->is_table()) {
          return invalid_argument(where(path, *options) + ": instances." + instance.name +
                                  ".options must be a table");
        }
        instance.options = to_json(*options);
      }
      if (const toml::node* secrets = table->get("secrets")) {
        const toml::table* map = secrets->as_table();
        if (map == nullptr) {
          return invalid_argument(where(path, *secrets) + ": instances." + instance.name +
                                  ".secrets must be a table");
        }
        for (const auto& [alias, source] : *map) {
          auto mapping = parse_secret_mapping(path, instance.name, alias.str(), source);
          if (!mapping.is_ok()) return mapping.status();
          if (instance.server && instance.server->url.empty() &&
              (!valid_variable_name(alias.str()) || !mapping->env_commands.empty())) {
            return invalid_argument(
                where(path, source) + ": instances." + instance.name + ".secrets." +
                std::string(alias.str()) +
                ": a mounted server's secret is the variable of that name, so the alias "
                "must be [A-Za-z_][A-Za-z0-9_]* and the mapping a plain \"vault:NAME\"");
          }
          if (instance.server && mapping->source.starts_with("oauth:")) {
            auto provider = config.oauth.find(mapping->source.substr(6));
            if (provider != config.oauth.end() && provider->second.per_user)
              return invalid_argument(
                  where(path, source) + ": instances." + instance.name + ".secrets." +
                  std::string(alias.str()) + ": oauth provider '" + provider->first +
                  "' is per_user, and a mounted server's headers and environment are not built "
                  "per client: map a provider without per_user (host/oauth/README.md)");
          }
          instance.secrets[std::string(alias.str())] = std::move(*mapping);
        }
      }
      if (instance.server && !instance.server->url.empty()) {
        for (const auto& [header, header_value] : instance.server->headers)
          for (const auto& alias : parse_header_template(header_value).value().aliases())
            if (!instance.secrets.contains(alias)) {
              return invalid_argument(where(path, *table) + ": instances." + instance.name +
                                      ".server.headers." + header + " names {secret:" + alias +
                                      "}, but [instances." + instance.name +
                                      ".secrets] maps no alias '" + alias + "'");
            }
      }
      if (const toml::node* guard = table->get("guard")) {
        auto text = guard->value<std::string>();
        if (!text || (*text != "block" && *text != "redact" && *text != "off")) {
          return invalid_argument(where(path, *guard) + ": instances." + instance.name +
                                  ".guard must be \"block\", \"redact\" or \"off\"");
        }
        instance.guard = *text;
      }
      if (const toml::node* isolation = table->get("isolation")) {
        auto text = isolation->value<std::string>();
        if (!text || (*text != "process" && *text != "in-process")) {
          return invalid_argument(where(path, *isolation) + ": instances." + instance.name +
                                  ".isolation must be \"process\" or \"in-process\"");
        }
        instance.isolation = *text;
        if (instance.server && instance.isolation != "process") {
          return invalid_argument(where(path, *isolation) + ": instances." + instance.name +
                                  ": a mounted server always runs in its own sandboxed process");
        }
      }
      if (const toml::node* sandbox = table->get("sandbox")) {
        if (auto mode = sandbox->value<std::string>()) {
          if (*mode != "strict" && *mode != "best-effort") {
            return invalid_argument(where(path, *sandbox) + ": instances." + instance.name +
                                    ".sandbox must be \"strict\", \"best-effort\" or a table");
          }
          instance.sandbox_mode = *mode;
        } else if (const toml::table* policy = sandbox->as_table()) {
          if (Status read = read_sandbox(*policy, instance, base_dir, path); !read.is_ok())
            return read;
        } else {
          return invalid_argument(where(path, *sandbox) + ": instances." + instance.name +
                                  ".sandbox must be \"strict\", \"best-effort\" or a table");
        }
      }
      for (const auto& [field, field_value] : *table) {
        const std::string_view f = field.str();
        if (f != "plugin" && f != "server" && f != "prefix" && f != "options" && f != "secrets" &&
            f != "guard" && f != "isolation" && f != "sandbox") {
          return invalid_argument(
              where(path, field_value) + ": instances." + instance.name + ": unknown key '" +
              std::string(f) +
              "' (expected plugin or server, prefix, options, secrets, guard, isolation, "
              "sandbox)");
        }
      }
      config.instances.push_back(std::move(instance));
    }
  }
  return config;
}

Result<Config> load_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return io_error("cannot read config file " + path.string() + ": " + std::strerror(errno));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_config(buffer.str(), path);
}

std::filesystem::path default_config_path() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  std::filesystem::path base =
      (xdg != nullptr && xdg[0] == '/') ? std::filesystem::path(xdg) : home_dir() / ".config";
  return base / "keyhold" / "keyhold.toml";
}

std::filesystem::path default_data_dir() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  std::filesystem::path base = (xdg != nullptr && xdg[0] == '/') ? std::filesystem::path(xdg)
                                                                 : home_dir() / ".local" / "share";
  return base / "keyhold";
}

namespace {
// A TOML string for a path: a literal string when it has no single quote, else a basic
// string with escapes.
std::string toml_path(const std::filesystem::path& path) {
  const std::string text = path.string();
  if (text.find('\'') == std::string::npos && text.find('\n') == std::string::npos)
    return "'" + text + "'";
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}
}  // namespace

std::filesystem::path demo_data_dir() { return default_data_dir() / "demo"; }

std::string default_config_text() {
  const std::string demo_dir = toml_path(demo_data_dir());
  const std::string demo_file = toml_path(demo_data_dir() / "demo.sqlite");
  return R"(# keyhold configuration, written on first run. Edit freely; see README.md.
#
# Each [instances.NAME] table loads one connector plugin. Its tools and prompts reach
# clients as "<prefix><tool>", where the prefix defaults to "NAME_".

[server]
# page_size = 100              # items per page of tools/list, prompts/list, resources/list
# workers = 8                  # threads that run tool calls
# max_message_bytes = 4194304  # larger incoming messages are refused
# log_level = "info"           # stderr log: trace, debug, info, warn, error, off
# plugin_dirs = []             # extra folders searched for <plugin>.so

[http]                         # used by `keyhold serve --http 127.0.0.1:PORT`
# auth = "on"                  # bearer tokens; "off" is refused unless bound to loopback
# allowed_origins = []         # browser origins allowed besides loopback ones
# max_sessions = 100
# max_connections = 128        # more are answered 503 and closed
# read_timeout = "30s"         # a whole request must arrive within it; idle connections close
# session_idle_timeout = "30m"
# max_sessions_per_token = 16  # at the cap, the token's least recently used idle session ends
# abandoned_session_timeout = "5m"  # no request in flight and no open stream for this long
# rate_limit = { rate = 20, burst = 40 }  # per token: requests per second, and at once

# The built-in echo connector (needs no outside service): echo_echo, echo_add, echo_slow.
[instances.echo]
plugin = "echo"
# prefix = "echo_"             # "" exposes the plugin's names unprefixed

# guard = "block"              # tool arguments carrying a credential: block | redact | off
# [instances.echo.options]     # handed to the plugin as JSON
# greeting = "hello"
# [instances.echo.secrets]     # alias = "vault:NAME" | "env:VAR" | "file:PATH", or
#                              # alias = { source = "vault:NAME", env_commands = ["node"] }
#                              # to let those commands receive it in their environment

# The built-in sql connector, read-only, over a small demo SQLite database that it creates
# on first run in $XDG_DATA_HOME/keyhold/demo/ (customers, products, orders):
# demo_list_schemas, demo_list_tables, demo_describe_table, demo_query, demo_explain.
# Like every instance it runs in its own sandboxed process; it may write only its folder.
[instances.demo]
plugin = "sql"
# isolation = "process"        # the default; "in-process" only for code you trust fully
[instances.demo.options]
backend = "sqlite"
path = )" +
         demo_file + R"(
create_demo = true
# read_only = true             # the default: enforced by SQLite itself
# row_limit = 500
[instances.demo.sandbox]
write = [)" +
         demo_dir + R"(]   # never the keyhold folder itself: it holds the vault
# network = "none"             # the default; or "any", or ["db.example.com:5432"]
# memory = "512MiB"
)";
}

Status write_default_config(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return io_error("cannot create " + path.parent_path().string() + ": " + ec.message());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Status::ok();  // someone else wrote it first: keep theirs
    return io_error("cannot create " + path.string() + ": " + std::strerror(errno));
  }
  // The demo connector's own folder, which its sandbox may write (0700, like the rest).
  const bool had_data_dir = std::filesystem::exists(default_data_dir(), ec);
  std::filesystem::create_directories(demo_data_dir(), ec);
  if (!ec) {
    for (const auto& dir : {demo_data_dir(), default_data_dir()}) {
      if (dir == default_data_dir() && had_data_dir) continue;  // not ours to change
      std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::replace, ec);
    }
  }
  const std::string text = default_config_text();
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = (::close(fd) == 0) && ok;
  if (!ok) return io_error("cannot write " + path.string());
  return Status::ok();
}

}  // namespace keyhold
