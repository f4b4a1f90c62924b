#include "cli/vault_location.hpp"

#include <cstdlib>
#include <string_view>

#include "config/config.hpp"

namespace keyhold::cli {

namespace {

const char* env(const char* name) {
  const char* value = std::getenv(name);
  return (value != nullptr && *value != '\0') ? value : nullptr;
}

// The credentials in a file, or an error Result that names the variable it came from.
vault::Result<vault::Credentials> labelled(std::string_view variable,
                                           vault::Result<vault::Credentials> loaded) {
  if (loaded.is_ok()) return loaded;
  return vault::Status(loaded.status().code(),
                       std::string(variable) + ": " + loaded.status().message());
}

}  // namespace

std::filesystem::path vault_path(const std::string& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  if (const char* path = env("KEYHOLD_VAULT")) return path;
  return default_data_dir() / "vault.db";
}

bool vault_path_from_environment() { return env("KEYHOLD_VAULT") != nullptr; }

std::filesystem::path default_keyfile_path() { return default_data_dir() / "vault.key"; }

std::optional<vault::Result<vault::Credentials>> unattended_credentials(UnlockFallbacks fallbacks) {
  if (const char* keyfile = env("KEYHOLD_KEYFILE"))
    return labelled("KEYHOLD_KEYFILE", vault::Credentials::from_keyfile(keyfile));
  if (const char* file = env("KEYHOLD_PASSPHRASE_FILE"))
    return labelled("KEYHOLD_PASSPHRASE_FILE", vault::Credentials::from_passphrase_file(file));
  if (fallbacks == UnlockFallbacks::kNone) return std::nullopt;
  std::error_code ec;
  if (const char* dir = env("CREDENTIALS_DIRECTORY")) {
    const auto credential = std::filesystem::path(dir) / "keyhold-vault-key";
    if (std::filesystem::exists(credential, ec)) {
      auto loaded = vault::Credentials::from_keyfile(credential);
      if (loaded.is_ok()) return loaded;
    }
  }
  const auto keyfile = default_keyfile_path();
  if (std::filesystem::exists(keyfile, ec))
    return labelled(keyfile.string(), vault::Credentials::from_keyfile(keyfile));
  return std::nullopt;
}

}  // namespace keyhold::cli
