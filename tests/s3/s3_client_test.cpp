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
