// The broker's signing primitives against published vectors: AWS's "Derive a signing key
// for Signature Version 4" examples, and RFC 4231's HMAC-SHA256 test cases.
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "secrets/signing.hpp"

namespace {

using keyhold::secrets::Aws4Scope;

std::span<const std::uint8_t> bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::string hex(const unsigned char (&mac)[keyhold::secrets::kMacBytes]) {
  std::string out;
  char pair[3];
  for (unsigned char b : mac) {
    std::snprintf(pair, sizeof pair, "%02x", b);
    out += pair;
  }
  return out;
}

std::string signing_key(std::string_view secret, Aws4Scope scope) {
  unsigned char mac[keyhold::secrets::kMacBytes];
  keyhold::secrets::aws4_signing_key(bytes(secret), scope, mac);
  return hex(mac);
}

constexpr std::string_view kAwsExampleSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

}  // namespace

TEST_CASE("aws4_signing_key matches AWS's published derivation examples") {
  CHECK(signing_key(kAwsExampleSecret, {"20150830", "us-east-1", "iam"}) ==
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  CHECK(signing_key(kAwsExampleSecret, {"20120215", "us-east-1", "iam"}) ==
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

TEST_CASE("aws4_signing_key hashes a secret longer than the HMAC block, as HMAC requires") {
  // 4 + 100 bytes exceeds SHA-256's 64-byte block: HMAC keys with SHA-256("AWS4" + secret).
  // Expected value from Python's hmac module (an independent implementation).
  CHECK(signing_key(std::string(100, 'x'), {"20240101", "eu-west-1", "s3"}) ==
        "7ba63a9ff3c4f8693d735471a5c95356ef7fb3710b46a506e00f0e1f10344fe9");
  // The boundary: exactly 64 bytes with the prefix is used as is, 65 is hashed; both
  // must differ from each other and be stable.
  CHECK(signing_key(std::string(60, 'k'), {"20240101", "eu-west-1", "s3"}) !=
        signing_key(std::string(61, 'k'), {"20240101", "eu-west-1", "s3"}));
}

TEST_CASE("hmac_sha256 matches RFC 4231") {
  unsigned char mac[keyhold::secrets::kMacBytes];
  // Test case 2: key "Jefe".
  keyhold::secrets::hmac_sha256(bytes("Jefe"), "what do ya want for nothing?", mac);
  CHECK(hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a 131-byte key (longer than the block) is hashed first.
  const std::string long_key(131, '\xaa');
  keyhold::secrets::hmac_sha256(bytes(long_key),
                                "Test Using Larger Than Block-Size Key - Hash Key First", mac);
  CHECK(hex(mac) == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST_CASE("parse_aws4_scope takes exactly the three string members") {
  auto scope = keyhold::secrets::parse_aws4_scope(
      R"({"date":"20150830","region":"us-east-1","service":"iam"})");
  REQUIRE(scope);
  CHECK(scope->date == "20150830");
  CHECK(scope->region == "us-east-1");
  CHECK(scope->service == "iam");
  for (const char* bad : {"", "null", "[]", R"({"date":"20150830","region":"us-east-1"})",
                          R"({"date":20150830,"region":"us-east-1","service":"iam"})",
                          R"({"date":"x","region":"y","service":null})", "{not json"})
    CHECK_FALSE(keyhold::secrets::parse_aws4_scope(bad));
}
