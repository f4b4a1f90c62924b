#pragma once
// `keyhold vault ...`: administration of the encrypted secret store (vault/).
#include <CLI/CLI.hpp>

namespace keyhold::cli {

// Registers the `vault` subcommand and all of its children on app. Each child runs its
// own callback and sets the process exit code through CLI11's exception mechanism.
void add_vault_command(CLI::App& app);

}  // namespace keyhold::cli
