#include "oauth/token_manager.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>

namespace keyhold::oauth {

namespace {

const vault::AuditContext kServeActor{"host:serve", ""};

// What the user does to get new tokens of provider (for subject's own record when set).
std::string relogin(const std::string& provider, const std::string& subject = {}) {
  return "run `keyhold oauth login " + provider + (subject.empty() ? "" : " --client " + subject) +
         "`";
}

// "oauth provider 'NAME'", and " for client 'SUBJECT'" for a per-user record.
std::string describe(const std::string& provider, const std::string& subject) {
  return "oauth provider '" + provider + "'" +
         (subject.empty() ? std::string() : " for client '" + subject + "'");
}

}  // namespace

TokenManager::TokenManager(OAuthProviders providers, std::shared_ptr<secrets::SharedVault> vault,
                           Clock now)
    : providers_(std::move(providers)), vault_(std::move(vault)), now_(std::move(now)) {
  if (!now_) now_ = [] { return static_cast<std::int64_t>(std::time(nullptr)); };
}

bool TokenManager::knows(std::string_view provider) const {
  return providers_.find(std::string(provider)) != providers_.end();
}

bool TokenManager::per_user(std::string_view provider) const {
  auto found = providers_.find(std::string(provider));
  return found != providers_.end() && found->second.per_user;
}

TokenManager::ProviderState* TokenManager::state_of(std::string_view provider,
                                                    std::string_view subject) {
  if (!knows(provider)) return nullptr;
  MutexLock lock(states_mutex_);
  auto key = std::make_pair(std::string(provider), std::string(subject));
  auto found = states_.find(key);
  if (found == states_.end())
    found = states_.emplace(key, std::make_unique<ProviderState>(std::string(subject))).first;
  return found->second.get();
}

void TokenManager::retire_record(ProviderState& state) {
  state.retired.push_back(std::move(state.record->access_token));
  if (!state.record->refresh_token.empty())
    state.retired.push_back(std::move(state.record->refresh_token));
  while (state.retired.size() > kRetiredKept) state.retired.erase(state.retired.begin());
}

Status TokenManager::load(const OAuthProviderConfig& provider, ProviderState& state,
                          std::int64_t data_version) {
  std::int64_t seen = data_version;
  if (seen < 0) {
    auto version = vault_->with([](vault::Vault& v) { return v.data_version(); });
    seen = version.is_ok() ? version.value() : -2;
  }
  if (state.record && seen == state.data_version && seen >= 0) return Status();
  auto bytes = vault_->with(
      [&](vault::Vault& v) { return v.read_secret(record_name(provider.name, state.subject)); });
  if (!bytes.is_ok()) {
    if (bytes.status().code() == ErrorCode::kNotFound)
      return not_found(describe(provider.name, state.subject) +
                       " has no tokens in the vault: " + relogin(provider.name, state.subject));
    return bytes.status();
  }
  auto record = TokenRecord::from_secret(bytes.value().bytes(), provider.name);
  if (!record.is_ok()) return record.status();
  if (state.record && !state.record->access_token.equals(record.value().access_token)) {
    // Another process wrote a new record (a login): the old tokens stay known.
    retire_record(state);
    generation_.fetch_add(1);
  }
  state.record = std::move(record).value();
  state.data_version = seen;
  return Status();
}

void TokenManager::audit(const std::string& record, const std::string& outcome,
                         const std::string& detail) {
  vault::AuditEntry entry;
  entry.actor = kServeActor.actor;
  entry.action = "oauth.refresh";
  entry.secret = record;
  entry.outcome = outcome;
  entry.detail = detail;
  auto appended = vault_->with([&](vault::Vault& v) { return v.append_audit(entry); });
  if (!appended.is_ok())
    spdlog::warn("cannot audit the refresh of {}: {}", record, appended.status().message());
}

Status TokenManager::refresh(const OAuthProviderConfig& provider, ProviderState& state,
                             std::int64_t now) {
  const bool client_credentials = state.record->grant == "client_credentials";
  if (state.record->refresh_token.empty() && !client_credentials)
    return not_found("oauth provider '" + provider.name + "' issued no refresh token");
  if (!state.client) {
    auto endpoints = resolve_endpoints(provider);
    if (!endpoints.is_ok()) return endpoints.status();
    auto secret = read_client_secret(provider, vault_.get());
    if (!secret.is_ok()) return secret.status();
    state.client.emplace(provider, std::move(endpoints).value(), std::move(secret).value());
  }
  // A client credentials token is renewed by running the grant again (RFC 6749 4.4.3: no
  // refresh token is issued for it).
  auto next = client_credentials ? state.client->client_credentials(now)
                                 : state.client->refresh(*state.record, now);
  if (!next.is_ok()) return next.status();
  next.value().last_refresh = now;
  // The new record (with a rotated refresh token) is committed before anyone sees the new
  // access token: if the process dies before the commit, the vault still holds the old
  // refresh token (see README: rotation and crashes).
  auto secret = next.value().to_secret();
  auto stored = vault_->with([&](vault::Vault& v) {
    return v.put_secret(record_name(provider.name, state.subject), secret.bytes(),
                        vault::PutOptions{}, kServeActor, "oauth.refresh");
  });
  if (!stored.is_ok()) return stored.status();
  state.retired.push_back(std::move(state.record->access_token));
  if (!state.record->refresh_token.empty() &&
      !state.record->refresh_token.equals(next.value().refresh_token))
    state.retired.push_back(std::move(state.record->refresh_token));
  while (state.retired.size() > kRetiredKept) state.retired.erase(state.retired.begin());
  state.record = std::move(next).value();
  generation_.fetch_add(1);
  return Status();
}

Status TokenManager::refresh_recorded(const OAuthProviderConfig& provider, ProviderState& state,
                                      std::int64_t now, std::string_view cause) {
  auto refreshed = refresh(provider, state, now);
  if (!refreshed.is_ok()) {
    state.next_attempt = now + kRetryAfterFailureSeconds;
    state.last_failure = refreshed.message();
    spdlog::warn("{}: refresh{} failed: {}", describe(provider.name, state.subject), cause,
                 refreshed.message());
    audit(record_name(provider.name, state.subject), "error", refreshed.message());
    return refreshed;
  }
  state.last_failure.clear();
  spdlog::info("{}: access token refreshed{} (expires in {} s)",
               describe(provider.name, state.subject), cause,
               state.record->expires_at ? state.record->expires_at - now : 0);
  return Status();
}

Result<vault::SecretBuffer> TokenManager::access_token(std::string_view name,
                                                       std::int64_t data_version,
                                                       std::string_view subject) {
  if (!knows(name)) return not_found("no [oauth." + std::string(name) + "] in the config");
  const OAuthProviderConfig& provider = providers_.at(std::string(name));
  if (provider.per_user && subject.empty())
    return Status(ErrorCode::kPermissionDenied,
                  "oauth provider '" + provider.name +
                      "' is per_user: its tokens belong to each authenticated client, and this "
                      "call has none (serve with --http and client tokens)");
  ProviderState& state = *state_of(name, provider.per_user ? subject : std::string_view());
  MutexLock lock(state.mutex);
  if (auto loaded = load(provider, state, data_version); !loaded.is_ok()) return loaded;
  const std::int64_t now = now_();
  const std::int64_t expires_at = state.record->expires_at;
  const bool fresh = expires_at == 0 || now < expires_at - provider.refresh_margin_seconds;
  if (!fresh && now >= state.next_attempt && refresh_recorded(provider, state, now, "").is_ok())
    return vault::SecretBuffer::copy_of(state.record->access_token.bytes());
  if (expires_at != 0 && now >= expires_at)
    return unavailable(
        "the access token of " + describe(provider.name, state.subject) + " expired" +
        (state.last_failure.empty() ? std::string()
                                    : " and the refresh failed (" + state.last_failure + ")") +
        ": " + relogin(provider.name, state.subject));
  return vault::SecretBuffer::copy_of(state.record->access_token.bytes());
}

Status TokenManager::store_login(std::string_view name, std::string_view subject,
                                 TokenRecord record) {
  if (!per_user(name) || subject.empty())
    return invalid_argument("oauth provider '" + std::string(name) +
                            "' is not per_user, or no client was named");
  const OAuthProviderConfig& provider = providers_.at(std::string(name));
  ProviderState& state = *state_of(name, subject);
  MutexLock lock(state.mutex);
  auto secret = record.to_secret();
  auto stored = vault_->with([&](vault::Vault& v) {
    vault::PutOptions options;
    options.description = "OAuth tokens of provider " + provider.name + " for client " +
                          state.subject + " (keyhold serve)";
    return v.put_secret(record_name(provider.name, state.subject), secret.bytes(), options,
                        kServeActor, "oauth.login");
  });
  if (!stored.is_ok()) return stored.status();
  if (state.record) retire_record(state);
  state.record = std::move(record);
  state.data_version = -1;  // read again at the next use that sees the vault move
  state.next_attempt = 0;
  state.last_failure.clear();
  generation_.fetch_add(1);
  return Status();
}

Status TokenManager::renew_refused(std::string_view name, const vault::SecretBuffer& refused) {
  if (!knows(name)) return not_found("no [oauth." + std::string(name) + "] in the config");
  const OAuthProviderConfig& provider = providers_.at(std::string(name));
  // Only mounted servers renew (the config refuses per_user providers there).
  if (provider.per_user)
    return invalid_argument("oauth provider '" + provider.name + "' is per_user");
  ProviderState& state = *state_of(name, {});
  MutexLock lock(state.mutex);  // single flight: a concurrent renewal finishes first
  if (auto loaded = load(provider, state); !loaded.is_ok()) return loaded;
  if (!state.record->access_token.equals(refused)) return Status();  // renewed already
  const std::int64_t now = now_();
  // An upstream that refuses every token must not make keyhold refresh in a loop: a token
  // younger than this is not refreshed because of a 401.
  const std::int64_t age = now - std::max(state.record->obtained_at, state.record->last_refresh);
  if (age < kMinRenewAgeSeconds)
    return unavailable("it was issued " + std::to_string(age) +
                       " s ago, so keyhold does not refresh it again (check what the server "
                       "expects, or " +
                       relogin(provider.name) + ")");
  if (now < state.next_attempt)
    return unavailable(
        "its last refresh failed" +
        (state.last_failure.empty() ? std::string() : " (" + state.last_failure + ")") + ": " +
        relogin(provider.name));
  if (auto refreshed = refresh_recorded(provider, state, now, " after an upstream 401");
      !refreshed.is_ok())
    return unavailable("the refresh failed (" + refreshed.message() +
                       "): " + relogin(provider.name));
  return Status();
}

std::vector<vault::SecretBuffer> TokenManager::known_tokens(std::string_view name) {
  std::vector<vault::SecretBuffer> out;
  if (!knows(name)) return out;
  const OAuthProviderConfig& provider = providers_.at(std::string(name));
  std::vector<ProviderState*> states;
  {
    MutexLock lock(states_mutex_);
    for (auto& [key, state] : states_)
      if (key.first == name) states.push_back(state.get());
  }
  if (!provider.per_user && states.empty()) states.push_back(state_of(name, {}));
  for (ProviderState* state : states) add_known_tokens(provider, *state, out);
  return out;
}

void TokenManager::add_known_tokens(const OAuthProviderConfig& provider, ProviderState& state,
                                    std::vector<vault::SecretBuffer>& out) {
  const std::string record = record_name(provider.name, state.subject);
  {
    MutexLock lock(state.mutex);
    for (const auto& token : state.retired)
      out.push_back(vault::SecretBuffer::copy_of(token.bytes()));
    if (!load(provider, state).is_ok()) return;
    out.push_back(vault::SecretBuffer::copy_of(state.record->access_token.bytes()));
    if (!state.record->refresh_token.empty())
      out.push_back(vault::SecretBuffer::copy_of(state.record->refresh_token.bytes()));
  }
  // The previous vault version (a refresh by another host) may still be in use somewhere.
  auto previous = vault_->with([&](vault::Vault& v) -> Result<vault::SecretBuffer> {
    auto versions = v.list_versions(record);
    if (!versions.is_ok()) return versions.status();
    for (const auto& version : versions.value())
      if (version.stage == vault::Stage::kPrevious) return v.read_secret(record, version.version);
    return not_found("no previous version");
  });
  if (previous.is_ok()) {
    auto parsed = TokenRecord::from_secret(previous.value().bytes(), provider.name);
    if (parsed.is_ok()) {
      out.push_back(std::move(parsed.value().access_token));
      if (!parsed.value().refresh_token.empty())
        out.push_back(std::move(parsed.value().refresh_token));
    }
  }
}

}  // namespace keyhold::oauth
