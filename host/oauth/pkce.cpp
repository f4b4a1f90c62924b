#include "oauth/pkce.hpp"

#include <sodium.h>

#include "oauth/url_text.hpp"

namespace keyhold::oauth {

std::string random_token() {
  unsigned char bytes[32];
  randombytes_buf(bytes, sizeof bytes);
  std::string out = base64url(bytes);
  sodium_memzero(bytes, sizeof bytes);
  return out;
}

std::string s256_challenge(const std::string& verifier) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(verifier.data()),
                     verifier.size());
  return base64url(digest);
}

Pkce make_pkce() {
  Pkce pkce;
  pkce.verifier = random_token();
  pkce.challenge = s256_challenge(pkce.verifier);
  return pkce;
}

}  // namespace keyhold::oauth
