#pragma once
// The OAuth client's HTTP: one libcurl request at a time, TLS verified (peer and host), no
// redirects followed, http:// only to loopback hosts. Bodies may carry tokens, so they
// travel in WipedString and the caller never logs them.
#include <optional>
#include <string>

#include "base/status.hpp"
#include "oauth/wiped_string.hpp"

namespace keyhold::oauth {

struct HttpResponse {
  long status = 0;
  WipedString body;
  std::string content_type;
  std::string www_authenticate;  // the first such header line's value (at most 4 KiB), or ""
};

struct HttpRequest {
  std::string url;
  // POST with this application/x-www-form-urlencoded body when set, else GET.
  std::optional<WipedString> form;
  // POST with this application/json body when set (and form is not).
  std::optional<std::string> json;
  // HTTP Basic credentials (client_secret_basic), already form-encoded per RFC 6749 2.3.1.
  std::optional<WipedString> basic_user;
  std::optional<WipedString> basic_password;
  std::string accept = "application/json";
  long timeout_ms = 30000;
};

// Sends request and returns whatever status the server answered; an error Status only
// when no answer arrived (connection, TLS, timeout) or the URL is not https/loopback. The
// message names the URL and libcurl's reason, never a body.
Result<HttpResponse> send(const HttpRequest& request);

}  // namespace keyhold::oauth
