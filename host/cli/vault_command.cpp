#include "cli/vault_command.hpp"

#include <memory>

#include "cli/vault_cli_commands.hpp"

namespace keyhold::cli {

void add_vault_command(CLI::App& app) {
  auto common = std::make_shared<vault_cli::CommonOptions>();
  auto* vault = app.add_subcommand(
      "vault",
      "Administer the encrypted secret vault.\n"
      "Location: --vault PATH, else KEYHOLD_VAULT, else $XDG_DATA_HOME/keyhold/vault.db.\n"
      "Unlock: KEYHOLD_KEYFILE, KEYHOLD_PASSPHRASE_FILE, or a prompt on the terminal.\n"
      "Exit codes: 0 ok, 1 audit chain broken, 2 usage, 3 locked/wrong key, 4 not found,\n"
      "5 integrity failure, 6 already exists, 7 I/O or internal error, 8 denied,\n"
      "9 insecure file permissions (KEYHOLD_INSECURE_PERMISSIONS=1 overrides, with a warning).");
  vault->add_option("--vault", common->vault_path, "Path of the vault file");
  vault->require_subcommand(1);
  vault->fallthrough();  // accept --vault after the child command name too
  vault_cli::add_admin_commands(*vault, common);
  vault_cli::add_secret_commands(*vault, common);
  vault_cli::add_access_commands(*vault, common);
  vault_cli::add_rotation_commands(*vault, common);
}

}  // namespace keyhold::cli
