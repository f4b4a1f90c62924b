// Pure helpers of the sql connector: bytea, PostgreSQL arrays and values, parameters,
// text tables and credential scrubbing (base64 and durations: tests/sdk/).
#include "value_format.hpp"
#include "pg_values.hpp"

#include <catch2/catch.hpp>

using keyhold::json;
using namespace keyhold::sql;

TEST_CASE("bytea hex output decodes to bytes", "[sql]") {
  CHECK(decode_bytea_hex("\\x48656c6c6f") == "Hello");
  CHECK(decode_bytea_hex("\\x") == "");
  CHECK_FALSE(decode_bytea_hex("Hello").has_value());
  CHECK_FALSE(decode_bytea_hex("\\x4").has_value());
}

TEST_CASE("PostgreSQL arrays become JSON arrays with typed elements", "[sql]") {
  CHECK(pg_text_to_json(1007, "{1,2,NULL}") == json::parse("[1,2,null]"));
  CHECK(pg_text_to_json(1009, "{a,\"b c\",\"NULL\",NULL,\"q\\\"x\"}") ==
        json::parse(R"(["a","b c","NULL",null,"q\"x"])"));
  CHECK(pg_text_to_json(1007, "{{1,2},{3,4}}") == json::parse("[[1,2],[3,4]]"));
  CHECK(pg_text_to_json(1000, "{t,f}") == json::parse("[true,false]"));
  CHECK(pg_text_to_json(1007, "{}") == json::array());
  CHECK(pg_text_to_json(1007, "[0:1]={5,6}") == json::parse("[5,6]"));
  CHECK(pg_text_to_json(1007, "{1,2") == "{1,2");  // malformed stays text
}

TEST_CASE("PostgreSQL scalars map to JSON by type", "[sql]") {
  CHECK(pg_text_to_json(23, "42") == 42);
  CHECK(pg_text_to_json(20, "9223372036854775807") == 9223372036854775807LL);
  CHECK(pg_text_to_json(701, "1.5") == 1.5);
  CHECK(pg_text_to_json(701, "NaN") == "NaN");
  CHECK(pg_text_to_json(1700, "3.14159265358979323846") == "3.14159265358979323846");
  CHECK(pg_text_to_json(16, "t") == true);
  CHECK(pg_text_to_json(3802, R"({"a": [1, 2]})") == json::parse(R"({"a":[1,2]})"));
  CHECK(pg_text_to_json(17, "\\x0102ff") == json{{"base64", "AQL/"}});
  CHECK(pg_text_to_json(1184, "2024-05-01 08:00:00+00") == "2024-05-01 08:00:00+00");
}

TEST_CASE("parameters become the text PostgreSQL parses", "[sql]") {
  CHECK(pg_param_text(nullptr, 0) == std::nullopt);
  CHECK(pg_param_text(true, 0) == "true");
  CHECK(pg_param_text(7, 0) == "7");
  CHECK(pg_param_text("x'y", 0) == "x'y");
  CHECK(pg_param_text(json{{"base64", "AQL/"}}, 0) == "\\x0102ff");
  CHECK(pg_param_text(json::parse(R"({"k":1})"), 0) == R"({"k":1})");
  CHECK_THROWS_AS(pg_param_text(json{{"base64", "!!"}}, 3), SqlError);
}

TEST_CASE("scrub_secret removes a password and a URL's password in every spelling", "[sql]") {
  CHECK(scrub_secret("auth failed for s3cret!", "s3cret!") == "auth failed for [REDACTED]");
  const std::string url = "postgresql://app:p%40ss@db.example:5432/shop";
  CHECK(scrub_secret("bad " + url, url) == "bad [REDACTED]");
  CHECK(scrub_secret("pw p%40ss or p@ss", url) == "pw [REDACTED] or [REDACTED]");
  CHECK(scrub_secret("nothing here", "") == "nothing here");
}

TEST_CASE("the text table aligns columns and says when row_limit cut it", "[sql]") {
  QueryResult r;
  r.columns = {{"id", "INTEGER"}, {"name", "TEXT"}};
  r.rows = json::parse(R"([[1,"Ada"],[22,null]])");
  CHECK(render_text_table(r, 500, 4096) == "id | name\n---+-----\n1  | Ada\n22 | NULL\n(2 rows)");
  r.truncated = true;
  r.truncated_by = Truncation::kRowLimit;
  CHECK(render_text_table(r, 2, 4096).find("only the first 2 (row_limit)") != std::string::npos);
  r.truncated_by = Truncation::kResultBytes;
  const std::string cut = render_text_table(r, 500, 4096);
  CHECK(cut.find("Truncated: the rows reached max_result_bytes (4096 bytes as JSON) after 2 rows; "
                 "the rest were not read.") != std::string::npos);
  CHECK(cut.find("row_limit") == std::string::npos);
  QueryResult blob;
  blob.columns = {{"b", ""}};
  blob.rows = json::array({json::array({json{{"base64", "AQL/"}}})});
  CHECK(render_text_table(blob, 5, 4096).find("<blob 3 bytes>") != std::string::npos);
}
