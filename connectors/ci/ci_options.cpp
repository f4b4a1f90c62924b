#include "ci_options.hpp"

#include <keyhold/sdk/options.hpp>
#include <keyhold/sdk/utf8.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <set>
#include <stdexcept>

namespace keyhold::ci {

namespace {

std::map<std::string, std::string> get_string_map(const json& table, const std::string& key,
                                                  const std::string& where) {
  std::map<std::string, std::string> out;
  if (!table.contains(key)) return out;
  if (!table[key].is_object()) throw sdk::bad_option(where + key, "must be a table of strings");
  for (const auto& [k, v] : table[key].items()) {
    if (!v.is_string()) throw sdk::bad_option(where + key + "." + k, "must be a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

bool valid_env_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

Suite parse_suite(const std::string& name, const json& table) {
  const std::string where = "suites." + name + ".";
  if (!table.is_object()) throw sdk::bad_option("suites." + name, "must be a table");
  static const std::set<std::string> known = {
      "argv",       "cwd",         "timeout",
      "report",     "env",         "secret_env",
      "filter_arg", "description", "auth_failure_exit_code"};
  for (const auto& [key, _] : table.items())
    if (!known.contains(key))
      throw std::invalid_argument("unknown option " + where + key +
                                  " (a suite knows: argv, cwd, timeout, report, env, secret_env, "
                                  "filter_arg, auth_failure_exit_code, description)");
  Suite s;
  s.name = name;
  s.description = sdk::string_option(table, "description", {}, where);
  if (!table.contains("argv") || !table["argv"].is_array() || table["argv"].empty())
    throw sdk::bad_option(where + "argv",
                          "is required: a non-empty array of strings (no shell is used)");
  for (const auto& a : table["argv"]) {
    if (!a.is_string() || a.get<std::string>().find('\0') != std::string::npos)
      throw sdk::bad_option(where + "argv", "must be an array of strings");
    s.argv.push_back(a.get<std::string>());
  }
  if (s.argv[0].empty()) throw sdk::bad_option(where + "argv", "must start with a program name");
  s.cwd = sdk::string_option(table, "cwd", {}, where);
  if (s.cwd.empty() || s.cwd[0] != '/')
    throw sdk::bad_option(where + "cwd", "is required and must be an absolute directory");
  if (table.contains("timeout"))
    s.timeout = sdk::duration_option(table["timeout"], where + "timeout", std::chrono::days(7));

  std::string format = "exit-code";
  if (table.contains("report")) {
    const json& report = table["report"];
    if (!report.is_object())
      throw sdk::bad_option(where + "report", "must be a table {format, path}");
    for (const auto& [key, _] : report.items())
      if (key != "format" && key != "path")
        throw sdk::bad_option(where + "report." + key, "is unknown (report knows format and path)");
    format = sdk::string_option(report, "format", "exit-code", where + "report.");
    s.report_path = sdk::string_option(report, "path", {}, where + "report.");
  }
  if (format == "junit") {
    s.format = ReportFormat::kJunit;
    if (s.report_path.empty())
      throw sdk::bad_option(where + "report.path",
                            "is required for format \"junit\" (the XML file)");
  } else if (format == "tap" || format == "ctest" || format == "exit-code") {
    s.format = format == "tap"     ? ReportFormat::kTap
               : format == "ctest" ? ReportFormat::kCtest
                                   : ReportFormat::kExitCode;
    if (!s.report_path.empty())
      throw sdk::bad_option(
          where + "report.path",
          "applies to format \"junit\" only (tap and ctest are read from stdout)");
  } else {
    throw sdk::bad_option(where + "report.format",
                          "must be \"junit\", \"tap\", \"ctest\" or \"exit-code\"");
  }

  s.env = get_string_map(table, "env", where);
  for (const auto& [k, _] : s.env)
    if (!valid_env_name(k))
      throw sdk::bad_option(where + "env." + k, "is not a valid variable name");
  s.secret_env = get_string_map(table, "secret_env", where);
  const auto& aliases = declared_secret_aliases();
  for (const auto& [k, alias] : s.secret_env) {
    if (!valid_env_name(k))
      throw sdk::bad_option(where + "secret_env." + k, "is not a valid variable name");
    if (s.env.contains(k)) throw sdk::bad_option(where + "secret_env." + k, "is also set in env");
    if (std::find(aliases.begin(), aliases.end(), alias) == aliases.end()) {
      std::string names;
      for (const auto& a : aliases) names += (names.empty() ? "" : ", ") + a;
      throw sdk::bad_option(where + "secret_env." + k,
                            "names the alias \"" + alias + "\"; the ci plugin declares: " + names);
    }
  }
  s.filter_arg = sdk::string_option(table, "filter_arg", {}, where);
  if (table.contains("auth_failure_exit_code"))
    s.auth_failure_exit_code =
        static_cast<int>(sdk::integer_option(table, "auth_failure_exit_code", 0, 1, 255, where));
  return s;
}

}  // namespace

std::string_view format_name(ReportFormat format) {
  switch (format) {
    case ReportFormat::kJunit:
      return "junit";
    case ReportFormat::kTap:
      return "tap";
    case ReportFormat::kCtest:
      return "ctest";
    case ReportFormat::kExitCode:
      break;
  }
  return "exit-code";
}

const std::vector<std::string>& declared_secret_aliases() {
  static const std::vector<std::string> aliases = {
      "api-token", "auth-token", "registry-token", "secret-1", "secret-2", "secret-3", "secret-4"};
  return aliases;
}

namespace {

std::string code_point_name(char32_t value) {
  char name[16];
  std::snprintf(name, sizeof name, "U+%04X", static_cast<unsigned>(value));
  return name;
}

// Code points a client's display would not show as themselves: C1 controls, line and
// paragraph separators, bidirectional and zero-width formatting, the BOM.
bool invisible(char32_t c) {
  return (c >= 0x80 && c <= 0x9F) || c == 0xAD || (c >= 0x200B && c <= 0x200F) ||
         (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x206F) || c == 0xFEFF;
}

constexpr std::string_view kAllowedFilterCharacters =
    "; allowed are letters, digits, space and _ . : / @ + , = * # -";

}  // namespace

std::string filter_problem(std::string_view filter) {
  if (filter.empty()) return "the filter is empty";
  if (filter.size() > 200) return "the filter is longer than 200 characters";
  if (filter[0] == '-') return "the filter starts with '-' (it would read as an option)";
  if (filter[0] == ' ') return "the filter starts with a space";
  if (filter[0] == '@')
    return "the filter starts with '@' (many runners read it as a file of arguments)";
  for (std::size_t i = 0; i < filter.size(); ++i) {
    const char c = filter[i];
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == ' ' || c == '_' || c == '.' || c == ':' || c == '/' || c == '@' ||
        c == '+' || c == ',' || c == '=' || c == '*' || c == '#' || c == '-')
      continue;
    if (c == '\n' || c == '\r') return "the filter contains a line break";
    if (u < 0x20 || u == 0x7f) return "the filter contains a control character";
    if (u < 0x80)
      return std::string("the filter contains '") + c + "'" + std::string(kAllowedFilterCharacters);
    // The refusal is sent back as JSON text: quote the whole character, never one byte of
    // it (a lone byte of a multi-byte character is not UTF-8 and breaks the response).
    const sdk::CodePoint cp = sdk::decode_code_point(filter.substr(i));
    if (cp.bytes == 0) return "the filter is not valid UTF-8";
    if (cp.value == 0x2028 || cp.value == 0x2029 || cp.value == 0x85)
      return "the filter contains a line break (" + code_point_name(cp.value) + ")";
    if (invisible(cp.value))
      return "the filter contains an invisible formatting or control character (" +
             code_point_name(cp.value) + ")";
    return "the filter contains '" + std::string(filter.substr(i, cp.bytes)) + "' (" +
           code_point_name(cp.value) + ")" + std::string(kAllowedFilterCharacters);
  }
  return {};
}

CiOptions parse_options(const json& options) {
  if (!options.is_object()) throw std::invalid_argument("options must be a table");
  static const std::set<std::string> known = {
      "suites",       "max_concurrent_runs", "max_queued_runs", "history",
      "history_path", "log_bytes",           "tail_bytes",      "kill_grace"};
  for (const auto& [key, _] : options.items())
    if (!known.contains(key))
      throw std::invalid_argument(
          "unknown option " + key +
          " (the ci connector knows: suites, max_concurrent_runs, max_queued_runs, history, "
          "history_path, "
          "log_bytes, tail_bytes, kill_grace)");
  CiOptions out;
  if (!options.contains("suites") || !options["suites"].is_object() || options["suites"].empty())
    throw sdk::bad_option(
        "suites",
        "is required: one table per suite, e.g. [instances.ci.options.suites.api] "
        "with argv and cwd");
  for (const auto& [name, table] : options["suites"].items()) {
    if (name.empty() || name.size() > 64 ||
        name.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
            std::string::npos)
      throw sdk::bad_option("suites." + name,
                            "needs a name of letters, digits, _ and - (at most 64)");
    out.suites.emplace(name, parse_suite(name, table));
  }
  out.max_concurrent_runs =
      static_cast<int>(sdk::integer_option(options, "max_concurrent_runs", 1, 1, 64));
  out.max_queued_runs = static_cast<int>(sdk::integer_option(options, "max_queued_runs", 4, 0, 64));
  out.history = static_cast<std::size_t>(sdk::integer_option(options, "history", 50, 1, 10000));
  out.history_path = sdk::string_option(options, "history_path", {});
  if (!out.history_path.empty() && out.history_path[0] != '/')
    throw sdk::bad_option("history_path", "must be an absolute file path");
  out.log_bytes = static_cast<std::size_t>(
      sdk::integer_option(options, "log_bytes", 1024 * 1024, 1024, 256LL * 1024 * 1024));
  out.tail_bytes =
      static_cast<std::size_t>(sdk::integer_option(options, "tail_bytes", 4096, 256, 1024 * 1024));
  if (options.contains("kill_grace"))
    out.kill_grace =
        sdk::duration_option(options["kill_grace"], "kill_grace", std::chrono::days(7));
  return out;
}

}  // namespace keyhold::ci
