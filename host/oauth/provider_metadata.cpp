#include "oauth/provider_metadata.hpp"

#include <nlohmann/json.hpp>

#include "oauth/http_client.hpp"
#include "oauth/url_text.hpp"

namespace keyhold::oauth {

std::vector<std::string> metadata_urls(const std::string& issuer) {
  std::string base = issuer;
  while (base.ends_with('/')) base.pop_back();
  std::vector<std::string> urls;
  // RFC 8414 section 3.1: the well-known segment goes between the host and the path.
  const auto scheme_end = base.find("://");
  const auto path_start =
      scheme_end == std::string::npos ? std::string::npos : base.find('/', scheme_end + 3);
  if (path_start == std::string::npos) {
    urls.push_back(base + "/.well-known/oauth-authorization-server");
  } else {
    urls.push_back(base.substr(0, path_start) + "/.well-known/oauth-authorization-server" +
                   base.substr(path_start));
    // The MCP authorization spec (2025-11-25) also tries OIDC with the segment inserted.
    urls.push_back(base.substr(0, path_start) + "/.well-known/openid-configuration" +
                   base.substr(path_start));
  }
  urls.push_back(base + "/.well-known/openid-configuration");  // OIDC Discovery 4
  return urls;
}

namespace {

Result<nlohmann::json> fetch_metadata(const OAuthProviderConfig& provider) {
  std::string tried;
  for (const auto& url : metadata_urls(provider.issuer)) {
    HttpRequest request;
    request.url = url;
    auto response = send(request);
    if (!response.is_ok()) return response.status();
    if (response.value().status == 200) {
      auto document = nlohmann::json::parse(response.value().body.text(), nullptr, false);
      if (!document.is_object())
        return invalid_argument("oauth provider '" + provider.name + "': " + url +
                                " is not a JSON metadata document");
      return document;
    }
    tried += (tried.empty() ? "" : ", ") + url + " (HTTP " +
             std::to_string(response.value().status) + ")";
  }
  return not_found("oauth provider '" + provider.name + "': no authorization server metadata at " +
                   tried + "; set authorization_endpoint and token_endpoint in [oauth." +
                   provider.name + "]");
}

std::string text_field(const nlohmann::json& document, const char* key) {
  auto it = document.find(key);
  return it != document.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<ProviderEndpoints> resolve_endpoints(const OAuthProviderConfig& provider) {
  ProviderEndpoints endpoints;
  endpoints.issuer = provider.issuer;
  if (!provider.issuer.empty()) {
    auto document = fetch_metadata(provider);
    if (!document.is_ok()) return document.status();
    const auto& meta = document.value();
    const std::string issuer = text_field(meta, "issuer");
    if (issuer != provider.issuer)
      return invalid_argument(
          "oauth provider '" + provider.name + "': the metadata names issuer '" + issuer +
          "', not the configured '" + provider.issuer + "' (RFC 8414 3.3: refusing it)");
    endpoints.authorization_endpoint = text_field(meta, "authorization_endpoint");
    endpoints.token_endpoint = text_field(meta, "token_endpoint");
    endpoints.revocation_endpoint = text_field(meta, "revocation_endpoint");
    endpoints.device_authorization_endpoint = text_field(meta, "device_authorization_endpoint");
    endpoints.registration_endpoint = text_field(meta, "registration_endpoint");
    auto iss = meta.find("authorization_response_iss_parameter_supported");
    endpoints.iss_parameter_supported = iss != meta.end() && iss->is_boolean() && iss->get<bool>();
    auto cimd = meta.find("client_id_metadata_document_supported");
    endpoints.client_id_metadata_document_supported =
        cimd != meta.end() && cimd->is_boolean() && cimd->get<bool>();
    if (auto methods = meta.find("code_challenge_methods_supported");
        methods != meta.end() && methods->is_array()) {
      bool s256 = false;
      for (const auto& m : *methods)
        s256 = s256 || (m.is_string() && m.get<std::string>() == "S256");
      if (!s256)
        return invalid_argument("oauth provider '" + provider.name +
                                "' does not support PKCE with S256 (OAuth 2.1 requires it)");
    }
  }
  for (auto [configured, out] :
       {std::pair{&provider.authorization_endpoint, &endpoints.authorization_endpoint},
        {&provider.token_endpoint, &endpoints.token_endpoint},
        {&provider.revocation_endpoint, &endpoints.revocation_endpoint},
        {&provider.device_authorization_endpoint, &endpoints.device_authorization_endpoint}})
    if (!configured->empty()) *out = *configured;
  if (endpoints.token_endpoint.empty())
    return invalid_argument("oauth provider '" + provider.name +
                            "' has no token endpoint (set token_endpoint in [oauth." +
                            provider.name + "])");
  for (const std::string* url :
       {&endpoints.authorization_endpoint, &endpoints.token_endpoint,
        &endpoints.revocation_endpoint, &endpoints.device_authorization_endpoint,
        &endpoints.registration_endpoint})
    if (!url->empty() && !secure_or_loopback(*url))
      return invalid_argument("oauth provider '" + provider.name + "': endpoint " + *url +
                              " is not https:// (http:// is allowed only on a loopback host)");
  return endpoints;
}

}  // namespace keyhold::oauth
