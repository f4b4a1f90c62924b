#pragma once
// TokenManager: the serving host's OAuth tokens. Resolves `oauth:NAME` for the broker from
// the vault record "oauth-token/NAME", refreshes it `refresh_margin` before it expires
// (refresh_token grant, one refresh at a time per provider: concurrent callers wait for it
// and share its result), stores the new record in the vault in one audited transaction
// before the new token is handed out, and keeps the old token while it is still valid when
// a refresh fails. Failures are logged and audited without values.
//
// Thread-safe.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "base/mutex.hpp"
#include "config/oauth_config.hpp"
#include "oauth/token_client.hpp"
#include "oauth/token_record.hpp"
#include "secrets/oauth_tokens.hpp"
#include "secrets/secret_source.hpp"

namespace keyhold::oauth {

class TokenManager final : public secrets::OAuthTokenSource {
 public:
  using Clock = std::function<std::int64_t()>;  // Unix seconds
  // vault must not be null. now defaults to the system clock.
  TokenManager(OAuthProviders providers, std::shared_ptr<secrets::SharedVault> vault,
               Clock now = nullptr);

  bool knows(std::string_view provider) const override;
  Result<vault::SecretBuffer> access_token(std::string_view provider,
                                           std::int64_t data_version = -1) override;
  Status renew_refused(std::string_view provider, const vault::SecretBuffer& refused) override;
  std::vector<vault::SecretBuffer> known_tokens(std::string_view provider) override;
  std::uint64_t generation() const override { return generation_.load(); }

 private:
  struct ProviderState {
    Mutex mutex;  // single flight: held across a refresh
    std::optional<TokenRecord> record KH_GUARDED_BY(mutex);
    std::int64_t data_version KH_GUARDED_BY(mutex) = -1;  // of the vault when record was read
    // Tokens replaced by refreshes in this process (they may still be valid or in a
    // plugin's output), newest last, at most kRetiredKept.
    std::vector<vault::SecretBuffer> retired KH_GUARDED_BY(mutex);
    std::optional<TokenClient> client KH_GUARDED_BY(mutex);  // built at the first refresh
    std::int64_t next_attempt KH_GUARDED_BY(mutex) = 0;      // back-off after a failure
    std::string last_failure KH_GUARDED_BY(mutex);  // why the last refresh failed (no values)
  };
  static constexpr std::size_t kRetiredKept = 8;
  // renew_refused() does not refresh a token younger than this (a hostile upstream that
  // answers 401 to every token gets one refresh per this many seconds at most).
  static constexpr std::int64_t kMinRenewAgeSeconds = 5;
  // After a failed refresh, none is tried again for this long (the old token serves).
  static constexpr std::int64_t kRetryAfterFailureSeconds = 5;

  // Reads the record from the vault when none is held or another process wrote it, judged
  // by data_version (-1: read it now).
  Status load(const OAuthProviderConfig& provider, ProviderState& state,
              std::int64_t data_version = -1) KH_REQUIRES(state.mutex);
  // Runs the refresh grant and stores the result; state.record is the new one after.
  Status refresh(const OAuthProviderConfig& provider, ProviderState& state, std::int64_t now)
      KH_REQUIRES(state.mutex);
  // refresh(), and its outcome kept: a failure is logged (cause names why it ran, e.g.
  // " after an upstream 401"), audited and backed off; a success clears the failure.
  Status refresh_recorded(const OAuthProviderConfig& provider, ProviderState& state,
                          std::int64_t now, std::string_view cause) KH_REQUIRES(state.mutex);
  void audit(const std::string& provider, const std::string& outcome, const std::string& detail);

  const OAuthProviders providers_;
  std::shared_ptr<secrets::SharedVault> vault_;
  Clock now_;
  std::map<std::string, std::unique_ptr<ProviderState>, std::less<>> states_;  // fixed at start
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace keyhold::oauth
