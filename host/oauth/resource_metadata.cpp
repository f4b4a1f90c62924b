#include "oauth/resource_metadata.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "oauth/http_client.hpp"
#include "oauth/url_text.hpp"
#include "oauth/www_authenticate.hpp"

namespace keyhold::oauth {

std::string protected_resource_metadata_url(const std::string& resource) {
  std::string url = resource.substr(0, resource.find_first_of("?#"));
  const auto scheme_end = url.find("://");
  const auto path_start =
      scheme_end == std::string::npos ? std::string::npos : url.find('/', scheme_end + 3);
  static constexpr std::string_view kWellKnown = "/.well-known/oauth-protected-resource";
  if (path_start == std::string::npos) return url + std::string(kWellKnown);
  std::string path = url.substr(path_start);
  if (path == "/") path.clear();
  return url.substr(0, path_start) + std::string(kWellKnown) + path;
}

std::string root_protected_resource_metadata_url(const std::string& resource) {
  const std::string url = resource.substr(0, resource.find_first_of("?#"));
  const auto scheme_end = url.find("://");
  const auto path_start =
      scheme_end == std::string::npos ? std::string::npos : url.find('/', scheme_end + 3);
  return url.substr(0, path_start) + "/.well-known/oauth-protected-resource";
}

namespace {

std::vector<std::string> strings_of(const nlohmann::json& document, const char* key) {
  std::vector<std::string> out;
  const auto it = document.find(key);
  if (it == document.end() || !it->is_array()) return out;
  for (const auto& item : *it)
    if (item.is_string() && item.get_ref<const std::string&>().size() <= 2048)
      out.push_back(item.get<std::string>());
  return out;
}

// Reads and checks the document at metadata_url; kNotFound (with the HTTP status) when the
// server answers anything but 200.
Result<ProtectedResource> read_metadata(const std::string& resource,
                                        const std::string& metadata_url) {
  ProtectedResource out;
  out.metadata_url = metadata_url;
  if (!secure_or_loopback(out.metadata_url))
    return invalid_argument("the resource metadata URL '" + out.metadata_url +
                            "' is not https:// (or http:// on a loopback host)");
  HttpRequest request;
  request.url = out.metadata_url;
  auto response = send(request);
  if (!response.is_ok()) return response.status();
  if (response.value().status != 200)
    return not_found(out.metadata_url + " answered HTTP " +
                     std::to_string(response.value().status));
  const auto document = nlohmann::json::parse(response.value().body.text(), nullptr, false);
  if (!document.is_object() || !document.contains("resource") || !document["resource"].is_string())
    return invalid_argument(out.metadata_url +
                            " is not protected resource metadata (no \"resource\")");
  out.resource = document["resource"].get<std::string>();
  // RFC 9728 3.3: metadata for another resource must not be used (it could send keyhold's
  // sign-in to an authorization server the resource never named).
  if (out.resource != resource)
    return Status(ErrorCode::kPermissionDenied, out.metadata_url + " describes the resource '" +
                                                    out.resource + "', not '" + resource + "'");
  out.authorization_servers = strings_of(document, "authorization_servers");
  out.scopes_supported = strings_of(document, "scopes_supported");
  if (out.authorization_servers.empty())
    return invalid_argument(out.metadata_url + " names no authorization server");
  for (const auto& issuer : out.authorization_servers)
    if (!secure_or_loopback(issuer))
      return invalid_argument(out.metadata_url + " names the authorization server '" + issuer +
                              "', which is not https://");
  return out;
}

// An unauthenticated MCP request to resource; its Bearer challenge (empty when the answer
// had none). Only an unreachable server is an error.
Result<BearerChallenge> probe(const std::string& resource) {
  HttpRequest request;
  request.url = resource;
  request.json = R"({"jsonrpc":"2.0","id":1,"method":"ping"})";
  request.accept = "application/json, text/event-stream";
  request.timeout_ms = 10000;
  auto response = send(request);
  if (!response.is_ok()) return response.status();
  if (response.value().status != 401 && response.value().status != 403) return BearerChallenge{};
  return parse_bearer_challenge(response.value().www_authenticate);
}

}  // namespace

Result<ProtectedResource> discover_protected_resource(const std::string& resource,
                                                      const std::string& metadata_url) {
  if (!secure_or_loopback(resource))
    return invalid_argument("'" + resource +
                            "' is not an https:// URL (http:// is accepted on a loopback host)");
  if (!metadata_url.empty()) return read_metadata(resource, metadata_url);
  auto challenge = probe(resource);
  if (!challenge.is_ok()) return challenge.status();
  std::vector<std::string> places;
  if (!challenge.value().resource_metadata.empty())
    places.push_back(challenge.value().resource_metadata);
  for (const std::string& url :
       {protected_resource_metadata_url(resource), root_protected_resource_metadata_url(resource)})
    if (std::find(places.begin(), places.end(), url) == places.end()) places.push_back(url);
  std::string tried;
  for (const std::string& url : places) {
    auto found = read_metadata(resource, url);
    if (found.is_ok()) {
      found.value().challenged_scope = challenge.value().scope;
      return found;
    }
    // A document that is there but wrong is an answer, not a place to skip.
    if (found.status().code() != ErrorCode::kNotFound) return found.status();
    tried += (tried.empty() ? "" : "; ") + found.status().message();
  }
  return not_found(tried + ": the server publishes no protected resource metadata (RFC 9728); " +
                   "configure the provider's issuer or endpoints by hand");
}

}  // namespace keyhold::oauth
