// The s3 connector's instance options and the allowlist checks run before any request.
#include "s3_options.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using keyhold::json;
using namespace keyhold::s3;

TEST_CASE("defaults: AWS endpoint of the region, virtual-hosted, read-only, 10 MiB cap", "[s3]") {
  const auto o = parse_options(json{{"buckets", {"docs"}}, {"region", "eu-west-1"}});
  CHECK(o.endpoint == "https://s3.eu-west-1.amazonaws.com");
  CHECK_FALSE(o.path_style);
  CHECK(o.read_only);
  CHECK(o.max_object_bytes == 10 * 1024 * 1024);
  CHECK(o.prefixes.empty());
}

TEST_CASE("get_pdf_text's budget: defaults and limits", "[s3]") {
  const auto o = parse_options(json{{"buckets", {"docs"}}});
  CHECK(o.pdf_timeout_ms == 30000);
  CHECK(o.pdf_cpu_seconds == 20);
  CHECK(o.pdf_memory_bytes == 512ull * 1024 * 1024);
  const auto set = parse_options(json{{"buckets", {"docs"}},
                                      {"pdf_timeout_ms", 2000},
                                      {"pdf_cpu_seconds", 1},
                                      {"pdf_memory_bytes", 64 * 1024 * 1024}});
  CHECK(set.pdf_timeout_ms == 2000);
  CHECK(set.pdf_cpu_seconds == 1);
  CHECK(set.pdf_memory_bytes == 64 * 1024 * 1024);
  CHECK_THROWS_WITH(parse_options(json{{"buckets", {"docs"}}, {"pdf_cpu_seconds", 0}}),
                    Catch::Contains("option pdf_cpu_seconds must be an integer"));
  CHECK_THROWS_WITH(parse_options(json{{"buckets", {"docs"}}, {"pdf_memory_bytes", 1024}}),
                    Catch::Contains("option pdf_memory_bytes must be an integer"));
}

TEST_CASE("options are checked with messages that name them", "[s3]") {
  CHECK_THROWS_WITH(parse_options(json::object()), Catch::Contains("option buckets is required"));
  CHECK_THROWS_WITH(parse_options(json{{"buckets", {"Bad_Name"}}}),
                    Catch::Contains("invalid bucket name"));
  CHECK_THROWS_WITH(parse_options(json{{"buckets", {"docs"}}, {"endpoint", "ftp://x"}}),
                    Catch::Contains("option endpoint must start with http://"));
  CHECK_THROWS_WITH(parse_options(json{{"buckets", {"docs"}}, {"endpoint", "http://h/path"}}),
                    Catch::Contains("without a path"));
  CHECK_THROWS_WITH(parse_options(json{{"buckets", {"docs"}}, {"max_object_bytes", 0}}),
                    Catch::Contains("option max_object_bytes must be an integer"));
  CHECK_THROWS_WITH(parse_options(json{{"buckets", {"docs"}}, {"colour", "red"}}),
                    Catch::Contains("unknown option colour"));
  CHECK(parse_options(json{{"buckets", "docs"}, {"endpoint", "http://127.0.0.1:9000/"}}).endpoint ==
        "http://127.0.0.1:9000");
}

TEST_CASE("buckets and prefixes outside the allowlists are refused", "[s3]") {
  const auto o =
      parse_options(json{{"buckets", {"docs", "reports"}}, {"prefixes", {"public/", "shared/"}}});
  CHECK(check_bucket(o, "docs").empty());
  CHECK_THAT(check_bucket(o, "secrets"),
             Catch::Contains("not on this instance's allowlist (allowed: docs, reports)"));
  CHECK(check_key(o, "docs", "public/a.txt").empty());
  CHECK_THAT(check_key(o, "docs", "private/a.txt"),
             Catch::Contains("outside the allowed prefixes"));
  CHECK_THAT(check_key(o, "other", "public/a.txt"),
             Catch::Contains("not on this instance's allowlist"));
  CHECK(check_list_prefix(o, "docs", "shared/x").empty());
  CHECK_THAT(check_list_prefix(o, "docs", ""),
             Catch::Contains("list under one of: public/, shared/"));
  const auto open = parse_options(json{{"buckets", {"docs"}}});
  CHECK(check_list_prefix(open, "docs", "").empty());
  CHECK(check_key(open, "docs", "anything").empty());
}

TEST_CASE("'.' and '..' segments, '//' and control bytes in keys and prefixes are refused",
          "[s3]") {
  const auto o = parse_options(json{{"buckets", {"docs"}}, {"prefixes", {"public/"}}});
  const auto open = parse_options(json{{"buckets", {"docs"}}});
  for (const std::string& key :
       std::vector<std::string>{"public/../private/a.txt", "public/..", "public/./a", "public/.",
                                "../other/a", "./a", "public//a", "/public/a", "public/a\r\nb",
                                std::string("public/a\0b", 10), "public/a\x7f"}) {
    INFO(key);
    CHECK_THAT(check_key(o, "docs", key), Catch::StartsWith("refused: an object key may not"));
    CHECK_THAT(check_key(open, "docs", key), Catch::StartsWith("refused: an object key may not"));
  }
  CHECK_THAT(check_key(o, "docs", "public/../private/a"), Catch::Contains("'..' path segment"));
  CHECK_THAT(check_key(o, "docs", "public/./a"), Catch::Contains("'.' path segment"));
  CHECK_THAT(check_key(o, "docs", "public//a"), Catch::Contains("'//'"));
  CHECK_THAT(check_key(o, "docs", "public/a\nb"), Catch::Contains("control characters"));
  for (const std::string& prefix :
       std::vector<std::string>{"public/../", "public/./", "public//", "public/\t"}) {
    INFO(prefix);
    CHECK_THAT(check_list_prefix(o, "docs", prefix), Catch::StartsWith("refused: a prefix"));
    CHECK_THAT(check_list_prefix(open, "docs", prefix), Catch::StartsWith("refused: a prefix"));
  }
  // Dots inside a segment and a trailing '/' are ordinary keys.
  CHECK(check_key(o, "docs", "public/a..b/.hidden/...txt").empty());
  CHECK(check_key(o, "docs", "public/dir/").empty());
  CHECK(check_list_prefix(o, "docs", "public/x.").empty());
}
