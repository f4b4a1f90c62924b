// sql: a read-only-by-default SQL connector for SQLite files and PostgreSQL servers.
//
// Tools: list_schemas, list_tables, describe_table, query, explain, and execute (only on
// instances with read_only = false). Each table's schema is a resource at
// sql://<instance>/<schema>/<table>. Read-only is enforced by the database, not by
// parsing SQL: see sqlite_backend.hpp and postgres_backend.hpp for how.
#include <keyhold/plugin.hpp>
#include <keyhold/sdk/args.hpp>
#include <keyhold/sdk/percent.hpp>

#include "postgres_backend.hpp"
#include "sql_backend.hpp"
#include "sql_options.hpp"
#include "sqlite_backend.hpp"
#include "value_format.hpp"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <span>

namespace keyhold::sql {
namespace {

const json kReadOnlyAnnotations = {{"readOnlyHint", true},
                                   {"destructiveHint", false},
                                   {"idempotentHint", true},
                                   {"openWorldHint", false}};

json params_schema() {
  return {{"type", "array"},
          {"description",
           "Values bound to the statement's placeholders in order (SQLite ?, ?1 or :name; "
           "PostgreSQL $1, $2 ...). A blob/bytea is {\"base64\": \"...\"}."},
          {"items", json::object()}};
}

json sql_input_schema(const std::string& description) {
  return {
      {"type", "object"},
      {"properties",
       {{"sql", {{"type", "string"}, {"description", description}}}, {"params", params_schema()}}},
      {"required", {"sql"}},
      {"additionalProperties", false}};
}

json rows_output_schema(bool with_affected) {
  json schema = {
      {"type", "object"},
      {"properties",
       {{"columns",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties", {{"name", {{"type", "string"}}}, {"type", {{"type", "string"}}}}},
            {"required", {"name", "type"}}}}}},
        {"rows",
         {{"type", "array"},
          {"description",
           "One array of values per row, in column order; blobs are {\"base64\": ...}"},
          {"items", {{"type", "array"}}}}},
        {"truncated",
         {{"type", "boolean"},
          {"description", "true when row_limit or max_result_bytes cut the result"}}},
        {"truncated_by",
         {{"type", "string"},
          {"enum", {"row_limit", "max_result_bytes"}},
          {"description", "which limit cut the result (only when truncated)"}}},
        {"row_count", {{"type", "integer"}, {"description", "rows returned (after row_limit)"}}}}},
      {"required", {"columns", "rows", "truncated", "row_count"}}};
  if (with_affected) {
    schema["properties"]["rows_affected"] = {{"type", "integer"}};
    schema["required"].push_back("rows_affected");
  }
  return schema;
}

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> env;
  for (const char* name : {"XDG_DATA_HOME", "HOME"})
    if (const char* v = std::getenv(name)) env[name] = v;
  return env;
}

// The result's rows move into it (the text table is drawn first).
json rows_result(QueryResult r, const CallLimits& limits, const long long* rows_affected) {
  std::string text = render_text_table(r, limits.row_limit, limits.max_result_bytes);
  json columns = json::array();
  for (const auto& c : r.columns) columns.push_back({{"name", c.name}, {"type", c.type}});
  const std::size_t row_count = r.rows.size();
  json structured = {{"columns", std::move(columns)},
                     {"rows", std::move(r.rows)},
                     {"truncated", r.truncated},
                     {"row_count", row_count}};
  if (r.truncated)
    structured["truncated_by"] =
        r.truncated_by == Truncation::kResultBytes ? "max_result_bytes" : "row_limit";
  if (rows_affected != nullptr) {
    structured["rows_affected"] = *rows_affected;
    text += "\n" + std::to_string(*rows_affected) + " row(s) affected";
  }
  json result = text_result(text);
  result["structuredContent"] = std::move(structured);
  return result;
}

json params_arg(const json& args) {
  if (!args.contains("params") || args["params"].is_null()) return json::array();
  if (!args["params"].is_array()) throw InvalidArgument("argument params must be an array");
  return args["params"];
}

const kh_secret_decl kSecrets[] = {
    {"password", "PostgreSQL password for the configured user (backend = \"postgres\")",
     KH_SECRET_OP_REVEAL},
    {"url", "A whole PostgreSQL connection URL, used instead of host/port/dbname/user/password",
     KH_SECRET_OP_REVEAL},
};

class SqlPlugin : public Plugin {
 public:
  SqlPlugin(Host host, std::string_view instance, const json& options)
      : Plugin(host), instance_(instance), options_(parse_options(options, process_environment())) {
    if (options_.backend == "sqlite") {
      if (options_.create_demo && !std::filesystem::exists(options_.path)) {
        create_demo_database(options_.path);
        host.log(KH_LOG_INFO, "sql: created the demo database " + options_.path);
      }
      backend_ = std::make_unique<SqliteBackend>(SqliteOptions{
          options_.path, options_.read_only, options_.schemas, options_.limits.max_result_bytes});
    } else {
      backend_ = std::make_unique<PostgresBackend>(
          host, PostgresOptions{options_.connection, options_.read_only, options_.schemas,
                                options_.pool_size, options_.allow_privileged_role});
    }
  }

  static std::span<const kh_secret_decl> secret_declarations() { return kSecrets; }

  json describe() override {
    const std::string engine = options_.backend == "sqlite" ? "SQLite" : "PostgreSQL";
    const std::string limit_note =
        " Returns at most " + std::to_string(options_.limits.row_limit) + " rows and " +
        std::to_string(options_.limits.max_result_bytes) +
        " bytes of rows as JSON (row_limit, max_result_bytes; `truncated` and `truncated_by` "
        "say when more existed); statements stop after " +
        std::to_string(options_.limits.statement_timeout.count()) + " ms.";
    json tools = json::array();
    tools.push_back({{"name", "list_schemas"},
                     {"title", "List schemas"},
                     {"description", "Lists the schemas of the " + engine + " database."},
                     {"inputSchema", {{"type", "object"}, {"properties", json::object()}}},
                     {"annotations", kReadOnlyAnnotations}});
    tools.push_back(
        {{"name", "list_tables"},
         {"title", "List tables"},
         {"description", "Lists tables and views, optionally of one schema."},
         {"inputSchema",
          {{"type", "object"},
           {"properties", {{"schema", {{"type", "string"}, {"description", "Schema name"}}}}}}},
         {"annotations", kReadOnlyAnnotations}});
    tools.push_back(
        {{"name", "describe_table"},
         {"title", "Describe table"},
         {"description",
          "Shows a table's columns (type, nullability, default), primary key, foreign keys "
          "and indexes."},
         {"inputSchema",
          {{"type", "object"},
           {"properties",
            {{"table", {{"type", "string"}}},
             {"schema",
              {{"type", "string"}, {"description", "Default: " + backend_->default_schema()}}}}},
           {"required", {"table"}}}},
         {"annotations", kReadOnlyAnnotations}});
    tools.push_back(
        {{"name", "query"},
         {"title", "Run a read-only query"},
         {"description", "Runs exactly one read-only SQL statement against the " + engine +
                             " database, with params bound to placeholders." + limit_note +
                             schemas_note()},
         {"inputSchema", sql_input_schema("One SQL statement (no ';'-separated lists)")},
         {"outputSchema", rows_output_schema(false)},
         {"annotations", kReadOnlyAnnotations}});
    tools.push_back({{"name", "explain"},
                     {"title", "Explain a query"},
                     {"description",
                      "Shows the plan the database would use for one statement, "
                      "without running it."},
                     {"inputSchema", sql_input_schema("One SQL statement")},
                     {"annotations", kReadOnlyAnnotations}});
    if (!options_.read_only)
      tools.push_back({{"name", "execute"},
                       {"title", "Execute a statement"},
                       {"description",
                        "Runs exactly one SQL statement that may change data or "
                        "schema (INSERT, UPDATE, DELETE, DDL)." +
                            limit_note},
                       {"inputSchema", sql_input_schema("One SQL statement")},
                       {"outputSchema", rows_output_schema(true)},
                       {"annotations",
                        {{"readOnlyHint", false},
                         {"destructiveHint", true},
                         {"idempotentHint", false},
                         {"openWorldHint", false}}}});

    json resources = json::array();
    try {
      Context ctx(host(), nullptr);
      for (const auto& t : backend_->list_tables(ctx, ""))
        resources.push_back(
            {{"uri", table_uri(t["schema"].get<std::string>(), t["name"].get<std::string>())},
             {"name", t["schema"].get<std::string>() + "." + t["name"].get<std::string>()},
             {"title", "Schema of " + t["type"].get<std::string>() + " " +
                           t["schema"].get<std::string>() + "." + t["name"].get<std::string>()},
             {"mimeType", "application/json"}});
    } catch (const std::exception& e) {
      // The database may be down at load time; the template still lets clients read.
      host().log(KH_LOG_WARNING, std::string("sql: cannot list tables for resources: ") + e.what());
    }
    json templates = json::array({{{"uriTemplate", "sql://" + instance_ + "/{schema}/{table}"},
                                   {"name", "table-schema"},
                                   {"title", "Schema of a table"},
                                   {"mimeType", "application/json"}}});
    return {{"tools", tools},
            {"resources", resources},
            {"resourceTemplates", templates},
            {"prompts", json::array()}};
  }

  json call_tool(Context& ctx, std::string_view name, const json& args) override {
    try {
      if (name == "list_schemas") {
        json schemas = backend_->list_schemas(ctx);
        json result = text_result(schemas.empty() ? "(no schemas)" : join(schemas));
        result["structuredContent"] = {{"schemas", schemas}};
        return result;
      }
      if (name == "list_tables") {
        const json tables = backend_->list_tables(ctx, sdk::string_arg(args, "schema", false));
        std::string text;
        for (const auto& t : tables)
          text += t["schema"].get<std::string>() + "." + t["name"].get<std::string>() + " (" +
                  t["type"].get<std::string>() + ")\n";
        json result = text_result(text.empty() ? "(no tables)" : text);
        result["structuredContent"] = {{"tables", tables}};
        return result;
      }
      if (name == "describe_table") {
        const json d =
            backend_->describe_table(ctx, schema_or_default(sdk::string_arg(args, "schema", false)),
                                     sdk::string_arg(args, "table", true));
        json result = text_result(d.dump(2));
        result["structuredContent"] = d;
        return result;
      }
      if (name == "query") {
        return rows_result(backend_->query(ctx, sdk::string_arg(args, "sql", true),
                                           params_arg(args), options_.limits),
                           options_.limits, nullptr);
      }
      if (name == "explain")
        return text_result(backend_->explain(ctx, sdk::string_arg(args, "sql", true),
                                             params_arg(args), options_.limits));
      if (name == "execute" && !options_.read_only) {
        long long affected = 0;
        QueryResult r = backend_->execute(ctx, sdk::string_arg(args, "sql", true), params_arg(args),
                                          options_.limits, &affected);
        return rows_result(std::move(r), options_.limits, &affected);
      }
    } catch (const SqlError& e) {
      return text_result(e.what(), true);
    }
    throw InvalidArgument("unknown tool: " + std::string(name));
  }

  json read_resource(Context& ctx, std::string_view uri) override {
    const std::string prefix = "sql://" + instance_ + "/";
    if (!uri.starts_with(prefix)) throw NotFound("no such resource: " + std::string(uri));
    const std::string_view rest = uri.substr(prefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) throw NotFound("no such resource: " + std::string(uri));
    const auto schema = sdk::percent_decode(rest.substr(0, slash));
    const auto table = sdk::percent_decode(rest.substr(slash + 1));
    if (!schema || !table || table->empty())
      throw NotFound("no such resource: " + std::string(uri));
    json d;
    try {
      d = backend_->describe_table(ctx, *schema, *table);
    } catch (const SqlError& e) {
      throw NotFound(std::string(uri) + ": " + e.what());
    }
    return {{"contents", json::array({{{"uri", std::string(uri)},
                                       {"mimeType", "application/json"},
                                       {"text", d.dump(2)}}})}};
  }

 private:
  std::string table_uri(const std::string& schema, const std::string& table) const {
    return "sql://" + instance_ + "/" + sdk::percent_encode(schema) + "/" +
           sdk::percent_encode(table);
  }
  // Tells the client which schemas query may read, when the `schemas` allowlist is set.
  std::string schemas_note() const {
    if (options_.schemas.empty()) return {};
    std::string names;
    for (const auto& s : options_.schemas) names += (names.empty() ? "" : ", ") + s;
    return " Reads only schemas " + names +
           (options_.backend == "postgres" ? " (and pg_catalog, information_schema)" : "") +
           "; statements that read other schemas are refused.";
  }
  std::string schema_or_default(const std::string& schema) const {
    return schema.empty() ? backend_->default_schema() : schema;
  }
  static std::string join(const json& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : "\n") + n.get<std::string>();
    return out;
  }

  std::string instance_;
  SqlOptions options_;
  std::unique_ptr<Backend> backend_;
};

}  // namespace
}  // namespace keyhold::sql

KEYHOLD_PLUGIN(keyhold::sql::SqlPlugin, "sql", "1.0.0",
               "SQL over SQLite files and PostgreSQL: schemas, tables, read-only queries")
