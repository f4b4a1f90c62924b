#pragma once
// The groups of `keyhold vault` subcommands; each registers its children on parent.
#include <CLI/CLI.hpp>

#include <memory>

#include "cli/vault_cli_support.hpp"

namespace keyhold::cli::vault_cli {

// set, list, show, reveal, rm, rotate, history, rollback
void add_secret_commands(CLI::App& parent, const std::shared_ptr<CommonOptions>& common);
// grant, revoke, grants, audit
void add_access_commands(CLI::App& parent, const std::shared_ptr<CommonOptions>& common);
// init, status, passwd, rekey, import, backup, restore
void add_admin_commands(CLI::App& parent, const std::shared_ptr<CommonOptions>& common);

// set-rotation
void add_rotation_commands(CLI::App& parent, const std::shared_ptr<CommonOptions>& common);

}  // namespace keyhold::cli::vault_cli
