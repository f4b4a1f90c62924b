// S3's XML answers read into tool results.
#include "s3_xml.hpp"
#include <keyhold/sdk/utf8.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace keyhold::s3;

TEST_CASE("ListObjectsV2: objects, prefixes and the continuation token", "[s3]") {
  const char* xml = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>docs</Name><Prefix>a/</Prefix><KeyCount>2</KeyCount><MaxKeys>1</MaxKeys>
  <IsTruncated>true</IsTruncated><NextContinuationToken>tok&amp;1</NextContinuationToken>
  <Contents><Key>a/x &amp; y.txt</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>
    <ETag>"abc"</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents>
  <CommonPrefixes><Prefix>a/sub/</Prefix></CommonPrefixes>
</ListBucketResult>)";
  const auto j = parse_list_objects_v2(xml);
  REQUIRE(j["objects"].size() == 1);
  CHECK(j["objects"][0]["key"] == "a/x & y.txt");
  CHECK(j["objects"][0]["size"] == 42);
  CHECK(j["objects"][0]["etag"] == "\"abc\"");
  CHECK(j["common_prefixes"][0] == "a/sub/");
  CHECK(j["is_truncated"] == true);
  CHECK(j["next_continuation_token"] == "tok&1");
}

TEST_CASE("ListBuckets and Error bodies", "[s3]") {
  const auto b = parse_list_buckets(
      "<ListAllMyBucketsResult><Buckets><Bucket><Name>docs</Name><CreationDate>d</CreationDate>"
      "</Bucket></Buckets></ListAllMyBucketsResult>");
  CHECK(b["buckets"][0]["name"] == "docs");
  const auto e = parse_error("<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>");
  CHECK(e.code == "NoSuchKey");
  CHECK(e.message == "gone");
  CHECK(parse_error("not xml").code.empty());
  CHECK_THROWS_WITH(parse_list_objects_v2("<oops"), Catch::Contains("not valid XML"));
}

TEST_CASE("XML strings with invalid UTF-8 are repaired so they can be dumped as JSON", "[s3]") {
  const std::string xml =
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k\xC0\xAF"
      "\xED\xA0\x80.txt</Key><Size>1</Size></Contents><CommonPrefixes><Prefix>p"
      "\xF5\x80\x80\x80/</Prefix></CommonPrefixes></ListBucketResult>";
  const auto j = parse_list_objects_v2(xml);
  CHECK_NOTHROW(j.dump());
  CHECK(j["objects"][0]["key"] ==
        "k\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD.txt");
  CHECK(keyhold::sdk::is_valid_utf8(j["common_prefixes"][0].get<std::string>()));
}
