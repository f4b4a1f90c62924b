// s3_xml.hpp - reads the XML bodies S3 answers with (ListAllMyBuckets, ListObjectsV2,
// Error) into JSON for tool results. Pure; tests/s3/s3_xml_test.cpp covers it.
#pragma once

#include <keyhold/plugin.hpp>

#include <string>
#include <string_view>

namespace keyhold::s3 {

// {"buckets":[{"name","creation_date"}]}. Throws std::runtime_error on malformed XML.
json parse_list_buckets(std::string_view xml);

// {"objects":[{"key","size","last_modified","etag"}],"common_prefixes":[...],
//  "is_truncated":bool,"next_continuation_token":string|null,"key_count":int}.
json parse_list_objects_v2(std::string_view xml);

// The Code and Message of an S3 <Error> body; empty strings when it is not one.
struct S3ErrorBody {
  std::string code;
  std::string message;
};
S3ErrorBody parse_error(std::string_view xml);

}  // namespace keyhold::s3
