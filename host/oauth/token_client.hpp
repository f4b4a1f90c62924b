#pragma once
// TokenClient: the grants keyhold runs against one provider's token endpoint (RFC 6749,
// OAuth 2.1): authorization code with PKCE, refresh (rotation honoured), client
// credentials, device authorization (RFC 8628), and revocation (RFC 7009). A confidential
// client authenticates with client_secret_basic, a public one sends its client_id. A
// configured resource (RFC 8707) goes with every request but revocation.
// Not thread-safe (each call is one blocking HTTP exchange); cheap to build.
#include <chrono>
#include <functional>
#include <string>

#include "config/oauth_config.hpp"
#include "keyhold/vault/secret_buffer.hpp"
#include "oauth/provider_metadata.hpp"
#include "oauth/token_record.hpp"

namespace keyhold::secrets {
class SharedVault;
}

namespace keyhold::oauth {

// Reads the client secret a provider names (`client_secret = "vault:..."`); an empty
// buffer for a public client. vault may be null when the reference is env: or file:.
Result<vault::SecretBuffer> read_client_secret(const OAuthProviderConfig& provider,
                                               secrets::SharedVault* vault);

struct DeviceAuthorization {
  WipedString device_code;
  std::string user_code;
  std::string verification_uri;
  std::string verification_uri_complete;
  std::int64_t expires_in = 0;
  std::int64_t interval = 5;
};

class TokenClient {
 public:
  TokenClient(OAuthProviderConfig provider, ProviderEndpoints endpoints,
              vault::SecretBuffer client_secret);

  const OAuthProviderConfig& provider() const { return provider_; }
  const ProviderEndpoints& endpoints() const { return endpoints_; }
  std::string scope() const;  // the configured scopes, space-separated
  // The authorization request (RFC 6749 4.1.1, OAuth 2.1): code flow, the PKCE S256
  // challenge, state, the configured scopes and resource (RFC 8707). Needs an
  // authorization endpoint (the caller checks it is there).
  std::string authorization_url(const std::string& redirect_uri, const std::string& state,
                                const std::string& code_challenge) const;

  // authorization_code grant with the PKCE verifier (RFC 7636).
  Result<TokenRecord> exchange_code(std::string_view code, const std::string& redirect_uri,
                                    std::string_view verifier, std::int64_t now);
  // refresh_token grant. The result keeps current's refresh token when the provider sent
  // no new one (no rotation), and current's scope when it named none.
  Result<TokenRecord> refresh(const TokenRecord& current, std::int64_t now);
  // client_credentials grant.
  Result<TokenRecord> client_credentials(std::int64_t now);
  // RFC 8628: asks for a device code; then polls until the user approved, was refused, or
  // the code expired. wait is called between polls (tests shorten it).
  Result<DeviceAuthorization> start_device();
  Result<TokenRecord> poll_device(const DeviceAuthorization& device,
                                  const std::function<void(std::chrono::seconds)>& wait,
                                  const std::function<std::int64_t()>& now);
  // RFC 7009: revokes token (hint "refresh_token" or "access_token"). kNotFound when the
  // provider offers no revocation endpoint.
  Status revoke(const vault::SecretBuffer& token, std::string_view hint);

 private:
  // POSTs fields (plus client authentication) to url; with send_resource, also the
  // configured RFC 8707 `resource` (every token and device authorization request).
  Result<HttpResponse> post(const std::string& url,
                            std::vector<std::pair<std::string, std::string>> fields,
                            bool send_resource = true);
  Result<TokenRecord> finish(Result<HttpResponse> response, std::string_view what,
                             std::string_view grant, std::int64_t now);

  OAuthProviderConfig provider_;
  ProviderEndpoints endpoints_;
  vault::SecretBuffer client_secret_;
};

}  // namespace keyhold::oauth
