#include "s3_options.hpp"

#include <keyhold/sdk/options.hpp>

#include <algorithm>
#include <set>
#include <stdexcept>

namespace keyhold::s3 {

namespace {
std::vector<std::string> get_strings(const json& options, const char* key, bool allow_empty_item) {
  std::vector<std::string> out;
  if (!options.contains(key)) return out;
  const json& v = options[key];
  if (v.is_string()) {  // one name is accepted as a list of one
    out.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    for (const auto& item : v) {
      if (!item.is_string()) throw sdk::bad_option(key, "must be an array of strings");
      out.push_back(item.get<std::string>());
    }
  } else {
    throw sdk::bad_option(key, "must be an array of strings");
  }
  for (const auto& s : out)
    if (s.empty() && !allow_empty_item)
      throw sdk::bad_option(key, "must not contain an empty string");
  return out;
}

// S3 bucket naming rules (the subset that matters for safety: no '/', no '..', 3-63).
bool valid_bucket_name(const std::string& name) {
  if (name.size() < 3 || name.size() > 63) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  return name.find("..") == std::string::npos && name.front() != '.' && name.front() != '-';
}
}  // namespace

S3Options parse_options(const json& options) {
  if (!options.is_object()) throw std::invalid_argument("options must be a table");
  static const std::set<std::string> known = {
      "endpoint",           "region",           "path_style",      "buckets",
      "prefixes",           "max_object_bytes", "read_only",       "max_pages_per_call",
      "connect_timeout_ms", "timeout_ms",       "max_retries",     "retry_base_ms",
      "resources",          "pdf_timeout_ms",   "pdf_cpu_seconds", "pdf_memory_bytes"};
  for (const auto& [key, _] : options.items())
    if (!known.contains(key))
      throw std::invalid_argument(
          "unknown option " + key +
          " (the s3 connector knows: endpoint, region, path_style, buckets, prefixes, "
          "max_object_bytes, read_only, max_pages_per_call, connect_timeout_ms, timeout_ms, "
          "max_retries, retry_base_ms, resources, pdf_timeout_ms, pdf_cpu_seconds, "
          "pdf_memory_bytes)");
  S3Options out;
  out.region = sdk::string_option(options, "region", "us-east-1");
  if (out.region.empty() || out.region.find('/') != std::string::npos)
    throw sdk::bad_option("region", "must be a region name such as \"us-east-1\"");
  out.endpoint =
      sdk::string_option(options, "endpoint", "https://s3." + out.region + ".amazonaws.com");
  if (!out.endpoint.starts_with("http://") && !out.endpoint.starts_with("https://"))
    throw sdk::bad_option(
        "endpoint",
        "must start with http:// or https:// (e.g. \"https://s3.us-east-1.amazonaws.com\")");
  while (out.endpoint.ends_with("/")) out.endpoint.pop_back();
  const std::string after_scheme = out.endpoint.substr(out.endpoint.find("//") + 2);
  if (after_scheme.empty() || after_scheme.find('/') != std::string::npos ||
      after_scheme.find('?') != std::string::npos)
    throw sdk::bad_option("endpoint", "must be scheme://host[:port] without a path");
  out.path_style = sdk::bool_option(options, "path_style", false);
  out.buckets = get_strings(options, "buckets", false);
  if (out.buckets.empty())
    throw sdk::bad_option("buckets",
                          "is required: the allowlist of bucket names this instance may read");
  for (const auto& b : out.buckets)
    if (!valid_bucket_name(b))
      throw sdk::bad_option("buckets", "has an invalid bucket name \"" + b +
                                           "\" (3-63 characters: a-z, 0-9, '-' and '.')");
  out.prefixes = get_strings(options, "prefixes", false);
  out.max_object_bytes = static_cast<std::uint64_t>(
      sdk::integer_option(options, "max_object_bytes", 10 * 1024 * 1024, 1, 1LL << 32));
  out.read_only = sdk::bool_option(options, "read_only", true);
  out.max_pages_per_call =
      static_cast<int>(sdk::integer_option(options, "max_pages_per_call", 20, 1, 1000));
  out.pdf_timeout_ms = sdk::integer_option(options, "pdf_timeout_ms", 30000, 100, 3600000);
  out.pdf_cpu_seconds =
      static_cast<int>(sdk::integer_option(options, "pdf_cpu_seconds", 20, 1, 3600));
  out.pdf_memory_bytes = static_cast<std::uint64_t>(sdk::integer_option(
      options, "pdf_memory_bytes", 512LL * 1024 * 1024, 16LL * 1024 * 1024, 1LL << 40));
  out.connect_timeout_ms =
      static_cast<long>(sdk::integer_option(options, "connect_timeout_ms", 5000, 1, 600000));
  out.timeout_ms = static_cast<long>(sdk::integer_option(options, "timeout_ms", 60000, 1, 3600000));
  out.max_retries = static_cast<int>(sdk::integer_option(options, "max_retries", 3, 0, 10));
  out.retry_base_ms =
      static_cast<long>(sdk::integer_option(options, "retry_base_ms", 100, 1, 60000));
  out.resources = sdk::bool_option(options, "resources", true);
  return out;
}

std::string check_bucket(const S3Options& options, std::string_view bucket) {
  if (std::find(options.buckets.begin(), options.buckets.end(), bucket) != options.buckets.end())
    return {};
  std::string allowed;
  for (const auto& b : options.buckets) allowed += (allowed.empty() ? "" : ", ") + b;
  return "bucket \"" + std::string(bucket) +
         "\" is not on this instance's allowlist (allowed: " + allowed +
         "); ask an administrator to add it to the buckets option";
}

std::string check_path_shape(std::string_view what, std::string_view text) {
  const std::string quoted = what == "key" ? "an object key" : "a prefix";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f)
      return "refused: " + quoted + " may not hold control characters (bytes below 0x20 or 0x7f)";
  }
  if (text.find("//") != std::string_view::npos || text.starts_with("/"))
    return "refused: " + quoted +
           " may not hold an empty path segment ('//' or a leading '/'): it would not stay "
           "inside the allowed bucket and prefixes";
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('/', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view segment = text.substr(start, end - start);
    if (segment == "." || segment == "..")
      return "refused: " + quoted + " may not hold a '" + std::string(segment) +
             "' path segment: it would not stay inside the allowed bucket and prefixes";
    start = end + 1;
  }
  return {};
}

std::string check_key(const S3Options& options, std::string_view bucket, std::string_view key) {
  if (std::string refusal = check_bucket(options, bucket); !refusal.empty()) return refusal;
  if (key.empty()) return "an object key is required";
  if (std::string refusal = check_path_shape("key", key); !refusal.empty()) return refusal;
  if (options.prefixes.empty()) return {};
  for (const auto& p : options.prefixes)
    if (key.starts_with(p)) return {};
  return "key \"" + std::string(key) + "\" is outside the allowed prefixes of this instance";
}

std::string check_list_prefix(const S3Options& options, std::string_view bucket,
                              std::string_view prefix) {
  if (std::string refusal = check_bucket(options, bucket); !refusal.empty()) return refusal;
  if (std::string refusal = check_path_shape("prefix", prefix); !refusal.empty()) return refusal;
  if (options.prefixes.empty()) return {};
  for (const auto& p : options.prefixes)
    if (prefix.starts_with(p)) return {};
  std::string allowed;
  for (const auto& p : options.prefixes) allowed += (allowed.empty() ? "" : ", ") + p;
  return "prefix \"" + std::string(prefix) +
         "\" is outside the allowed prefixes of this instance (list under one of: " + allowed + ")";
}

}  // namespace keyhold::s3
