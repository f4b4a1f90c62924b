// RFC 6570 template matching for resources/read routing.
#include <catch2/catch.hpp>

#include "protocol/uri_template.hpp"

using keyhold::template_matches;

TEST_CASE("template_matches lets reserved {+var} and fragment {#var} span '/'") {
  CHECK(template_matches("s3://{bucket}/{+key}", "s3://docs/reports/2026/q3.pdf"));
  CHECK_FALSE(template_matches("s3://{bucket}/{key}", "s3://docs/reports/2026/q3.pdf"));
  CHECK_FALSE(template_matches("s3://{bucket}/{+key}", "s3://docs/"));
  CHECK(template_matches("file://{+path}.txt", "file://a/b/c.txt"));
  CHECK(template_matches("doc://x{#section}", "doc://x#a/b"));
  CHECK_FALSE(template_matches("doc://x{#section}", "doc://xa/b"));
}

TEST_CASE("template_matches follows RFC 6570 simple variables") {
  CHECK(template_matches("test://template/{id}/data", "test://template/42/data"));
  CHECK_FALSE(template_matches("test://template/{id}/data", "test://template//data"));
  CHECK_FALSE(template_matches("test://template/{id}/data", "test://template/4/2/data"));
  CHECK_FALSE(template_matches("test://template/{id}/data", "test://template/42/dat"));
  CHECK(template_matches("s3://{bucket}/{key}", "s3://b/k"));
}
