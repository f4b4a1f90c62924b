#include "auth/token_verifier.hpp"

#include <sodium.h>

#include <spdlog/spdlog.h>

#include "auth/token_text.hpp"

namespace keyhold::auth {

TokenVerifier::TokenVerifier(vault::Vault vault)
    : vault_(std::move(vault)), snapshot_(std::make_shared<Snapshot>()) {}

vault::Status TokenVerifier::load() {
  std::lock_guard lock(mutex_);
  auto version = vault_.data_version();
  if (!version.is_ok()) return version.status();
  auto status = reload_locked();
  if (status.is_ok()) loaded_version_ = version.value();
  return status;
}

vault::Status TokenVerifier::reload_locked() {
  auto snapshot = std::make_shared<Snapshot>();
  auto tokens = list_tokens(vault_);
  if (!tokens.is_ok()) {
    snapshot_ = snapshot;  // fail closed: no token is valid while the records are unreadable
    return tokens.status();
  }
  for (auto& record : tokens.value()) {
    if (!snapshot->keys.contains(record.key_version)) {
      auto key = read_token_key(vault_, record.key_version);
      if (!key.is_ok()) {
        spdlog::error("HTTP token '{}' is unusable: {}", record.name, key.status().message());
        continue;
      }
      snapshot->keys.emplace(record.key_version, std::move(key).value());
    }
    snapshot->tokens.push_back(std::make_shared<const TokenRecord>(std::move(record)));
  }
  snapshot_ = snapshot;
  return vault::Status::ok();
}

void TokenVerifier::refresh_locked() {
  auto version = vault_.data_version();
  if (version.is_ok() && loaded_version_ == version.value()) return;
  auto status = reload_locked();
  if (!status.is_ok()) {
    spdlog::error("cannot read the HTTP tokens from the vault; refusing every token: {}",
                  status.message());
    loaded_version_.reset();  // retry on the next request
    return;
  }
  if (version.is_ok()) loaded_version_ = version.value();
}

TokenVerifier::Verdict TokenVerifier::verify(std::string_view credentials, vault::UnixSeconds now) {
  if (credentials.empty()) return {Outcome::kMissing, nullptr};
  if (!looks_like_token(credentials)) return {Outcome::kMalformed, nullptr};
  std::shared_ptr<const Snapshot> snapshot;
  {
    std::lock_guard lock(mutex_);
    refresh_locked();
    snapshot = snapshot_;
  }
  std::map<std::int64_t, TokenHash> presented;
  for (const auto& [version, key] : snapshot->keys)
    presented.emplace(version, hash_token(key, credentials));
  // Every record is compared (no early exit), each in constant time.
  std::shared_ptr<const TokenRecord> match;
  for (const auto& record : snapshot->tokens) {
    auto hash = presented.find(record->key_version);
    if (hash == presented.end()) continue;
    if (sodium_memcmp(hash->second.data(), record->hash.data(), kTokenHashBytes) == 0)
      match = record;
  }
  if (!match) return {Outcome::kUnknown, nullptr};
  if (match->revoked()) return {Outcome::kRevoked, match};
  if (match->expired(now)) return {Outcome::kExpired, match};
  return {Outcome::kValid, match};
}

bool TokenVerifier::is_active(const std::string& token_id, vault::UnixSeconds now) {
  std::shared_ptr<const Snapshot> snapshot;
  {
    std::lock_guard lock(mutex_);
    refresh_locked();
    snapshot = snapshot_;
  }
  for (const auto& record : snapshot->tokens)
    if (record->id == token_id) return !record->revoked() && !record->expired(now);
  return false;
}

vault::Result<std::int64_t> TokenVerifier::append_audit(const vault::AuditEntry& entry) {
  std::lock_guard lock(mutex_);
  auto seq = vault_.append_audit(entry);
  // Our own commit does not move data_version for this connection, so the cache stays.
  return seq;
}

}  // namespace keyhold::auth
