#pragma once
// The redirect side of a native app's authorization request (RFC 8252 7.3): a one-shot
// HTTP listener on 127.0.0.1 at a random port that waits for the browser to bring back
// the authorization response, and checks it before anything else sees the code.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "base/status.hpp"
#include "oauth/wiped_string.hpp"

namespace keyhold::oauth {

struct AuthorizationResponse {
  WipedString code;
};

// What a callback must carry to be accepted.
struct ExpectedCallback {
  std::string state;   // compared exactly (constant time)
  std::string issuer;  // RFC 9207: `iss` must equal it when present
  bool issuer_required =
      false;  // the server advertised authorization_response_iss_parameter_supported
};

// The checks an authorization response must pass before its code is used, on its parsed
// query: state equal to expected.state (exact, constant time), iss (when present, or when
// required) equal to the issuer (RFC 9207), no `error` parameter, a code. Shared by the
// CLI's loopback listener and the serving host's /oauth/callback. kPermissionDenied whose
// message is why, for the user ("its state does not match ..."), never the code or state.
Result<AuthorizationResponse> check_authorization_response(
    const std::map<std::string, std::string>& query, const ExpectedCallback& expected);

// True when a and b are equal, compared in constant time for equal sizes.
bool same_secret_text(const std::string& a, const std::string& b);

class LoopbackRedirect {
 public:
  // Listens on 127.0.0.1 at a port the kernel picks.
  static Result<LoopbackRedirect> open();
  LoopbackRedirect(LoopbackRedirect&& other) noexcept;
  LoopbackRedirect& operator=(LoopbackRedirect&&) = delete;
  ~LoopbackRedirect();

  // "http://127.0.0.1:PORT/callback".
  std::string redirect_uri() const;

  // Serves requests until one reaches /callback (other paths get 404), then checks it:
  // state must match exactly, iss (when present, or when required) must be the issuer, an
  // `error` parameter is a refusal. Answers the browser with a short page either way.
  // kCancelled after timeout. Errors name the failed check, never the code.
  Result<AuthorizationResponse> wait(const ExpectedCallback& expected,
                                     std::chrono::seconds timeout);

 private:
  LoopbackRedirect(int fd, std::uint16_t port) : fd_(fd), port_(port) {}
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace keyhold::oauth
