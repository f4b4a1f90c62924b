#pragma once
// The text forms of HTTP client tokens: the token itself ("kh_" + base64url of 32 random
// bytes), token names, tool allowlist globs and the Authorization header that carries a
// token. Nothing here touches the vault.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keyhold/vault/secret_buffer.hpp"

namespace keyhold::auth {

inline constexpr std::string_view kTokenPrefix = "kh_";
inline constexpr std::size_t kTokenRandomBytes = 32;
// "kh_" + 43 base64url characters (32 bytes, no padding).
inline constexpr std::size_t kTokenTextSize = 3 + 43;

// A new token from the OS CSPRNG (libsodium), in guarded memory.
vault::SecretBuffer generate_token();

// True when text has the shape of a keyhold token. Says nothing about its validity.
bool looks_like_token(std::string_view text) noexcept;

// Token names: [A-Za-z0-9._-], 1..64 bytes, not starting with '.' or '-'. Returns an
// explanation when invalid.
std::optional<std::string> validate_token_name(std::string_view name);

// Tool allowlist globs: 1..128 visible ASCII characters; '*' and '?' are wildcards.
std::optional<std::string> validate_tool_glob(std::string_view glob);

// True when tool matches one of globs; an empty list allows every tool.
bool tool_allowed_by(const std::vector<std::string>& globs, std::string_view tool);

// The credentials of an "Authorization: Bearer <token>" header value (scheme matched
// case-insensitively, RFC 7235), or nothing when the header is absent or another scheme.
std::optional<std::string_view> bearer_credentials(std::string_view authorization) noexcept;

}  // namespace keyhold::auth
