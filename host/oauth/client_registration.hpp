#pragma once
// How keyhold becomes a client of an authorization server it has no client id for.
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

// OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, the MCP
// authorization spec's first choice where an authorization server announces
// client_id_metadata_document_supported): the client id is an https URL at which the
// client's metadata is published. keyhold cannot publish it itself (it has no public
// https address); an administrator publishes the document keyhold prints.
//
// OK when url may be such a client id: https, a path other than "/", no "." or ".."
// segment, no fragment, no user name or password, no query; otherwise kInvalidArgument
// saying which rule it breaks.
Status check_client_metadata_url(const std::string& url);
// The document to publish at url (checked as above): the metadata of registration_request
// (no scope) with client_id = url.
Result<std::string> client_metadata_document(const std::string& url);

// POSTs the registration to endpoint (https://, or http:// on a loopback host). The error
// names the endpoint and the server's error code and description, never a secret.
Result<RegisteredClient> register_client(const std::string& endpoint,
                                         const std::vector<std::string>& scopes);

}  // namespace keyhold::oauth
