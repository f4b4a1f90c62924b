#pragma once
// TokenManager: the serving host's OAuth tokens. Resolves `oauth:NAME` for the broker from
// the vault record "oauth-token/NAME", refreshes it `refresh_margin` before it expires
// (refresh_token grant, one refresh at a time per provider: concurrent callers wait for it
// and share its result), stores the new record in the vault in one audited transaction
// before the new token is handed out, and keeps the old token while it is still valid when
// a refresh fails. Failures are logged and audited without values.
// A per_user provider keeps one such state per subject (an authenticated HTTP client), read
// from and written to the subject's own record "oauth-token/NAME/SUBJECT": a call for one
// subject never sees another's tokens nor the shared record.
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
  bool per_user(std::string_view provider) const override;
  Result<vault::SecretBuffer> access_token(std::string_view provider,
                                           std::int64_t data_version = -1,
                                           std::string_view subject = {}) override;
  Status renew_refused(std::string_view provider, const vault::SecretBuffer& refused) override;
  std::vector<vault::SecretBuffer> known_tokens(std::string_view provider) override;
  std::uint64_t generation() const override { return generation_.load(); }

  // Stores record, just obtained by a login that subject completed through the serving
  // host (the /oauth/callback), as subject's record of the per_user provider: one audited
  // vault write (action oauth.login), then the manager uses it at once. kInvalidArgument
  // for an unknown or shared provider or an empty subject.
  Status store_login(std::string_view provider, std::string_view subject, TokenRecord record);

 private:
  // The tokens of one provider for one subject ("" for a shared provider).
  struct ProviderState {
    explicit ProviderState(std::string who) : subject(std::move(who)) {}
    const std::string subject;
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
  // The state of provider for subject (created at the first use of a per_user provider's
  // subject; a shared provider has one, subject ""). Null for an unknown provider. States
  // are never removed, so the pointer stays valid.
  ProviderState* state_of(std::string_view provider, std::string_view subject);
  // Moves the tokens of the held record to state.retired (they may still be in use).
  void retire_record(ProviderState& state) KH_REQUIRES(state.mutex);
  // Adds every token of state (and of its record's previous vault version) to out.
  void add_known_tokens(const OAuthProviderConfig& provider, ProviderState& state,
                        std::vector<vault::SecretBuffer>& out);
  // Runs the refresh grant and stores the result; state.record is the new one after.
  Status refresh(const OAuthProviderConfig& provider, ProviderState& state, std::int64_t now)
      KH_REQUIRES(state.mutex);
  // refresh(), and its outcome kept: a failure is logged (cause names why it ran, e.g.
  // " after an upstream 401"), audited and backed off; a success clears the failure.
  Status refresh_recorded(const OAuthProviderConfig& provider, ProviderState& state,
                          std::int64_t now, std::string_view cause) KH_REQUIRES(state.mutex);
  void audit(const std::string& record, const std::string& outcome, const std::string& detail);

  const OAuthProviders providers_;
  std::shared_ptr<secrets::SharedVault> vault_;
  Clock now_;
  Mutex states_mutex_;
  // By (provider, subject).
  std::map<std::pair<std::string, std::string>, std::unique_ptr<ProviderState>, std::less<>> states_
      KH_GUARDED_BY(states_mutex_);
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace keyhold::oauth
