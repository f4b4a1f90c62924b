#pragma once
// OAuthTokenSource: what the broker needs from the host's OAuth client (host/oauth/) to
// resolve `oauth:NAME` mappings, without this room depending on HTTP. The implementation
// keeps the tokens in the vault record "oauth-token/NAME" and refreshes them before they expire.
//
// Thread-safe.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/mutex.hpp"
#include "base/status.hpp"
#include "keyhold/vault/secret_buffer.hpp"

namespace keyhold::secrets {

// The client one request serves, as per_user OAuth providers see it: its subject (the
// authenticated HTTP client's token name; empty without one), set before the request is
// dispatched and read-only after; and the per_user providers whose tokens the request
// wanted but could not get: the subject must first authorize them, or (no subject) they
// cannot serve this request at all (added by the broker, from any thread).
class OAuthUser {
 public:
  std::string subject;

  void needs_authorization(std::string_view provider) {
    MutexLock lock(mutex_);
    for (const auto& p : providers_)
      if (p == provider) return;
    providers_.emplace_back(provider);
  }
  std::vector<std::string> providers_to_authorize() {
    MutexLock lock(mutex_);
    return providers_;
  }

 private:
  Mutex mutex_;
  std::vector<std::string> providers_ KH_GUARDED_BY(mutex_);
};

class OAuthTokenSource {
 public:
  virtual ~OAuthTokenSource() = default;
  // True when provider is configured (`[oauth.NAME]`).
  virtual bool knows(std::string_view provider) const = 0;
  // True when provider is `per_user`: its tokens belong to each authenticated client
  // (subject), and every call below needs that subject.
  virtual bool per_user(std::string_view provider) const = 0;
  // The current access token of provider (of subject's own record for a per_user
  // provider; subject is ignored otherwise), refreshed first when it is about to expire.
  // The error says what to do ("run `keyhold oauth login NAME`"), never a value. For a
  // per_user provider: kPermissionDenied without a subject; kNotFound when subject has no
  // tokens yet and kUnavailable when they expired and could not be refreshed (both: subject
  // must authorize again).
  // data_version: the vault's data_version the caller read for this use (the stored record
  // is read again only when it moved, e.g. another process's login), or -1: read it here.
  virtual Result<vault::SecretBuffer> access_token(std::string_view provider,
                                                   std::int64_t data_version = -1,
                                                   std::string_view subject = {}) = 0;
  // After an upstream refused `refused` (an access token of provider, HTTP 401): refreshes
  // unless the current token is already another one (a concurrent caller refreshed: one
  // refresh for all of them). OK when the next access_token() may succeed where refused
  // failed; otherwise the error says what to do ("run `keyhold oauth login NAME`"), never a
  // value. Never refreshes while the back-off after a failed refresh runs.
  virtual Status renew_refused(std::string_view provider, const vault::SecretBuffer& refused) = 0;
  // Every token value of provider this host holds or may have handed out (the access
  // token, earlier access tokens not yet expired, refresh tokens; of every subject of a
  // per_user provider), for the redactor.
  virtual std::vector<vault::SecretBuffer> known_tokens(std::string_view provider) = 0;
  // Moves whenever this process replaced a token (a refresh, a login through the serving
  // host), so the broker reloads the redactor before the new value leaves. (A write by
  // this process does not move the vault's data_version.)
  virtual std::uint64_t generation() const = 0;
};

}  // namespace keyhold::secrets
