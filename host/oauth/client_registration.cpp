#include "oauth/client_registration.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "oauth/http_client.hpp"
#include "oauth/token_record.hpp"
#include "oauth/url_text.hpp"

namespace keyhold::oauth {

namespace {

// What keyhold is as a client, for a registration request and a metadata document alike.
nlohmann::json keyhold_client_metadata() {
  return {
      {"client_name", "keyhold"},
      {"application_type", "native"},
      // RFC 8252 7.3: the server must accept any port on a loopback redirect; `oauth login`
      // listens on a random one.
      {"redirect_uris", {"http://127.0.0.1/callback"}},
      {"grant_types", {"authorization_code", "refresh_token"}},
      {"response_types", {"code"}},
      {"token_endpoint_auth_method", "none"},
  };
}

}  // namespace

std::string registration_request(const std::vector<std::string>& scopes) {
  nlohmann::json request = keyhold_client_metadata();
  std::string scope;
  for (const auto& s : scopes) scope += (scope.empty() ? "" : " ") + s;
  if (!scope.empty()) request["scope"] = scope;
  return request.dump();
}

Status check_client_metadata_url(const std::string& url) {
  // A user name or password is never echoed (it may be a secret); any other URL is.
  const std::size_t authority_end = url.find_first_of("/?#", url.find("://") + 3);
  if (url.substr(0, authority_end).find('@') != std::string::npos)
    return invalid_argument(
        "a Client ID Metadata Document URL must not carry a user name or password (the URL "
        "given does; it is not repeated here)");
  const auto refuse = [&](const std::string& why) {
    return invalid_argument("a Client ID Metadata Document URL " + why + " (got " +
                            (url.size() > 200 ? url.substr(0, 200) + "..." : url) + ")");
  };
  if (!url.starts_with("https://")) return refuse("must be an https:// URL");
  if (url.find('#') != std::string::npos) return refuse("must not have a fragment");
  if (url.find('?') != std::string::npos) return refuse("must not have a query");
  if (url.size() > 2048 || std::any_of(url.begin(), url.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '"' || c == '\\';
      }))
    return refuse("must be a plain URL of at most 2048 bytes");
  const auto parts = split_url(url, true);
  if (!parts || parts->host.empty()) return refuse("must name a host");
  if (parts->path.empty() || parts->path == "/")
    return refuse("must have a path (the document's own, not the site's root)");
  std::string_view rest = parts->path;
  while (!rest.empty()) {
    rest.remove_prefix(1);  // the '/'
    const std::string_view segment = rest.substr(0, rest.find('/'));
    // "%2e" is a dot too (RFC 3986 6.2.2.2): "/%2e%2e/" is "/../" to a server.
    const auto decoded = url_decode(segment);
    if (!decoded) return refuse("must not have a malformed %-escape");
    if (*decoded == "." || *decoded == "..") return refuse("must not have a . or .. segment");
    rest.remove_prefix(segment.size());
  }
  return Status::ok();
}

Result<std::string> client_metadata_document(const std::string& url) {
  if (Status checked = check_client_metadata_url(url); !checked.is_ok()) return checked;
  nlohmann::json document = keyhold_client_metadata();
  document["client_id"] = url;
  return document.dump(2);
}

Result<RegisteredClient> register_client(const std::string& endpoint,
                                         const std::vector<std::string>& scopes) {
  HttpRequest request;
  request.url = endpoint;
  request.json = registration_request(scopes);
  auto response = send(request);
  if (!response.is_ok()) return response.status();
  const HttpResponse& answer = response.value();
  if (answer.status != 201 && answer.status != 200)
    return Status(ErrorCode::kPermissionDenied,
                  "the registration endpoint " + endpoint + " refused keyhold (HTTP " +
                      std::to_string(answer.status) + "): " + describe_oauth_error(answer));
  auto document = nlohmann::json::parse(answer.body.text(), nullptr, false);
  RegisteredClient client;
  if (document.is_object()) {
    if (auto id = document.find("client_id"); id != document.end() && id->is_string())
      client.client_id = id->get<std::string>();
    if (auto secret = document.find("client_secret");
        secret != document.end() && secret->is_string()) {
      client.client_secret = WipedString(secret->get<std::string>());
      auto& text = secret->get_ref<std::string&>();
      sodium_memzero(text.data(), text.size());
    }
    if (auto expires = document.find("client_secret_expires_at");
        expires != document.end() && expires->is_number_integer())
      client.client_secret_expires_at = expires->get<std::int64_t>();
    // registration_access_token (RFC 7592) is not kept: keyhold never edits the
    // registration. Wipe it with the rest of the parsed document.
    if (auto token = document.find("registration_access_token");
        token != document.end() && token->is_string()) {
      auto& text = token->get_ref<std::string&>();
      sodium_memzero(text.data(), text.size());
    }
  }
  const bool printable = !client.client_id.empty() && client.client_id.size() <= 512 &&
                         std::all_of(client.client_id.begin(), client.client_id.end(), [](char c) {
                           return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
                         });
  if (!printable)
    return invalid_argument("the registration endpoint " + endpoint +
                            " answered without a usable client_id (RFC 7591 3.2.1)");
  return client;
}

}  // namespace keyhold::oauth
