#pragma once
// TokenRecord: what the vault keeps for one provider, as the JSON value of the secret
// "oauth-token/NAME" (one secret per provider, encrypted and versioned like any other; the
// vault schema is unchanged). Tokens live in SecretBuffers; the JSON text exists only
// inside a SecretBuffer and in parser strings that are zeroed after use.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/status.hpp"
#include "keyhold/vault/secret_buffer.hpp"
#include "oauth/http_client.hpp"
#include "secrets/secret_source.hpp"

namespace keyhold::oauth {

// The vault secret of provider's record: "oauth-token/NAME" (secrets::kOAuthRecordPrefix,
// reserved: no `vault:` mapping may name it); for a per_user provider, client's own record
// "oauth-token/NAME/CLIENT" (client: the keyhold HTTP client token's name, whose
// characters are valid in a secret name). An instance's grant on "oauth-token/NAME"
// covers the per-user records.
inline std::string record_name(std::string_view provider, std::string_view client = {}) {
  std::string name = std::string(secrets::kOAuthRecordPrefix) + std::string(provider);
  if (!client.empty()) name += "/" + std::string(client);
  return name;
}

struct TokenRecord {
  vault::SecretBuffer access_token;
  vault::SecretBuffer refresh_token;  // empty when the provider issued none
  std::string token_type;             // "Bearer"
  std::string scope;                  // space-separated, as granted
  std::string issuer;
  std::string subject;          // the id_token's `sub` when one came back (display only)
  std::string grant;            // "authorization_code" | "client_credentials" | "device_code"
  std::int64_t expires_at = 0;  // Unix seconds; 0: the provider did not say
  std::int64_t obtained_at = 0;
  std::int64_t last_refresh = 0;      // 0: never refreshed
  std::int64_t refresh_failures = 0;  // since the last success

  // The record as JSON text in guarded memory.
  vault::SecretBuffer to_secret() const;
  // Parses a stored record; the error names the provider, never a value.
  static Result<TokenRecord> from_secret(std::span<const std::uint8_t> bytes,
                                         std::string_view provider);
};

// Reads a token endpoint answer (RFC 6749 5.1 / 5.2) into a record obtained at now. A
// refusal becomes an error naming the provider, what was asked and the OAuth error code.
// requested_scope is kept when the answer names none (RFC 6749 5.1).
Result<TokenRecord> parse_token_response(const HttpResponse& response, std::string_view provider,
                                         std::string_view what, const std::string& requested_scope,
                                         std::int64_t now);

// "invalid_grant (description)" from an OAuth error body, or "HTTP 500".
std::string describe_oauth_error(const HttpResponse& response);

}  // namespace keyhold::oauth
