#pragma once
// The Bearer challenge of a WWW-Authenticate header (RFC 6750 3, RFC 9110 11.6.1) that a
// protected resource (a remote mounted server, or the URL `keyhold oauth discover` is
// given) sends with a 401 or 403: its error, scope and, for servers that
// follow the MCP authorization spec, resource_metadata (RFC 9728 5.1: where its protected
// resource metadata is). Pure; the header comes from an untrusted server, so every value
// is kept only when it is short printable ASCII.
#include <optional>
#include <string>
#include <string_view>

namespace keyhold::oauth {

struct BearerChallenge {
  bool bearer = false;            // a Bearer challenge was found
  std::string error;              // "invalid_token", "insufficient_scope", ...
  std::string scope;              // space-separated
  std::string resource_metadata;  // an http(s) URL

  // "; the server asks for OAuth (resource metadata: URL, scope: S)" or empty: what an
  // error message may add (the values are the server's, checked as above).
  std::string describe() const;
};

// The first Bearer challenge of value (several challenges may share one header).
BearerChallenge parse_bearer_challenge(std::string_view value);

// The value of a raw response header line ("WWW-Authenticate: ...\r\n", as libcurl hands
// it over) without the name and surrounding space; nullopt for any other header or a
// line over 4 KiB. For both HTTP clients (oauth's and a remote mount's).
std::optional<std::string_view> challenge_header_value(std::string_view line);

}  // namespace keyhold::oauth
