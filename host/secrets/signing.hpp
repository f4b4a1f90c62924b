#pragma once
// The signatures the handle broker computes with a secret that never leaves the host:
// HMAC-SHA256 of caller data, and the AWS Signature Version 4 signing key (the secret
// access key stays here; only the derived key, valid for one day, region and service,
// is handed out). Pure functions over bytes; every intermediate key is zeroed.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace keyhold::secrets {

inline constexpr std::size_t kMacBytes = 32;

// HMAC-SHA256(key, message) into out.
void hmac_sha256(std::span<const std::uint8_t> key, std::string_view message,
                 unsigned char (&out)[kMacBytes]);

// The scope of a SigV4 signing key, as a plugin asks for it:
// {"date":"YYYYMMDD","region":"...","service":"..."}.
struct Aws4Scope {
  std::string date;
  std::string region;
  std::string service;
};
// nullopt unless data is a JSON object with those three string members.
std::optional<Aws4Scope> parse_aws4_scope(std::string_view data);

// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
// "aws4_request"), as AWS's "Derive a signing key for Signature Version 4" defines it.
void aws4_signing_key(std::span<const std::uint8_t> secret, const Aws4Scope& scope,
                      unsigned char (&out)[kMacBytes]);

}  // namespace keyhold::secrets
