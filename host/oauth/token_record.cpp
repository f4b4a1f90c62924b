#include "oauth/token_record.hpp"

#include <sodium.h>

#include <nlohmann/json.hpp>

namespace keyhold::oauth {

namespace {

// Zeroes every string in document (the parsed copies of token values) before it is freed.
void wipe_strings(nlohmann::json& document) {
  if (document.is_string()) {
    auto& text = document.get_ref<std::string&>();
    sodium_memzero(text.data(), text.size());
  } else if (document.is_structured()) {
    for (auto& child : document) wipe_strings(child);
  }
}

struct WipedJson {
  nlohmann::json document;
  ~WipedJson() { wipe_strings(document); }
};

std::string text_of(const nlohmann::json& document, const char* key) {
  auto it = document.find(key);
  return it != document.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t number_of(const nlohmann::json& document, const char* key) {
  auto it = document.find(key);
  return it != document.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

vault::SecretBuffer secret_of(const nlohmann::json& document, const char* key) {
  auto it = document.find(key);
  if (it == document.end() || !it->is_string()) return {};
  return vault::SecretBuffer::copy_of(std::string_view(it->get_ref<const std::string&>()));
}

// The `sub` claim of an id_token (unverified: shown to the administrator, never trusted).
std::string subject_of(const nlohmann::json& document) {
  auto it = document.find("id_token");
  if (it == document.end() || !it->is_string()) return {};
  const auto& jwt = it->get_ref<const std::string&>();
  const auto first = jwt.find('.'), second = jwt.find('.', first + 1);
  if (first == std::string::npos || second == std::string::npos) return {};
  const std::string payload = jwt.substr(first + 1, second - first - 1);
  std::string decoded(payload.size(), '\0');
  size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(),
                        payload.data(), payload.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    return {};
  decoded.resize(length);
  auto claims = nlohmann::json::parse(decoded, nullptr, false);
  return claims.is_object() ? text_of(claims, "sub") : std::string();
}

}  // namespace

vault::SecretBuffer TokenRecord::to_secret() const {
  WipedJson json;
  json.document = {{"format", 1},
                   {"access_token", std::string(access_token.view())},
                   {"token_type", token_type},
                   {"scope", scope},
                   {"issuer", issuer},
                   {"subject", subject},
                   {"grant", grant},
                   {"expires_at", expires_at},
                   {"obtained_at", obtained_at},
                   {"last_refresh", last_refresh},
                   {"refresh_failures", refresh_failures}};
  if (!refresh_token.empty()) json.document["refresh_token"] = std::string(refresh_token.view());
  std::string text = json.document.dump();
  auto secret = vault::SecretBuffer::copy_of(std::string_view(text));
  sodium_memzero(text.data(), text.size());
  return secret;
}

Result<TokenRecord> TokenRecord::from_secret(std::span<const std::uint8_t> bytes,
                                             std::string_view provider) {
  WipedJson json;
  json.document = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  const auto& d = json.document;
  if (!d.is_object() || number_of(d, "format") != 1 || !d.contains("access_token"))
    return Status(ErrorCode::kIntegrity,
                  "the vault secret " + record_name(provider) +
                      " is not a keyhold OAuth token record; run `keyhold oauth login " +
                      std::string(provider) + "` again");
  TokenRecord record;
  record.access_token = secret_of(d, "access_token");
  record.refresh_token = secret_of(d, "refresh_token");
  record.token_type = text_of(d, "token_type");
  record.scope = text_of(d, "scope");
  record.issuer = text_of(d, "issuer");
  record.subject = text_of(d, "subject");
  record.grant = text_of(d, "grant");
  record.expires_at = number_of(d, "expires_at");
  record.obtained_at = number_of(d, "obtained_at");
  record.last_refresh = number_of(d, "last_refresh");
  record.refresh_failures = number_of(d, "refresh_failures");
  return record;
}

std::string describe_oauth_error(const HttpResponse& response) {
  WipedJson json;
  json.document = nlohmann::json::parse(response.body.text(), nullptr, false);
  const std::string code = json.document.is_object() ? text_of(json.document, "error") : "";
  if (code.empty()) return "HTTP " + std::to_string(response.status);
  std::string description = text_of(json.document, "error_description");
  if (description.size() > 200) description = description.substr(0, 200) + "...";
  return code + (description.empty() ? "" : " (" + description + ")");
}

Result<TokenRecord> parse_token_response(const HttpResponse& response, std::string_view provider,
                                         std::string_view what, const std::string& requested_scope,
                                         std::int64_t now) {
  const std::string who = "oauth provider '" + std::string(provider) + "'";
  if (response.status != 200)
    return Status(
        response.status >= 500 ? ErrorCode::kUnavailable : ErrorCode::kPermissionDenied,
        who + " refused the " + std::string(what) + ": " + describe_oauth_error(response));
  WipedJson json;
  json.document = nlohmann::json::parse(response.body.text(), nullptr, false);
  const auto& d = json.document;
  if (!d.is_object() || text_of(d, "access_token").empty())
    return invalid_argument(who + " answered the " + std::string(what) +
                            " without an access_token (not an RFC 6749 token response)");
  TokenRecord record;
  record.access_token = secret_of(d, "access_token");
  record.refresh_token = secret_of(d, "refresh_token");
  record.token_type = text_of(d, "token_type");
  record.scope = d.contains("scope") ? text_of(d, "scope") : requested_scope;
  record.subject = subject_of(d);
  record.obtained_at = now;
  const std::int64_t expires_in = number_of(d, "expires_in");
  record.expires_at = expires_in > 0 ? now + expires_in : 0;
  return record;
}

}  // namespace keyhold::oauth
