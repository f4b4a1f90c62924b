// s3_options.hpp - the instance options of the s3 connector, read and checked once in
// create(), and the allowlist checks every tool runs before any network call. Pure;
// tests/s3/s3_options_test.cpp covers it.
#pragma once

#include <keyhold/plugin.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace keyhold::s3 {

struct S3Options {
  std::string endpoint;  // scheme://host[:port], no trailing slash
  std::string region = "us-east-1";
  bool path_style = false;            // http://host/bucket/key instead of http://bucket.host/key
  std::vector<std::string> buckets;   // allowlist, never empty
  std::vector<std::string> prefixes;  // key prefix allowlist; empty = every key
  std::uint64_t max_object_bytes = 10 * 1024 * 1024;
  bool read_only = true;
  int max_pages_per_call = 20;  // get_pdf_text cap
  // get_pdf_text's budget (pdf_child.hpp): wall clock, CPU time and address space of the
  // extraction child.
  long long pdf_timeout_ms = 30000;
  int pdf_cpu_seconds = 20;
  std::uint64_t pdf_memory_bytes = 512ull * 1024 * 1024;
  long connect_timeout_ms = 5000;  // libcurl CURLOPT_CONNECTTIMEOUT_MS
  long timeout_ms = 60000;         // libcurl CURLOPT_TIMEOUT_MS, per attempt
  int max_retries = 3;             // retries after the first attempt
  long retry_base_ms = 100;        // backoff base (doubles per retry, full jitter)
  bool resources = true;           // offer s3://<bucket>/{+key} templates
};

// Reads the options JSON. Throws std::invalid_argument naming the option and what is
// accepted.
S3Options parse_options(const json& options);

// Empty when bucket is on the allowlist; otherwise the refusal message.
std::string check_bucket(const S3Options& options, std::string_view bucket);

// Empty when text (what: "key" or "prefix") holds no '.' or '..' path segment, no empty
// segment ('//' or a leading '/') and no control byte: such keys would be resolved by the
// server (or a proxy) to a path outside the allowed bucket and prefixes. Else the refusal.
std::string check_path_shape(std::string_view what, std::string_view text);

// Refused as check_path_shape says; else empty when key lies under an allowed prefix (or
// no prefix allowlist is set).
std::string check_key(const S3Options& options, std::string_view bucket, std::string_view key);

// Refused as check_path_shape says; else empty when a listing with this prefix stays
// inside the prefix allowlist.
std::string check_list_prefix(const S3Options& options, std::string_view bucket,
                              std::string_view prefix);

}  // namespace keyhold::s3
