#include "sql_options.hpp"

#include <keyhold/sdk/options.hpp>
#include <keyhold/sdk/paths.hpp>

#include <set>
#include <stdexcept>

namespace keyhold::sql {

namespace {
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
    auto dir = sdk::keyhold_data_dir(env_or_empty(environment, "XDG_DATA_HOME"),
                                     env_or_empty(environment, "HOME"));
    if (!dir)
      throw sdk::bad_option("path",
                            "is relative, and neither data_dir, XDG_DATA_HOME nor HOME is set "
                            "to resolve it against; give an absolute path");
    base = std::move(dir).value();
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
  out.backend = sdk::string_option(options, "backend", "sqlite");
  if (out.backend != "sqlite" && out.backend != "postgres")
    throw sdk::bad_option("backend", "must be \"sqlite\" or \"postgres\"");
  out.read_only = sdk::bool_option(options, "read_only", true);
  out.limits.row_limit =
      static_cast<std::size_t>(sdk::integer_option(options, "row_limit", 500, 1, 100000));
  out.limits.max_result_bytes = static_cast<std::size_t>(
      sdk::integer_option(options, "max_result_bytes", 4 * 1024 * 1024, 1024, 256 * 1024 * 1024));
  if (options.contains("statement_timeout"))
    out.limits.statement_timeout = sdk::duration_option(options["statement_timeout"],
                                                        "statement_timeout", std::chrono::days(7));
  if (options.contains("schemas")) {
    if (!options["schemas"].is_array())
      throw sdk::bad_option("schemas", "must be an array of schema names");
    for (const auto& s : options["schemas"]) {
      if (!s.is_string() || s.get<std::string>().empty())
        throw sdk::bad_option("schemas", "must be an array of schema names");
      out.schemas.push_back(s.get<std::string>());
    }
  }

  if (out.backend == "sqlite") {
    for (const char* key : {"host", "port", "dbname", "user", "sslmode", "connect_timeout",
                            "application_name", "pool_size", "allow_privileged_role"})
      if (options.contains(key))
        throw sdk::bad_option(key, "applies to backend = \"postgres\" only");
    out.create_demo = sdk::bool_option(options, "create_demo", false);
    std::string path = sdk::string_option(options, "path", out.create_demo ? "demo.sqlite" : "");
    if (path.empty())
      throw sdk::bad_option("path", "is required for backend = \"sqlite\" (the database file)");
    out.path = resolve_data_path(path, sdk::string_option(options, "data_dir", ""), environment);
    return out;
  }

  for (const char* key : {"path", "data_dir", "create_demo"})
    if (options.contains(key)) throw sdk::bad_option(key, "applies to backend = \"sqlite\" only");
  for (const char* key : {"host", "dbname", "user", "sslmode", "application_name"}) {
    const std::string v = sdk::string_option(options, key, "");
    if (!v.empty()) out.connection.emplace_back(key, v);
  }
  if (options.contains("port"))
    out.connection.emplace_back(
        "port", std::to_string(sdk::integer_option(options, "port", 5432, 1, 65535)));
  out.connection.emplace_back("connect_timeout", std::to_string(sdk::integer_option(
                                                     options, "connect_timeout", 10, 1, 600)));
  out.pool_size = static_cast<int>(sdk::integer_option(options, "pool_size", 4, 1, 64));
  out.allow_privileged_role = sdk::bool_option(options, "allow_privileged_role", false);
  return out;
}

}  // namespace keyhold::sql
