#pragma once
// Where the value behind a plugin's secret alias comes from: `vault:NAME` (needs a grant
// in the vault), `oauth:NAME` (the current access token of an `[oauth.NAME]` provider;
// needs a grant on the vault secret "oauth-token/NAME"), `env:VAR` or `file:PATH` (runtime
// injection, e.g. Docker secrets), or an external store: `command:`, `pass:`,
// `systemd-creds:`, `aws-sm:` (source_provider.hpp). For env, file and external sources the
// administrator's config mapping is the grant.
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.hpp"
#include "keyhold/vault/vault.hpp"

namespace keyhold::secrets {

// The reserved prefix of the vault secrets that hold OAuth token records
// ("oauth-token/NAME"): a `vault:` mapping may not name one (it would hand out the refresh
// token). Client secrets may live anywhere else, e.g. "oauth/github-client-secret".
inline constexpr std::string_view kOAuthRecordPrefix = "oauth-token/";

class ExternalSource;

struct SecretSource {
  enum class Kind { kVault, kEnv, kFile, kOAuth, kExternal };
  Kind kind = Kind::kVault;
  // Secret name, variable name, file path, OAuth provider name, or for kExternal
  // "SCHEME:REF" without its options.
  std::string ref;
  // kExternal: the provider and its cached value, shared by every copy of this source.
  std::shared_ptr<ExternalSource> external;

  // Parses "vault:NAME" | "oauth:NAME" | "env:VAR" | "file:PATH" | an external source
  // ("command:[...]", "pass:NAME", "systemd-creds:NAME", "aws-sm:ID", each with options);
  // nothing and a reason otherwise.
  static Result<SecretSource> parse(std::string_view text);
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

// Reads the current value of source (an external one through its cache). vault may be null
// when no vault is open (a vault source then fails). An oauth: source is not read here (the broker
// asks its OAuthTokenSource). The error names the source, never a value.
vault::Result<vault::SecretBuffer> read_source(const SecretSource& source, SharedVault* vault);

}  // namespace keyhold::secrets
