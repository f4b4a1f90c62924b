#include "auth/token_store.hpp"

#include <sodium.h>

#include <nlohmann/json.hpp>

#include "auth/token_text.hpp"

namespace keyhold::auth {

namespace {

using nlohmann::json;
using vault::ErrorCode;
using vault::Result;
using vault::Status;

constexpr int kRecordFormat = 1;

std::string to_hex(std::span<const std::uint8_t> bytes) {
  std::string hex(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), bytes.data(), bytes.size());
  hex.pop_back();
  return hex;
}

std::string random_id() {
  std::array<std::uint8_t, 12> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  return to_hex(bytes);
}

json record_json(const TokenRecord& r) {
  json out = {{"format", kRecordFormat},
              {"id", r.id},
              {"tools", r.tools},
              {"created_at", r.created_at},
              {"expires_at", r.expires_at ? json(*r.expires_at) : json()},
              {"revoked_at", r.revoked_at ? json(*r.revoked_at) : json()},
              {"key_version", r.key_version},
              {"hash", to_hex(r.hash)}};
  return out;
}

// Parses a stored record; nothing when it is not a record this build understands.
std::optional<TokenRecord> parse_record(std::string_view name, std::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("format", 0) != kRecordFormat) return std::nullopt;
  try {
    TokenRecord r;
    r.name = std::string(name);
    r.id = j.at("id").get<std::string>();
    r.tools = j.at("tools").get<std::vector<std::string>>();
    r.created_at = j.at("created_at").get<vault::UnixSeconds>();
    if (!j.at("expires_at").is_null()) r.expires_at = j.at("expires_at").get<vault::UnixSeconds>();
    if (!j.at("revoked_at").is_null()) r.revoked_at = j.at("revoked_at").get<vault::UnixSeconds>();
    r.key_version = j.at("key_version").get<std::int64_t>();
    const std::string hex = j.at("hash").get<std::string>();
    std::size_t written = 0;
    if (sodium_hex2bin(r.hash.data(), r.hash.size(), hex.data(), hex.size(), nullptr, &written,
                       nullptr) != 0 ||
        written != r.hash.size())
      return std::nullopt;
    return r;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

Result<TokenRecord> read_record(vault::Vault& v, std::string_view token_name) {
  const std::string secret = token_secret_name(token_name);
  auto value = v.read_secret(secret);
  if (!value.is_ok()) return value.status();
  auto record = parse_record(token_name, value->view());
  if (!record)
    return Status(ErrorCode::kIntegrity, "token record " + secret +
                                             " is not a keyhold token record; revoke or "
                                             "re-create the token");
  return std::move(*record);
}

Status store_record(vault::Vault& v, const TokenRecord& r, const vault::AuditContext& who,
                    std::string_view action) {
  const std::string text = record_json(r).dump();
  vault::PutOptions options;
  options.description = "keyhold HTTP client token (keyhold token)";
  auto stored =
      v.put_secret(token_secret_name(r.name),
                   std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()),
                   options, who, action);
  return stored.is_ok() ? Status::ok() : stored.status();
}

// The current hash key and its version, created on first use.
Result<std::pair<vault::SecretBuffer, std::int64_t>> current_token_key(
    vault::Vault& v, const vault::AuditContext& who) {
  auto info = v.find_secret(kTokenKeySecret);
  if (info.is_ok() && info->current_version) {
    auto key = read_token_key(v, *info->current_version);
    if (!key.is_ok()) return key.status();
    return std::pair(std::move(key).value(), *info->current_version);
  }
  if (!info.is_ok() && info.status().code() != ErrorCode::kNotFound) return info.status();
  vault::SecretBuffer key(kTokenKeyBytes);
  randombytes_buf(key.data(), key.size());
  vault::PutOptions options;
  options.description = "key of the keyed hashes of keyhold HTTP client tokens";
  auto version = v.put_secret(kTokenKeySecret, key.bytes(), options, who, "token.key");
  if (!version.is_ok()) return version.status();
  return std::pair(std::move(key), version.value());
}

}  // namespace

const char* TokenRecord::state(vault::UnixSeconds now) const noexcept {
  if (revoked()) return "revoked";
  if (expired(now)) return "expired";
  return "active";
}

std::string token_secret_name(std::string_view token_name) {
  return std::string(kTokenSecretPrefix) + std::string(token_name);
}

TokenHash hash_token(const vault::SecretBuffer& key, std::string_view token) {
  TokenHash out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), key.data(), key.size());
  return out;
}

Result<vault::SecretBuffer> read_token_key(vault::Vault& v, std::int64_t version) {
  auto key = v.read_secret(kTokenKeySecret, version);
  if (!key.is_ok()) return key.status();
  if (key->size() != kTokenKeyBytes)
    return Status(ErrorCode::kIntegrity, std::string(kTokenKeySecret) + " version " +
                                             std::to_string(version) + " is not a 32-byte key");
  return key;
}

Result<vault::SecretBuffer> create_token(vault::Vault& v, const NewToken& request,
                                         vault::UnixSeconds now, const vault::AuditContext& who) {
  if (auto why = validate_token_name(request.name))
    return Status(ErrorCode::kInvalidArgument, "bad token name '" + request.name + "': " + *why);
  for (const auto& glob : request.tools)
    if (auto why = validate_tool_glob(glob))
      return Status(ErrorCode::kInvalidArgument, "bad tool pattern '" + glob + "': " + *why);
  if (request.lifetime_seconds && *request.lifetime_seconds <= 0)
    return Status(ErrorCode::kInvalidArgument, "a token lifetime must be positive");

  auto existing = read_record(v, request.name);
  if (existing.is_ok() && !existing->revoked() && !existing->expired(now))
    return Status(ErrorCode::kAlreadyExists,
                  "an active token named '" + request.name +
                      "' exists; revoke it first with `keyhold token revoke " + request.name + "`");
  if (!existing.is_ok() && existing.status().code() != ErrorCode::kNotFound &&
      existing.status().code() != ErrorCode::kIntegrity)
    return existing.status();

  auto key = current_token_key(v, who);
  if (!key.is_ok()) return key.status();
  vault::SecretBuffer token = generate_token();
  TokenRecord record;
  record.name = request.name;
  record.id = random_id();
  record.tools = request.tools;
  record.created_at = now;
  if (request.lifetime_seconds) record.expires_at = now + *request.lifetime_seconds;
  record.key_version = key->second;
  record.hash = hash_token(key->first, token.view());
  if (auto stored = store_record(v, record, who, "token.create"); !stored.is_ok()) return stored;
  return token;
}

Status revoke_token(vault::Vault& v, std::string_view name, vault::UnixSeconds now,
                    const vault::AuditContext& who) {
  if (auto why = validate_token_name(name))
    return Status(ErrorCode::kInvalidArgument,
                  "bad token name '" + std::string(name) + "': " + *why);
  auto record = read_record(v, name);
  if (!record.is_ok()) {
    if (record.status().code() == ErrorCode::kNotFound)
      return Status(ErrorCode::kNotFound,
                    "no token named '" + std::string(name) + "'; `keyhold token list` shows them");
    return record.status();
  }
  if (record->revoked()) return Status::ok();
  record->revoked_at = now;
  return store_record(v, record.value(), who, "token.revoke");
}

Result<std::vector<TokenRecord>> list_tokens(vault::Vault& v) {
  auto secrets = v.list_secrets();
  if (!secrets.is_ok()) return secrets.status();
  std::vector<TokenRecord> out;
  for (const auto& info : secrets.value()) {
    if (!info.name.starts_with(kTokenSecretPrefix)) continue;
    auto record = read_record(v, std::string_view(info.name).substr(kTokenSecretPrefix.size()));
    if (!record.is_ok()) return record.status();
    out.push_back(std::move(record).value());
  }
  return out;
}

}  // namespace keyhold::auth
