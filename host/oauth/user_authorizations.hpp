#pragma once
// Per-user authorizations completed through the serving host (per_user providers, issue
// 18): when a client's tool call needs that client's tokens and there are none, the host
// starts an authorization for it (PKCE S256, an unguessable single-use state, an
// elicitation id) whose redirect is keyhold's own HTTP listener, `/oauth/callback`; the
// browser brings the code back there, and the host exchanges it and stores the client's
// record through the TokenManager (audited oauth.login). See host/oauth/README.md.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/mutex.hpp"
#include "base/status.hpp"
#include "config/oauth_config.hpp"
#include "oauth/provider_metadata.hpp"
#include "oauth/token_manager.hpp"
#include "oauth/wiped_string.hpp"

namespace keyhold::oauth {

// One authorization a client started and the browser has not brought back yet.
struct PendingAuthorization {
  std::string provider;
  std::string client_id;    // the authenticated client (AuthDecision::client_id)
  std::string client_name;  // its token's name: the subject whose record is written
  std::string state;        // unguessable, single use
  WipedString verifier;     // PKCE
  std::string elicitation_id;
  std::string redirect_uri;
  ProviderEndpoints endpoints;
  std::int64_t expires_at = 0;  // Unix seconds
};

// The pending authorizations, without any I/O. Thread-safe.
class PendingAuthorizations {
 public:
  // At most this many per client: adding one more drops that client's oldest.
  static constexpr std::size_t kMaxPerClient = 3;

  void add(PendingAuthorization pending, std::int64_t now);
  // Removes and returns the pending authorization whose state equals `state` (exact,
  // constant time against each) and has not expired at now. nullopt for an unknown,
  // expired or already used state. Expired ones are dropped on the way.
  std::optional<PendingAuthorization> take(const std::string& state, std::int64_t now);
  std::size_t size();

 private:
  void drop_expired(std::int64_t now) KH_REQUIRES(mutex_);
  Mutex mutex_;
  std::vector<PendingAuthorization> pending_ KH_GUARDED_BY(mutex_);  // oldest first
};

struct StartedAuthorization {
  std::string elicitation_id;
  std::string url;  // the provider's authorization URL
};

struct CompletedAuthorization {
  std::string provider;
  std::string client_id;
  std::string client_name;
  std::string elicitation_id;
};

// Thread-safe.
class UserAuthorizations {
 public:
  using Clock = std::function<std::int64_t()>;  // Unix seconds
  // tokens stores the records; now defaults to the system clock.
  UserAuthorizations(OAuthProviders providers, std::shared_ptr<TokenManager> tokens,
                     std::shared_ptr<secrets::SharedVault> vault, Clock now = nullptr);

  // "http://HOST:PORT/oauth/callback" of the serving listener. Set before the first begin().
  void set_redirect_uri(std::string uri);

  // Starts an authorization of per_user provider for the client: its URL carries PKCE
  // S256, the state, the configured scopes and resource, and the redirect URI. Expires
  // after the provider's login_timeout. Discovers the provider's endpoints (network).
  Result<StartedAuthorization> begin(const std::string& provider, const std::string& client_id,
                                     const std::string& client_name);

  // Judges a callback's query string: a pending state (else kPermissionDenied "unknown,
  // expired or already used"), then check_authorization_response (iss, error, code), then
  // the code exchange, then the client's record stored. Every error message is for the
  // browser page and the log: it names the check, never a code, state or token. Nothing is
  // stored unless everything passed; a state is used up by its first callback either way.
  Result<CompletedAuthorization> complete(std::string_view query);

 private:
  const OAuthProviders providers_;
  std::shared_ptr<TokenManager> tokens_;
  std::shared_ptr<secrets::SharedVault> vault_;
  Clock now_;
  Mutex mutex_;
  std::string redirect_uri_ KH_GUARDED_BY(mutex_);
  PendingAuthorizations pending_;
};

}  // namespace keyhold::oauth
