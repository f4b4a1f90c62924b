#pragma once
// HttpAuthenticator: the bearer-token check of `keyhold serve --http`. For each request it
// verifies the token against the vault (TokenVerifier), applies the token's rate limit
// and, when the request is refused, queues an audit entry (actor "http"; the token's name
// when it was recognised, never the token text).
#include <string_view>

#include "auth/rate_limiter.hpp"
#include "auth/token_verifier.hpp"
#include "secrets/audit_queue.hpp"
#include "transport/http_client_auth.hpp"

namespace keyhold::auth {

class HttpAuthenticator {
 public:
  HttpAuthenticator(vault::Vault vault, RateLimit limit);

  // Reads the token records once, so a broken vault fails at startup.
  vault::Status load() { return verifier_.load(); }

  // Thread-safe. See TokenCheck.
  AuthDecision authenticate(std::string_view authorization, std::string_view peer);

  // authenticate() as a TokenCheck; *this must outlive every use.
  TokenCheck token_check() {
    return [this](std::string_view authorization, std::string_view peer) {
      return authenticate(authorization, peer);
    };
  }

 private:
  // Refused requests waiting to be audited at most; a flood beyond is counted instead.
  static constexpr std::size_t kAuditCapacity = 4096;
  static vault::AuditEntry overflow_summary();
  void write_audit(std::span<const vault::AuditEntry> entries);
  void audit_refusal(const char* reason, const TokenRecord* token, std::string_view peer);

  TokenVerifier verifier_;
  RateLimiter limiter_;
  secrets::AuditQueue audit_;  // last: destroyed first, flushing into verifier_
};

}  // namespace keyhold::auth
