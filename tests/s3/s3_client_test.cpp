// Where the client sends a request: path-style and virtual-hosted URLs, the key encoded
// exactly as it is signed, the query in canonical order.
#include "s3_client.hpp"

#include <catch2/catch.hpp>

using keyhold::json;
using namespace keyhold::s3;

TEST_CASE("path-style URLs put the bucket in the path; keys are encoded as signed", "[s3]") {
  const S3Client client(parse_options(
      json{{"buckets", {"docs"}}, {"endpoint", "http://127.0.0.1:9000"}, {"path_style", true}}));
  S3Request r;
  r.bucket = "docs";
  r.key = "a b/ü+=&?.txt";
  r.query = {{"x-id", "GetObject"}, {"a", "1 2"}};
  std::string host;
  CHECK(client.url_for(r, &host) ==
        "http://127.0.0.1:9000/docs/a%20b/%C3%BC%2B%3D%26%3F.txt?a=1%202&x-id=GetObject");
  CHECK(host == "127.0.0.1:9000");
  S3Request service;
  CHECK(client.url_for(service) == "http://127.0.0.1:9000/");
}

TEST_CASE("virtual-hosted URLs put the bucket in the host name", "[s3]") {
  const S3Client client(parse_options(json{{"buckets", {"docs"}}, {"region", "eu-west-1"}}));
  S3Request r;
  r.bucket = "docs";
  r.key = "x/./y";
  std::string host;
  CHECK(client.url_for(r, &host) == "https://docs.s3.eu-west-1.amazonaws.com/x/./y");
  CHECK(host == "docs.s3.eu-west-1.amazonaws.com");
}

TEST_CASE("headers with CR, LF or other control bytes are refused before signing", "[s3]") {
  S3Client client(parse_options(json{{"buckets", {"docs"}},
                                     {"endpoint", "http://127.0.0.1:9"},
                                     {"path_style", true},
                                     {"max_retries", 0}}));
  CallCredentials creds;
  creds.access_key_id = "AKIDEXAMPLE";
  bool signed_once = false;
  creds.signing_key = [&](const SigningScope&) -> std::string {
    signed_once = true;
    throw std::runtime_error("signing was asked");
  };
  S3Request r;
  r.method = "PUT";
  r.bucket = "docs";
  r.key = "a.txt";
  r.body = "x";
  SECTION("CR/LF in a value (a second request on a kept-alive connection)") {
    r.headers = {{"content-type", "text/plain\r\n\r\nGET /other/secret HTTP/1.1\r\nHost: x"}};
    REQUIRE_THROWS_AS(client.send(r, creds), S3RequestError);
    REQUIRE_THROWS_WITH(client.send(r, creds), Catch::Matchers::Contains("content-type") &&
                                                   Catch::Matchers::Contains("control character"));
  }
  SECTION("a bare LF, a NUL, DEL") {
    for (const std::string& v :
         {std::string("a\nb"), std::string("a\0b", 3), std::string("a\x7f")}) {
      r.headers = {{"content-type", v}};
      REQUIRE_THROWS_AS(client.send(r, creds), S3RequestError);
    }
  }
  SECTION("a control byte in a header name") {
    r.headers = {{"x-amz-meta-a\r\nx-evil", "1"}};
    REQUIRE_THROWS_AS(client.send(r, creds), S3RequestError);
  }
  SECTION("a session token with CR/LF; the message does not echo it") {
    creds.session_token = "FAKESESSION\r\nx-evil: 1";
    REQUIRE_THROWS_WITH(client.send(r, creds), !Catch::Matchers::Contains("FAKESESSION"));
    REQUIRE_THROWS_AS(client.send(r, creds), S3RequestError);
  }
  CHECK_FALSE(signed_once);
}
