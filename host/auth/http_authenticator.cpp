#include "auth/http_authenticator.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

#include "auth/token_text.hpp"

namespace keyhold::auth {

namespace {

vault::UnixSeconds unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

HttpAuthenticator::HttpAuthenticator(vault::Vault vault, RateLimit limit)
    : verifier_(std::move(vault)),
      limiter_(limit),
      audit_([this](std::span<const vault::AuditEntry> entries) { write_audit(entries); },
             kAuditCapacity, overflow_summary()) {}

vault::AuditEntry HttpAuthenticator::overflow_summary() {
  vault::AuditEntry summary;
  summary.actor = "http";
  summary.action = "http.auth";
  summary.outcome = "denied";
  summary.detail = "authentication failures";
  return summary;
}

void HttpAuthenticator::write_audit(std::span<const vault::AuditEntry> entries) {
  for (const auto& entry : entries) {
    auto written = verifier_.append_audit(entry);
    if (!written.is_ok())
      spdlog::error("cannot audit a refused HTTP request: {}", written.status().message());
  }
}

AuthDecision HttpAuthenticator::authenticate(std::string_view authorization,
                                             std::string_view peer) {
  AuthDecision decision;
  const auto credentials = bearer_credentials(authorization);
  if (!authorization.empty() && !credentials) {
    audit_refusal("Authorization header is not a Bearer token", nullptr, peer);
    return decision;
  }
  const auto verdict = verifier_.verify(credentials.value_or(""), unix_now());
  using Outcome = TokenVerifier::Outcome;
  switch (verdict.outcome) {
    case Outcome::kValid:
      break;
    case Outcome::kMissing:
      audit_refusal("no bearer token", nullptr, peer);
      return decision;
    case Outcome::kMalformed:
      audit_refusal("malformed bearer token", nullptr, peer);
      return decision;
    case Outcome::kUnknown:
      audit_refusal("unknown bearer token", nullptr, peer);
      return decision;
    case Outcome::kExpired:
      audit_refusal("expired token", verdict.token.get(), peer);
      return decision;
    case Outcome::kRevoked:
      audit_refusal("revoked token", verdict.token.get(), peer);
      return decision;
  }
  const auto& token = verdict.token;
  decision.client_id = token->id;
  decision.client_name = token->name;
  if (!limiter_.try_acquire(token->id, RateLimiter::Clock::now(), &decision.retry_after)) {
    decision.kind = AuthDecision::Kind::kRateLimited;
    return decision;
  }
  decision.kind = AuthDecision::Kind::kAllow;
  decision.still_valid = [this, id = token->id] { return verifier_.is_active(id, unix_now()); };
  if (!token->tools.empty())
    decision.tool_allowed = [token](std::string_view tool) {
      return tool_allowed_by(token->tools, tool);
    };
  return decision;
}

void HttpAuthenticator::audit_refusal(const char* reason, const TokenRecord* token,
                                      std::string_view peer) {
  vault::AuditEntry entry;
  entry.actor = "http";
  entry.action = "http.auth";
  entry.outcome = "denied";
  if (token != nullptr) entry.secret = token_secret_name(token->name);
  entry.detail = std::string(reason) +
                 (token != nullptr ? " '" + token->name + "'" : std::string()) + " from " +
                 std::string(peer);
  audit_.push(std::move(entry));
}

}  // namespace keyhold::auth
