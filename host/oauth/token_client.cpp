#include "oauth/token_client.hpp"

#include <sodium.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "oauth/url_text.hpp"
#include "secrets/secret_source.hpp"

namespace keyhold::oauth {

namespace {

// Zeroes the value strings of fields (codes, verifiers, refresh tokens) once sent.
struct WipedFields {
  std::vector<std::pair<std::string, std::string>> fields;
  ~WipedFields() {
    for (auto& [key, value] : fields) sodium_memzero(value.data(), value.size());
  }
};

}  // namespace

Result<vault::SecretBuffer> read_client_secret(const OAuthProviderConfig& provider,
                                               secrets::SharedVault* vault) {
  if (provider.client_secret.empty()) return vault::SecretBuffer();
  auto source = secrets::SecretSource::parse(provider.client_secret);
  if (!source.is_ok())
    return invalid_argument("oauth." + provider.name +
                            ".client_secret: " + source.status().message());
  auto value = secrets::read_source(*source, vault);
  if (!value.is_ok())
    return Status(value.status().code(), "oauth." + provider.name + ".client_secret (" +
                                             source->describe() + "): " + value.status().message());
  return value;
}

TokenClient::TokenClient(OAuthProviderConfig provider, ProviderEndpoints endpoints,
                         vault::SecretBuffer client_secret)
    : provider_(std::move(provider)),
      endpoints_(std::move(endpoints)),
      client_secret_(std::move(client_secret)) {}

std::string TokenClient::scope() const {
  std::string out;
  for (const auto& s : provider_.scopes) out += (out.empty() ? "" : " ") + s;
  return out;
}

std::string TokenClient::authorization_url(const std::string& redirect_uri,
                                           const std::string& state,
                                           const std::string& code_challenge) const {
  std::vector<std::pair<std::string, std::string>> query{
      {"response_type", "code"},          {"client_id", provider_.client_id},
      {"redirect_uri", redirect_uri},     {"state", state},
      {"code_challenge", code_challenge}, {"code_challenge_method", "S256"}};
  if (!scope().empty()) query.emplace_back("scope", scope());
  if (!provider_.resource.empty()) query.emplace_back("resource", provider_.resource);  // RFC 8707
  const std::string& base = endpoints_.authorization_endpoint;
  return base + (base.find('?') == std::string::npos ? "?" : "&") + form_encode(query);
}

Result<HttpResponse> TokenClient::post(const std::string& url,
                                       std::vector<std::pair<std::string, std::string>> fields,
                                       bool send_resource) {
  WipedFields wiped{std::move(fields)};
  if (send_resource && !provider_.resource.empty())
    wiped.fields.emplace_back("resource", provider_.resource);
  HttpRequest request;
  request.url = url;
  if (client_secret_.empty()) {
    wiped.fields.emplace_back("client_id", provider_.client_id);
  } else {  // client_secret_basic: both parts form-encoded first (RFC 6749 2.3.1)
    request.basic_user = WipedString(url_encode(provider_.client_id));
    request.basic_password = WipedString(url_encode(client_secret_.view()));
  }
  request.form = WipedString(form_encode(wiped.fields));
  return send(request);
}

Result<TokenRecord> TokenClient::finish(Result<HttpResponse> response, std::string_view what,
                                        std::string_view grant, std::int64_t now) {
  if (!response.is_ok()) return response.status();
  auto record = parse_token_response(response.value(), provider_.name, what, scope(), now);
  if (!record.is_ok()) return record;
  record.value().issuer = endpoints_.issuer;
  record.value().grant = std::string(grant);
  return record;
}

Result<TokenRecord> TokenClient::exchange_code(std::string_view code,
                                               const std::string& redirect_uri,
                                               std::string_view verifier, std::int64_t now) {
  return finish(post(endpoints_.token_endpoint, {{"grant_type", "authorization_code"},
                                                 {"code", std::string(code)},
                                                 {"redirect_uri", redirect_uri},
                                                 {"code_verifier", std::string(verifier)}}),
                "authorization code exchange", "authorization_code", now);
}

Result<TokenRecord> TokenClient::refresh(const TokenRecord& current, std::int64_t now) {
  if (current.refresh_token.empty())
    return not_found("oauth provider '" + provider_.name + "' issued no refresh token");
  auto next = finish(post(endpoints_.token_endpoint,
                          {{"grant_type", "refresh_token"},
                           {"refresh_token", std::string(current.refresh_token.view())}}),
                     "token refresh", current.grant, now);
  if (!next.is_ok()) return next;
  TokenRecord& record = next.value();
  if (record.refresh_token.empty())  // no rotation: the old refresh token stays valid
    record.refresh_token = vault::SecretBuffer::copy_of(current.refresh_token.bytes());
  if (record.scope.empty() || record.scope == scope()) record.scope = current.scope;
  if (record.subject.empty()) record.subject = current.subject;
  record.obtained_at = current.obtained_at;
  record.last_refresh = now;
  record.refresh_failures = 0;
  return next;
}

Result<TokenRecord> TokenClient::client_credentials(std::int64_t now) {
  std::vector<std::pair<std::string, std::string>> fields{{"grant_type", "client_credentials"}};
  if (!provider_.scopes.empty()) fields.emplace_back("scope", scope());
  return finish(post(endpoints_.token_endpoint, std::move(fields)), "client credentials grant",
                "client_credentials", now);
}

Result<DeviceAuthorization> TokenClient::start_device() {
  if (endpoints_.device_authorization_endpoint.empty())
    return not_found("oauth provider '" + provider_.name +
                     "' offers no device authorization endpoint (RFC 8628); set "
                     "device_authorization_endpoint or use `keyhold oauth login` without --device");
  std::vector<std::pair<std::string, std::string>> fields;
  if (!provider_.scopes.empty()) fields.emplace_back("scope", scope());
  auto response = post(endpoints_.device_authorization_endpoint, std::move(fields));
  if (!response.is_ok()) return response.status();
  if (response.value().status != 200)
    return Status(ErrorCode::kPermissionDenied, "oauth provider '" + provider_.name +
                                                    "' refused the device authorization: " +
                                                    describe_oauth_error(response.value()));
  auto d = nlohmann::json::parse(response.value().body.text(), nullptr, false);
  DeviceAuthorization device;
  if (d.is_object() && d.contains("device_code") && d["device_code"].is_string()) {
    device.device_code = WipedString(d["device_code"].get<std::string>());
    auto& code = d["device_code"].get_ref<std::string&>();
    sodium_memzero(code.data(), code.size());
  }
  device.user_code = d.value("user_code", "");
  device.verification_uri = d.value("verification_uri", "");
  device.verification_uri_complete = d.value("verification_uri_complete", "");
  device.expires_in = d.value("expires_in", std::int64_t{600});
  device.interval = std::max<std::int64_t>(1, d.value("interval", std::int64_t{5}));
  if (device.device_code.text().empty() || device.user_code.empty() ||
      device.verification_uri.empty())
    return invalid_argument("oauth provider '" + provider_.name +
                            "' answered the device authorization without device_code, user_code "
                            "or verification_uri");
  return device;
}

Result<TokenRecord> TokenClient::poll_device(const DeviceAuthorization& device,
                                             const std::function<void(std::chrono::seconds)>& wait,
                                             const std::function<std::int64_t()>& now) {
  const std::int64_t deadline = now() + device.expires_in;
  std::int64_t interval = device.interval;
  while (now() < deadline) {
    wait(std::chrono::seconds(interval));
    auto response = post(endpoints_.token_endpoint,
                         {{"grant_type", "urn:ietf:params:oauth:grant-type:device_code"},
                          {"device_code", device.device_code.text()}});
    if (!response.is_ok()) return response.status();
    if (response.value().status == 200)
      return finish(std::move(response), "device code grant", "device_code", now());
    const std::string error = describe_oauth_error(response.value());
    if (error.starts_with("authorization_pending")) continue;
    if (error.starts_with("slow_down")) {
      interval += 5;  // RFC 8628 3.5
      continue;
    }
    return Status(ErrorCode::kPermissionDenied, "oauth provider '" + provider_.name +
                                                    "' refused the device code grant: " + error);
  }
  return Status(ErrorCode::kCancelled, "the device code of oauth provider '" + provider_.name +
                                           "' expired before the user approved it");
}

Status TokenClient::revoke(const vault::SecretBuffer& token, std::string_view hint) {
  if (endpoints_.revocation_endpoint.empty())
    return not_found("oauth provider '" + provider_.name + "' offers no revocation endpoint");
  auto response =
      post(endpoints_.revocation_endpoint,
           {{"token", std::string(token.view())}, {"token_type_hint", std::string(hint)}},
           /*send_resource=*/false);
  if (!response.is_ok()) return response.status();
  if (response.value().status != 200)
    return Status(ErrorCode::kUnavailable,
                  "oauth provider '" + provider_.name +
                      "' refused the revocation: " + describe_oauth_error(response.value()));
  return Status();
}

}  // namespace keyhold::oauth
