#pragma once
// PKCE (RFC 7636, S256 only, as OAuth 2.1 requires) and the random `state` value.
#include <string>

namespace keyhold::oauth {

struct Pkce {
  std::string verifier;   // 43 characters of base64url (32 random bytes)
  std::string challenge;  // base64url(SHA-256(verifier))
};

// A fresh verifier and its S256 challenge.
Pkce make_pkce();
// The S256 challenge of verifier.
std::string s256_challenge(const std::string& verifier);
// 32 random bytes, base64url: an unguessable state (or nonce) value.
std::string random_token();

}  // namespace keyhold::oauth
