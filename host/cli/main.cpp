// keyhold: one MCP host for all of a team's tools, with an encrypted vault.
#include <CLI/CLI.hpp>

#include "cli/import_command.hpp"
#include "cli/oauth_command.hpp"
#include "cli/plugins_command.hpp"
#include "cli/serve_command.hpp"
#include "cli/token_command.hpp"
#include "cli/vault_command.hpp"

int main(int argc, char** argv) {
  CLI::App app{"keyhold: one MCP host for all your tools, with the credentials kept in a vault"};
  app.set_version_flag("-V,--version", std::string("keyhold ") + KEYHOLD_VERSION);
  app.require_subcommand(1);
  keyhold::cli::add_serve_command(app);
  keyhold::cli::add_plugins_command(app);
  keyhold::cli::add_vault_command(app);
  keyhold::cli::add_token_command(app);
  keyhold::cli::add_import_command(app);
  keyhold::cli::add_oauth_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}
