#include "s3_xml.hpp"

#include <keyhold/sdk/utf8.hpp>

#include <pugixml.hpp>

#include <stdexcept>

namespace keyhold::s3 {

namespace {
pugi::xml_document load(std::string_view xml, const char* what) {
  pugi::xml_document doc;
  const auto result = doc.load_buffer(xml.data(), xml.size());
  if (!result)
    throw std::runtime_error(std::string("the server's ") + what +
                             " answer is not valid XML: " + result.description());
  return doc;
}
// A child's text, its invalid UTF-8 (a key may hold any bytes) replaced by U+FFFD.
std::string text(const pugi::xml_node& node, const char* child) {
  return sdk::to_valid_utf8(node.child(child).text().as_string());
}
}  // namespace

json parse_list_buckets(std::string_view xml) {
  const auto doc = load(xml, "ListBuckets");
  const auto root = doc.child("ListAllMyBucketsResult");
  if (!root)
    throw std::runtime_error("the server's ListBuckets answer has no ListAllMyBucketsResult");
  json buckets = json::array();
  for (const auto& b : root.child("Buckets").children("Bucket"))
    buckets.push_back({{"name", text(b, "Name")}, {"creation_date", text(b, "CreationDate")}});
  return {{"buckets", buckets}};
}

json parse_list_objects_v2(std::string_view xml) {
  const auto doc = load(xml, "ListObjectsV2");
  const auto root = doc.child("ListBucketResult");
  if (!root) throw std::runtime_error("the server's ListObjectsV2 answer has no ListBucketResult");
  json objects = json::array();
  for (const auto& c : root.children("Contents"))
    objects.push_back({{"key", text(c, "Key")},
                       {"size", c.child("Size").text().as_ullong()},
                       {"last_modified", text(c, "LastModified")},
                       {"etag", text(c, "ETag")}});
  json prefixes = json::array();
  for (const auto& p : root.children("CommonPrefixes")) prefixes.push_back(text(p, "Prefix"));
  const bool truncated = std::string_view(root.child("IsTruncated").text().as_string()) == "true";
  const std::string token = text(root, "NextContinuationToken");
  return {{"objects", objects},
          {"common_prefixes", prefixes},
          {"is_truncated", truncated},
          {"next_continuation_token", truncated && !token.empty() ? json(token) : json(nullptr)},
          {"key_count", objects.size() + prefixes.size()}};
}

S3ErrorBody parse_error(std::string_view xml) {
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) return {};
  const auto root = doc.child("Error");
  if (!root) return {};
  return {text(root, "Code"), text(root, "Message")};
}

}  // namespace keyhold::s3
