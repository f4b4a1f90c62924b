#pragma once
// HTTP client tokens kept in the vault. The vault has no notion of tokens, so each one is
// an ordinary secret under a reserved name, `keyhold/http-tokens/NAME`, whose value is a
// small JSON record: a keyed BLAKE2b hash of the token (never the token), its tool
// allowlist, creation and expiry times, and a revocation time once revoked. The hash key
// is itself a vault secret, `keyhold/http-token-key` (32 random bytes, created with the
// first token); each record names the key version it was hashed with, so two processes
// that race to create the key never invalidate each other's tokens.
//
// Revoking keeps the record (marked revoked) so a later attempt with that token can be
// recognised and audited by name; creating a token of the same name replaces it.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "keyhold/vault/vault.hpp"

namespace keyhold::auth {

inline constexpr std::string_view kTokenSecretPrefix = "keyhold/http-tokens/";
inline constexpr std::string_view kTokenKeySecret = "keyhold/http-token-key";
inline constexpr std::size_t kTokenHashBytes = 32;
inline constexpr std::size_t kTokenKeyBytes = 32;

using TokenHash = std::array<std::uint8_t, kTokenHashBytes>;

struct TokenRecord {
  std::string name;
  std::string id;                  // random; an HTTP session is bound to it
  std::vector<std::string> tools;  // allowlist globs; empty allows every tool
  vault::UnixSeconds created_at = 0;
  std::optional<vault::UnixSeconds> expires_at;
  std::optional<vault::UnixSeconds> revoked_at;
  std::int64_t key_version = 0;  // version of kTokenKeySecret the hash was made with
  TokenHash hash{};

  bool expired(vault::UnixSeconds now) const noexcept { return expires_at && now >= *expires_at; }
  bool revoked() const noexcept { return revoked_at.has_value(); }
  // "active", "expired" or "revoked".
  const char* state(vault::UnixSeconds now) const noexcept;
};

struct NewToken {
  std::string name;
  std::vector<std::string> tools;
  std::optional<std::int64_t> lifetime_seconds;  // none: never expires
};

// `keyhold/http-tokens/NAME`.
std::string token_secret_name(std::string_view token_name);

// The keyed hash of a token text. key must hold kTokenKeyBytes bytes.
TokenHash hash_token(const vault::SecretBuffer& key, std::string_view token);

// Creates a token and stores its record; returns the token text, which exists nowhere
// else afterwards. kInvalidArgument for a bad name or glob, kAlreadyExists when an active
// token of that name exists (revoke it first). Audited by the vault as "token.create".
vault::Result<vault::SecretBuffer> create_token(vault::Vault& v, const NewToken& request,
                                                vault::UnixSeconds now,
                                                const vault::AuditContext& who);

// Marks the token revoked; kNotFound when there is no such token. Revoking a revoked
// token changes nothing and is OK. Audited as "token.revoke".
vault::Status revoke_token(vault::Vault& v, std::string_view name, vault::UnixSeconds now,
                           const vault::AuditContext& who);

// Every token record, ordered by name. A record that does not decrypt or parse makes the
// whole call fail (kIntegrity names it).
vault::Result<std::vector<TokenRecord>> list_tokens(vault::Vault& v);

// One version of the hash key, in guarded memory.
vault::Result<vault::SecretBuffer> read_token_key(vault::Vault& v, std::int64_t version);

}  // namespace keyhold::auth
