#include "auth/token_text.hpp"

#include <fnmatch.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace keyhold::auth {

namespace {

bool is_base64url(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

vault::SecretBuffer generate_token() {
  vault::SecretBuffer random(kTokenRandomBytes);
  randombytes_buf(random.data(), random.size());
  constexpr std::size_t encoded_capacity = sodium_base64_ENCODED_LEN(
      kTokenRandomBytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);  // includes the NUL
  vault::SecretBuffer token(kTokenPrefix.size() + encoded_capacity);
  std::memcpy(token.data(), kTokenPrefix.data(), kTokenPrefix.size());
  sodium_bin2base64(reinterpret_cast<char*>(token.data() + kTokenPrefix.size()), encoded_capacity,
                    random.data(), random.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  token.truncate(kTokenTextSize);
  return token;
}

bool looks_like_token(std::string_view text) noexcept {
  return text.size() == kTokenTextSize && text.starts_with(kTokenPrefix) &&
         std::all_of(text.begin() + kTokenPrefix.size(), text.end(), is_base64url);
}

std::optional<std::string> validate_token_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return "a token name has 1 to 64 characters";
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return "a token name may contain only letters, digits, '.', '_' and '-'";
  }
  if (name.front() == '.' || name.front() == '-')
    return "a token name may not start with '.' or '-'";
  return std::nullopt;
}

std::optional<std::string> validate_tool_glob(std::string_view glob) {
  if (glob.empty() || glob.size() > 128) return "a tool pattern has 1 to 128 characters";
  for (char c : glob)
    if (c <= ' ' || c > '~') return "a tool pattern may contain only visible ASCII characters";
  return std::nullopt;
}

bool tool_allowed_by(const std::vector<std::string>& globs, std::string_view tool) {
  if (globs.empty()) return true;
  const std::string name(tool);
  return std::any_of(globs.begin(), globs.end(), [&](const std::string& glob) {
    return ::fnmatch(glob.c_str(), name.c_str(), FNM_NOESCAPE) == 0;
  });
}

std::optional<std::string_view> bearer_credentials(std::string_view authorization) noexcept {
  constexpr std::string_view scheme = "bearer";
  if (authorization.size() <= scheme.size() || authorization[scheme.size()] != ' ')
    return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    const char c = authorization[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c) != scheme[i]) return std::nullopt;
  }
  std::string_view credentials = authorization.substr(scheme.size() + 1);
  while (!credentials.empty() && credentials.front() == ' ') credentials.remove_prefix(1);
  while (!credentials.empty() && credentials.back() == ' ') credentials.remove_suffix(1);
  return credentials;
}

}  // namespace keyhold::auth
