#pragma once
// OAuthTokenSource: what the broker needs from the host's OAuth client (host/oauth/) to
// resolve `oauth:NAME` mappings, without this room depending on HTTP. The implementation
// keeps the tokens in the vault record "oauth-token/NAME" and refreshes them before they expire.
//
// Thread-safe.
#include <cstdint>
#include <string_view>
#include <vector>

#include "base/status.hpp"
#include "keyhold/vault/secret_buffer.hpp"

namespace keyhold::secrets {

class OAuthTokenSource {
 public:
  virtual ~OAuthTokenSource() = default;
  // True when provider is configured (`[oauth.NAME]`).
  virtual bool knows(std::string_view provider) const = 0;
  // The current access token of provider, refreshed first when it is about to expire.
  // The error says what to do ("run `keyhold oauth login NAME`"), never a value.
  // data_version: the vault's data_version the caller read for this use (the stored record
  // is read again only when it moved, e.g. another process's login), or -1: read it here.
  virtual Result<vault::SecretBuffer> access_token(std::string_view provider,
                                                   std::int64_t data_version = -1) = 0;
  // After an upstream refused `refused` (an access token of provider, HTTP 401): refreshes
  // unless the current token is already another one (a concurrent caller refreshed: one
  // refresh for all of them). OK when the next access_token() may succeed where refused
  // failed; otherwise the error says what to do ("run `keyhold oauth login NAME`"), never a
  // value. Never refreshes while the back-off after a failed refresh runs.
  virtual Status renew_refused(std::string_view provider, const vault::SecretBuffer& refused) = 0;
  // Every token value of provider this host holds or may have handed out (the access
  // token, earlier access tokens not yet expired, refresh tokens), for the redactor.
  virtual std::vector<vault::SecretBuffer> known_tokens(std::string_view provider) = 0;
  // Moves whenever this process replaced a token (a refresh), so the broker reloads the
  // redactor before the new value leaves. (A write by this process does not move the
  // vault's data_version.)
  virtual std::uint64_t generation() const = 0;
};

}  // namespace keyhold::secrets
