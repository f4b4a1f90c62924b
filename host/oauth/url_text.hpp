#pragma once
// The small text encodings OAuth needs: form/query encoding (RFC 3986 unreserved kept),
// query parsing, base64url without padding, and a URL's parts.
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keyhold::oauth {

// Percent-encodes everything but RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~).
std::string url_encode(std::string_view text);
// Decodes %XX and '+' (as a space, application/x-www-form-urlencoded); nullopt when a
// %-escape is malformed.
std::optional<std::string> url_decode(std::string_view text);
// "a=1&b=2" from pairs, each part url_encode'd.
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);
// Parses a query string; nullopt when malformed or a key repeats (OAuth forbids it).
std::optional<std::map<std::string, std::string>> parse_query(std::string_view query);
// base64url without padding (RFC 7636 and JWT).
std::string base64url(std::span<const unsigned char> bytes);

struct UrlParts {
  std::string scheme;  // lower case
  std::string host;    // without brackets for IPv6
  std::string path;    // "" or starting with '/'
};
// Splits an absolute http(s) URL; nullopt otherwise (or with a query/fragment when
// reject_query).
std::optional<UrlParts> split_url(std::string_view url, bool reject_query = false);
// True for https URLs, and for http URLs whose host is a loopback address (127.0.0.1,
// ::1, localhost), which OAuth 2.1 allows for local servers and tests.
bool secure_or_loopback(std::string_view url);

}  // namespace keyhold::oauth
