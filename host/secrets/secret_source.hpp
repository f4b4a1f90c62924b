#pragma once
// Where the value behind a plugin's secret alias comes from: `vault:NAME` (needs a grant
// in the vault), `oauth:NAME` (the current access token of an `[oauth.NAME]` provider;
// needs a grant on the vault secret "oauth-token/NAME"), `env:VAR` or `file:PATH` (runtime
// injection, e.g. Docker secrets). For env and file sources the administrator's config
// mapping is the grant.
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "keyhold/vault/vault.hpp"

namespace keyhold::secrets {

// The reserved prefix of the vault secrets that hold OAuth token records
// ("oauth-token/NAME"): a `vault:` mapping may not name one (it would hand out the refresh
// token). Client secrets may live anywhere else, e.g. "oauth/github-client-secret".
inline constexpr std::string_view kOAuthRecordPrefix = "oauth-token/";

struct SecretSource {
  enum class Kind { kVault, kEnv, kFile, kOAuth };
  Kind kind = Kind::kVault;
  std::string ref;  // secret name, variable name, file path or OAuth provider name

  // Parses "vault:NAME" | "oauth:NAME" | "env:VAR" | "file:PATH"; nothing and a reason
  // otherwise.
  static std::optional<SecretSource> parse(std::string_view text, std::string* error);
  // "vault:NAME" etc. (names only, never values).
  std::string describe() const;
  // The vault secret whose grants govern this source ("NAME" for vault:NAME,
  // "oauth-token/NAME" for oauth:NAME), or empty for env: and file: (the config is the grant).
  std::string granted_secret() const;
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
// source then fails). An oauth: source is not read here (the broker asks its
// OAuthTokenSource). The error names the source, never a value.
vault::Result<vault::SecretBuffer> read_source(const SecretSource& source, SharedVault* vault);

}  // namespace keyhold::secrets
