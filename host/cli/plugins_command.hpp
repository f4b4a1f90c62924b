#pragma once
// `keyhold plugins list|inspect`: look at plugins without serving.
#include <CLI/CLI.hpp>

namespace keyhold::cli {

void add_plugins_command(CLI::App& app);

}  // namespace keyhold::cli
