#pragma once
// The contract between the HTTP transport and whoever authenticates its clients: the
// transport hands over the Authorization header and the peer address of every request
// and gets back a decision; it never sees how tokens are stored.
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace keyhold {

struct AuthDecision {
  enum class Kind {
    kAllow,
    kDeny,         // answered 401 with WWW-Authenticate
    kRateLimited,  // answered 429 with Retry-After
  };
  Kind kind = Kind::kDeny;
  // Who the client is. A session belongs to the client_id that created it; requests of
  // another client on it are answered 404, as if the session did not exist.
  std::string client_id;
  std::string client_name;  // for log lines (a token name, never a token)
  // The client's tool allowlist; empty allows every tool.
  std::function<bool(std::string_view tool)> tool_allowed;
  std::chrono::seconds retry_after{0};  // for kRateLimited
  // For kAllow with auth on: whether the client's credentials are still good (not revoked,
  // not expired). Long-lived SSE streams ask it as they go and end when it says no.
  std::function<bool()> still_valid;
};

// Decides about one request: authorization is the header value ("" when absent), peer the
// client's address. Called concurrently from connection threads.
using TokenCheck =
    std::function<AuthDecision(std::string_view authorization, std::string_view peer)>;

}  // namespace keyhold
