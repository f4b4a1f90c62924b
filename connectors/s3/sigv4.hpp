// sigv4.hpp - AWS Signature Version 4, split into its published steps so each can be
// checked on its own against AWS's test suite (tests/s3/sigv4_test.cpp) and against the
// official JavaScript signer (tests/s3/sigv4_differential.test.mjs).
//
// Pure: no clock, no network, no secret. The signing key (the 32-byte HMAC chain over the
// secret access key, date, region, service and "aws4_request") comes from the caller; in
// the plugin the host derives it, so the secret access key never enters this process.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keyhold::s3 {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// One request to sign. Strings are raw (not percent-encoded): the signer encodes.
struct SignableRequest {
  std::string method;        // "GET", "PUT", ...
  std::string path;          // decoded path, e.g. "/bucket/a key/ሴ.txt"
  Pairs query;               // decoded names and values, in any order, duplicates allowed
  Pairs headers;             // names in any case; duplicates are joined with ',' in order
  std::string payload_hash;  // lower-case hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

struct CanonicalOptions {
  // S3 signs the path as given; every other service removes "." and ".." segments and
  // empty segments first (the test suite's normalize-path cases).
  bool normalize_path = false;
};

// The credential scope of one signature.
struct SigningScope {
  std::string amz_date;  // ISO 8601 basic, "YYYYMMDDTHHMMSSZ"
  std::string region;
  std::string service;
  std::string date() const { return amz_date.substr(0, 8); }
  std::string credential_scope() const;  // "YYYYMMDD/region/service/aws4_request"
};

// The canonical URI of a decoded path (normalized first when options say so).
std::string canonical_uri(std::string_view path, const CanonicalOptions& options);

// The canonical query string: each name and value encoded, sorted by name then value.
std::string canonical_query(const Pairs& query);

// Lower-cased header names, sorted, joined with ';' (what SignedHeaders names).
std::string signed_header_names(const Pairs& headers);

// The canonical request (step 1). *signed_headers receives the SignedHeaders list.
std::string canonical_request(const SignableRequest& request, const CanonicalOptions& options,
                              std::string* signed_headers = nullptr);

// The string to sign (step 2) for a canonical request.
std::string string_to_sign(const SigningScope& scope, std::string_view canonical_request);

// The signature (step 3): lower-case hex HMAC-SHA256 of the string to sign under the
// 32-byte signing key.
std::string signature(std::string_view signing_key, std::string_view string_to_sign);

// The Authorization header value for a signature.
std::string authorization_header(std::string_view access_key_id, const SigningScope& scope,
                                 std::string_view signed_headers, std::string_view signature);

// Lower-case hex SHA-256 of data.
std::string sha256_hex(std::string_view data);

// Lower-case hex of bytes.
std::string hex(std::string_view bytes);

// HMAC-SHA256 (raw 32 bytes). Used by tests and the signing CLI to derive a signing key
// from a test secret; the plugin itself never derives one.
std::string hmac_sha256(std::string_view key, std::string_view message);

// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
// For tests only; the plugin asks the host for this key.
std::string derive_signing_key_for_tests(std::string_view secret, const SigningScope& scope);

}  // namespace keyhold::s3
