#pragma once
// `keyhold serve`: load the configured plugins and speak MCP on stdio.
#include <CLI/CLI.hpp>

namespace keyhold::cli {

// Registers `serve` on app.
void add_serve_command(CLI::App& app);

}  // namespace keyhold::cli
