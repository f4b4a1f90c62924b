// ci_options.hpp - the instance options of the ci connector: the suites an administrator
// declared (the model can only pick one by name and pass a validated filter). Read and
// checked once in create(); pure, covered by tests/ci/ci_options_test.cpp.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace keyhold::ci {

using json = nlohmann::json;

enum class ReportFormat { kJunit, kTap, kCtest, kExitCode };

// "junit", "tap", "ctest" or "exit-code".
std::string_view format_name(ReportFormat format);

struct Suite {
  std::string name;
  std::string description;
  std::vector<std::string> argv;              // argv[0] is looked up in PATH by the host
  std::string cwd;                            // absolute
  std::chrono::milliseconds timeout{600000};  // default 10 minutes
  ReportFormat format = ReportFormat::kExitCode;
  std::string report_path;  // junit only: relative to cwd, or absolute
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> secret_env;  // variable -> declared secret alias
  std::string filter_arg;                         // empty: filters are refused
  std::optional<int> auth_failure_exit_code;
};

struct CiOptions {
  std::map<std::string, Suite> suites;
  int max_concurrent_runs = 1;
  int max_queued_runs = 4;                     // each waiting run holds a host worker thread
  std::size_t history = 50;                    // runs kept in the history file
  std::string history_path;                    // resolved by the plugin when empty
  std::size_t log_bytes = 1024 * 1024;         // per run: first half and last half are kept
  std::size_t tail_bytes = 4096;               // output_tail in results
  std::chrono::milliseconds kill_grace{5000};  // SIGTERM -> SIGKILL
};

// The aliases the plugin declares to the host (secret_env values must be one of them).
const std::vector<std::string>& declared_secret_aliases();

// Reads the options JSON. Throws std::invalid_argument naming the option and what is
// accepted.
CiOptions parse_options(const json& options);

// Returns an empty string when filter is acceptable, else why it is refused. Accepted:
// 1 to 200 characters of letters, digits, space and _ . : / @ + , = * # - , not starting
// with '-' or a space. Anything a shell or an option parser could read as syntax is out.
std::string filter_problem(std::string_view filter);

}  // namespace keyhold::ci
