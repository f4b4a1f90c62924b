#pragma once
// `keyhold import FILE [--apply] [--rewrite-client] [--config PATH] [--vault PATH]`: an MCP
// client's config (Claude Desktop, Claude Code, Cursor, VS Code) becomes keyhold instances;
// credentials in their environment move into the vault, granted for env (issue 17).
// Prints the plan and writes nothing without --apply; never prints a value.
#include <CLI/CLI.hpp>

namespace keyhold::cli {

void add_import_command(CLI::App& app);

}  // namespace keyhold::cli
