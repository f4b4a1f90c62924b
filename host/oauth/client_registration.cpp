#include "oauth/client_registration.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "oauth/http_client.hpp"
#include "oauth/token_record.hpp"

namespace keyhold::oauth {

std::string registration_request(const std::vector<std::string>& scopes) {
  nlohmann::json request = {
      {"client_name", "keyhold"},
      {"application_type", "native"},
      // RFC 8252 7.3: the server must accept any port on a loopback redirect; `oauth login`
      // listens on a random one.
      {"redirect_uris", {"http://127.0.0.1/callback"}},
      {"grant_types", {"authorization_code", "refresh_token"}},
      {"response_types", {"code"}},
      {"token_endpoint_auth_method", "none"},
  };
  std::string scope;
  for (const auto& s : scopes) scope += (scope.empty() ? "" : " ") + s;
  if (!scope.empty()) request["scope"] = scope;
  return request.dump();
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
