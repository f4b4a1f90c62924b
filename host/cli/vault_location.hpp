#pragma once
// Where the vault is and how a command unlocks it without a terminal. One resolution and
// one unlock chain for every command (`serve`, `vault ...`, `token ...`), so they never
// disagree about which vault or which key.
#include <filesystem>
#include <optional>
#include <string>

#include "keyhold/vault/credentials.hpp"
#include "keyhold/vault/status.hpp"

namespace keyhold::cli {

// The vault file: explicit_path (--vault) when not empty, else $KEYHOLD_VAULT, else
// default_data_dir()/vault.db ($XDG_DATA_HOME when absolute, else ~/.local/share).
std::filesystem::path vault_path(const std::string& explicit_path = {});

// True when $KEYHOLD_VAULT names the vault (serve then never creates a default one).
bool vault_path_from_environment();

// The keyfile the embedded default creates beside the default vault: "vault.key".
std::filesystem::path default_keyfile_path();

// Which unlock methods apply besides the two environment variables.
enum class UnlockFallbacks {
  kNone,   // KEYHOLD_KEYFILE, KEYHOLD_PASSPHRASE_FILE only (the vault CLI, which may prompt)
  kServe,  // then a systemd credential $CREDENTIALS_DIRECTORY/keyhold-vault-key, then the
           // default keyfile (a server cannot prompt: stdin carries the protocol)
};

// The first unlock method that applies, in the order above. nullopt: none applies. An
// error Result: the method that applies failed (unreadable file, insecure permissions);
// its message names the variable or file, never a key. A systemd credential that cannot
// be read falls through to the next method.
std::optional<vault::Result<vault::Credentials>> unattended_credentials(UnlockFallbacks fallbacks);

// The sentence that tells a person how to unlock without a terminal.
inline constexpr const char* kUnlockHelp =
    "set KEYHOLD_KEYFILE=PATH (keyfile vaults) or KEYHOLD_PASSPHRASE_FILE=PATH";

}  // namespace keyhold::cli
