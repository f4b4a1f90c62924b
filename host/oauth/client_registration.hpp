#pragma once
// OAuth 2.0 Dynamic Client Registration (RFC 7591): keyhold registers itself with an
// authorization server that offers a registration endpoint, as the MCP authorization spec
// (2025-11-25) allows when no client id was issued to it in advance. keyhold registers as a
// native public client: PKCE, a loopback redirect on any port (RFC 8252 7.3), the
// authorization code and refresh token grants, no client secret asked for.
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "oauth/wiped_string.hpp"

namespace keyhold::oauth {

struct RegisteredClient {
  std::string client_id;
  // Empty for a public client; a server may issue one anyway (then it must be kept secret).
  WipedString client_secret;
  std::int64_t client_secret_expires_at = 0;  // 0: does not expire
};

// The registration request's JSON (the client metadata keyhold asks for).
std::string registration_request(const std::vector<std::string>& scopes);

// POSTs the registration to endpoint (https://, or http:// on a loopback host). The error
// names the endpoint and the server's error code and description, never a secret.
Result<RegisteredClient> register_client(const std::string& endpoint,
                                         const std::vector<std::string>& scopes);

}  // namespace keyhold::oauth
