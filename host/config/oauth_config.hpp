#pragma once
// `[oauth.NAME]`: one OAuth 2.1 provider registration (host/oauth/ uses it). Plain data; the
// TOML reader is in oauth_config_reader.hpp so that this header stays free of toml++.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace keyhold {

struct OAuthProviderConfig {
  std::string name;  // the NAME of [oauth.NAME]; the vault record is "oauth-token/NAME"
  // The authorization server's issuer identifier. When set, its metadata is discovered
  // (RFC 8414, then OpenID Connect discovery); explicit endpoints below override it.
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string revocation_endpoint;            // RFC 7009, optional
  std::string device_authorization_endpoint;  // RFC 8628, optional
  std::string client_id;
  // Where the client secret comes from: "vault:NAME" | "env:VAR" | "file:PATH", or empty
  // for a public client (PKCE alone).
  std::string client_secret;
  std::vector<std::string> scopes;
  // RFC 8707 resource indicator: the server the tokens are for (a remote MCP server's
  // canonical URL). Sent in the authorization request and in every token request; empty:
  // not sent.
  std::string resource;
  // A token is refreshed this long before it expires (`refresh_margin = "60s"`).
  std::int64_t refresh_margin_seconds = 60;
  // How long `keyhold oauth login` waits for the browser (`login_timeout = "5m"`).
  std::int64_t login_timeout_seconds = 300;
  // `per_user = true`: each authenticated HTTP client (its token name, the subject) has
  // tokens of its own, the vault record "oauth-token/NAME/<client>"; a call uses only its
  // client's record, never the shared one or another client's (host/oauth/README.md).
  bool per_user = false;
};

using OAuthProviders = std::map<std::string, OAuthProviderConfig>;

}  // namespace keyhold
