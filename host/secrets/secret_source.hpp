#pragma once
// Where the value behind a plugin's secret alias comes from: `vault:NAME` (needs a grant
// in the vault), `env:VAR` or `file:PATH` (runtime injection, e.g. Docker secrets). For
// env and file sources the administrator's config mapping is the grant.
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "keyhold/vault/vault.hpp"

namespace keyhold::secrets {

struct SecretSource {
  enum class Kind { kVault, kEnv, kFile };
  Kind kind = Kind::kVault;
  std::string ref;  // secret name, variable name or file path

  // Parses "vault:NAME" | "env:VAR" | "file:PATH"; nothing and a reason otherwise.
  static std::optional<SecretSource> parse(std::string_view text, std::string* error);
  // "vault:NAME" etc. (names only, never values).
  std::string describe() const;
};

// A Vault shared by threads: the Vault object is not thread-safe, so every use holds
// the mutex.
class SharedVault {
 public:
  explicit SharedVault(vault::Vault vault) : vault_(std::move(vault)) {}
  template <class F>
  auto with(F&& f) {
    std::lock_guard lock(mutex_);
    return f(vault_);
  }

 private:
  std::mutex mutex_;
  vault::Vault vault_;
};

// Reads the current value of source. vault may be null when no vault is open (a vault
// source then fails). The error names the source, never a value.
vault::Result<vault::SecretBuffer> read_source(const SecretSource& source, SharedVault* vault);

}  // namespace keyhold::secrets
