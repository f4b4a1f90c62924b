#pragma once
// Where a provider's endpoints are: the configured ones, completed by authorization server
// metadata (RFC 8414 `/.well-known/oauth-authorization-server`, then OpenID Connect
// `/.well-known/openid-configuration`) when an issuer is configured.
#include <string>

#include "base/status.hpp"
#include "config/oauth_config.hpp"

namespace keyhold::oauth {

struct ProviderEndpoints {
  std::string issuer;  // empty when neither configured nor discovered
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string revocation_endpoint;            // empty: the provider offers no revocation
  std::string device_authorization_endpoint;  // empty: no device flow
  std::string registration_endpoint;          // RFC 7591; empty: no dynamic registration
  // RFC 9207: the server promises an `iss` parameter in every authorization response.
  bool iss_parameter_supported = false;
  // It accepts an https URL of a Client ID Metadata Document as client_id.
  bool client_id_metadata_document_supported = false;
};

// The metadata document's URLs for issuer, in the order they are tried.
std::vector<std::string> metadata_urls(const std::string& issuer);

// Resolves provider's endpoints. With an issuer, the metadata must name exactly that
// issuer (RFC 8414 section 3.3) or it is refused. Every endpoint must be https:// (or
// http:// on a loopback host). The error names the provider and what is missing.
Result<ProviderEndpoints> resolve_endpoints(const OAuthProviderConfig& provider);

}  // namespace keyhold::oauth
