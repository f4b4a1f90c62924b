#pragma once
// How the CLI finds its configuration: --config FILE, else the default path, where a
// commented default config is written on first use.
#include <optional>
#include <string>

#include "config/config.hpp"
#include "secrets/redactor.hpp"

namespace keyhold::cli {

// Loads the config named on the command line (must exist) or the default one (written
// first when missing). Prints a one-line error to stderr and returns nothing on failure.
// Errors go to stderr as "<error_prefix><message>".
std::optional<Config> load_cli_config(const std::string& explicit_path, bool write_default,
                                      std::string_view error_prefix = "keyhold: ");

// Configures the stderr logger (never stdout: stdout is the protocol).
void setup_stderr_logging(const std::string& level);
// From now on every log line passes through redactor before it reaches stderr.
void redact_stderr_logging(std::shared_ptr<const secrets::Redactor> redactor);

}  // namespace keyhold::cli
