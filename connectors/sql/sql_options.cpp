#include "sql_options.hpp"

#include "value_format.hpp"

#include <set>
#include <stdexcept>

namespace keyhold::sql {

namespace {
std::invalid_argument bad(const std::string& option, const std::string& expected) {
  return std::invalid_argument("option " + option + " " + expected);
}

std::string get_string(const json& options, const std::string& key, const std::string& fallback) {
  if (!options.contains(key)) return fallback;
  if (!options[key].is_string()) throw bad(key, "must be a string");
  return options[key].get<std::string>();
}

bool get_bool(const json& options, const std::string& key, bool fallback) {
  if (!options.contains(key)) return fallback;
  if (!options[key].is_boolean()) throw bad(key, "must be true or false");
  return options[key].get<bool>();
}

long long get_integer(const json& options, const std::string& key, long long fallback,
                      long long min, long long max) {
  if (!options.contains(key)) return fallback;
  const json& v = options[key];
  if (!v.is_number_integer() || v.get<long long>() < min || v.get<long long>() > max)
    throw bad(key, "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  return v.get<long long>();
}

std::string env_or_empty(const std::map<std::string, std::string>& environment, const char* name) {
  const auto it = environment.find(name);
  return it == environment.end() ? std::string() : it->second;
}
}  // namespace

std::string resolve_data_path(const std::string& path, const std::string& data_dir,
                              const std::map<std::string, std::string>& environment) {
  if (!path.empty() && path[0] == '/') return path;
  std::string base = data_dir;
  if (base.empty()) {
    const std::string xdg = env_or_empty(environment, "XDG_DATA_HOME");
    if (!xdg.empty() && xdg[0] == '/') {
      base = xdg + "/keyhold";
    } else {
      const std::string home = env_or_empty(environment, "HOME");
      if (home.empty())
        throw bad("path",
                  "is relative, and neither data_dir, XDG_DATA_HOME nor HOME is set "
                  "to resolve it against; give an absolute path");
      base = home + "/.local/share/keyhold";
    }
  }
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  return base + "/" + path;
}

SqlOptions parse_options(const json& options,
                         const std::map<std::string, std::string>& environment) {
  if (!options.is_object()) throw std::invalid_argument("options must be a table");
  static const std::set<std::string> known = {"backend",
                                              "read_only",
                                              "row_limit",
                                              "max_result_bytes",
                                              "statement_timeout",
                                              "schemas",
                                              "path",
                                              "data_dir",
                                              "create_demo",
                                              "host",
                                              "port",
                                              "dbname",
                                              "user",
                                              "sslmode",
                                              "connect_timeout",
                                              "application_name",
                                              "pool_size",
                                              "allow_privileged_role"};
  for (const auto& [key, _] : options.items())
    if (!known.contains(key))
      throw std::invalid_argument("unknown option " + key +
                                  " (the sql connector knows: backend, path, data_dir, "
                                  "create_demo, read_only, row_limit, max_result_bytes, "
                                  "statement_timeout, schemas, "
                                  "host, port, dbname, user, sslmode, connect_timeout, "
                                  "application_name, pool_size, allow_privileged_role)");
  SqlOptions out;
  out.backend = get_string(options, "backend", "sqlite");
  if (out.backend != "sqlite" && out.backend != "postgres")
    throw bad("backend", "must be \"sqlite\" or \"postgres\"");
  out.read_only = get_bool(options, "read_only", true);
  out.limits.row_limit =
      static_cast<std::size_t>(get_integer(options, "row_limit", 500, 1, 100000));
  out.limits.max_result_bytes = static_cast<std::size_t>(
      get_integer(options, "max_result_bytes", 4 * 1024 * 1024, 1024, 256 * 1024 * 1024));
  if (options.contains("statement_timeout"))
    out.limits.statement_timeout =
        parse_duration(options["statement_timeout"], "statement_timeout");
  if (options.contains("schemas")) {
    if (!options["schemas"].is_array()) throw bad("schemas", "must be an array of schema names");
    for (const auto& s : options["schemas"]) {
      if (!s.is_string() || s.get<std::string>().empty())
        throw bad("schemas", "must be an array of schema names");
      out.schemas.push_back(s.get<std::string>());
    }
  }

  if (out.backend == "sqlite") {
    for (const char* key : {"host", "port", "dbname", "user", "sslmode", "connect_timeout",
                            "application_name", "pool_size", "allow_privileged_role"})
      if (options.contains(key)) throw bad(key, "applies to backend = \"postgres\" only");
    out.create_demo = get_bool(options, "create_demo", false);
    std::string path = get_string(options, "path", out.create_demo ? "demo.sqlite" : "");
    if (path.empty()) throw bad("path", "is required for backend = \"sqlite\" (the database file)");
    out.path = resolve_data_path(path, get_string(options, "data_dir", ""), environment);
    return out;
  }

  for (const char* key : {"path", "data_dir", "create_demo"})
    if (options.contains(key)) throw bad(key, "applies to backend = \"sqlite\" only");
  for (const char* key : {"host", "dbname", "user", "sslmode", "application_name"}) {
    const std::string v = get_string(options, key, "");
    if (!v.empty()) out.connection.emplace_back(key, v);
  }
  if (options.contains("port"))
    out.connection.emplace_back("port",
                                std::to_string(get_integer(options, "port", 5432, 1, 65535)));
  out.connection.emplace_back("connect_timeout",
                              std::to_string(get_integer(options, "connect_timeout", 10, 1, 600)));
  out.pool_size = static_cast<int>(get_integer(options, "pool_size", 4, 1, 64));
  out.allow_privileged_role = get_bool(options, "allow_privileged_role", false);
  return out;
}

}  // namespace keyhold::sql
