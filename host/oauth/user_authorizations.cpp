#include "oauth/user_authorizations.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>

#include "oauth/loopback_redirect.hpp"
#include "oauth/pkce.hpp"
#include "oauth/token_client.hpp"
#include "oauth/url_text.hpp"

namespace keyhold::oauth {

void PendingAuthorizations::drop_expired(std::int64_t now) {
  std::erase_if(pending_, [now](const PendingAuthorization& p) { return p.expires_at <= now; });
}

void PendingAuthorizations::add(PendingAuthorization pending, std::int64_t now) {
  MutexLock lock(mutex_);
  drop_expired(now);
  std::size_t held = 0;
  for (const auto& p : pending_) held += p.client_id == pending.client_id ? 1 : 0;
  if (held >= kMaxPerClient) {
    auto oldest = std::find_if(
        pending_.begin(), pending_.end(),
        [&](const PendingAuthorization& p) { return p.client_id == pending.client_id; });
    pending_.erase(oldest);
  }
  pending_.push_back(std::move(pending));
}

std::optional<PendingAuthorization> PendingAuthorizations::take(const std::string& state,
                                                                std::int64_t now) {
  MutexLock lock(mutex_);
  drop_expired(now);
  auto found = pending_.end();
  // Every pending state is compared (constant time each), so the time taken does not
  // tell which one matched.
  for (auto it = pending_.begin(); it != pending_.end(); ++it)
    if (same_secret_text(it->state, state)) found = it;
  if (found == pending_.end()) return std::nullopt;
  PendingAuthorization taken = std::move(*found);
  pending_.erase(found);
  return taken;
}

std::size_t PendingAuthorizations::size() {
  MutexLock lock(mutex_);
  return pending_.size();
}

UserAuthorizations::UserAuthorizations(OAuthProviders providers,
                                       std::shared_ptr<TokenManager> tokens,
                                       std::shared_ptr<secrets::SharedVault> vault, Clock now)
    : providers_(std::move(providers)),
      tokens_(std::move(tokens)),
      vault_(std::move(vault)),
      now_(std::move(now)) {
  if (!now_) now_ = [] { return static_cast<std::int64_t>(std::time(nullptr)); };
}

void UserAuthorizations::set_redirect_uri(std::string uri) {
  MutexLock lock(mutex_);
  redirect_uri_ = std::move(uri);
}

Result<StartedAuthorization> UserAuthorizations::begin(const std::string& name,
                                                       const std::string& client_id,
                                                       const std::string& client_name) {
  auto configured = providers_.find(name);
  if (configured == providers_.end() || !configured->second.per_user || client_name.empty())
    return invalid_argument("oauth provider '" + name + "' is not per_user, or no client");
  const OAuthProviderConfig& provider = configured->second;
  PendingAuthorization pending;
  {
    MutexLock lock(mutex_);
    pending.redirect_uri = redirect_uri_;
  }
  if (pending.redirect_uri.empty())
    return unavailable("keyhold's HTTP listener has no /oauth/callback address yet");
  auto endpoints = resolve_endpoints(provider);
  if (!endpoints.is_ok()) return endpoints.status();
  if (endpoints.value().authorization_endpoint.empty())
    return invalid_argument("oauth provider '" + name + "' has no authorization endpoint");
  const Pkce pkce = make_pkce();
  pending.provider = name;
  pending.client_id = client_id;
  pending.client_name = client_name;
  pending.state = random_token();
  pending.verifier = WipedString(pkce.verifier);
  pending.elicitation_id = random_token();
  pending.endpoints = std::move(endpoints).value();
  const std::int64_t now = now_();
  pending.expires_at = now + provider.login_timeout_seconds;
  const TokenClient client(provider, pending.endpoints, vault::SecretBuffer());
  StartedAuthorization started{
      pending.elicitation_id,
      client.authorization_url(pending.redirect_uri, pending.state, pkce.challenge)};
  spdlog::info("oauth provider '{}': client '{}' was asked to authorize (expires in {} s)", name,
               client_name, provider.login_timeout_seconds);
  pending_.add(std::move(pending), now);
  return started;
}

Result<CompletedAuthorization> UserAuthorizations::complete(std::string_view query_text) {
  auto query = parse_query(query_text);
  if (!query) return Status(ErrorCode::kPermissionDenied, "its query string is malformed");
  struct WipeQuery {
    std::map<std::string, std::string>& q;
    ~WipeQuery() {
      for (auto& [k, v] : q) sodium_memzero(v.data(), v.size());
    }
  } wipe_query{*query};
  auto state = query->find("state");
  auto pending = pending_.take(state == query->end() ? std::string() : state->second, now_());
  if (!pending)
    return Status(ErrorCode::kPermissionDenied,
                  "its state is unknown, expired or already used (start again from your MCP "
                  "client)");
  const ExpectedCallback expected{
      pending->state, pending->endpoints.issuer,
      pending->endpoints.iss_parameter_supported && !pending->endpoints.issuer.empty()};
  auto response = check_authorization_response(*query, expected);
  if (!response.is_ok()) return response.status();
  const OAuthProviderConfig& provider = providers_.at(pending->provider);
  auto secret = read_client_secret(provider, vault_.get());
  if (!secret.is_ok()) return secret.status();
  TokenClient client(provider, pending->endpoints, std::move(secret).value());
  auto record = client.exchange_code(response.value().code.text(), pending->redirect_uri,
                                     pending->verifier.text(), now_());
  if (!record.is_ok()) return record.status();
  if (auto stored =
          tokens_->store_login(pending->provider, pending->client_name, std::move(record).value());
      !stored.is_ok())
    return stored;
  spdlog::info("oauth provider '{}': client '{}' authorized; tokens stored", pending->provider,
               pending->client_name);
  return CompletedAuthorization{pending->provider, pending->client_id, pending->client_name,
                                pending->elicitation_id};
}

}  // namespace keyhold::oauth
