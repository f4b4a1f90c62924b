// rpc::parse_json (simdjson, copied into nlohmann) must return what nlohmann's own parser
// returns for every text: the same verdict, the same values, the same number types.
#include "protocol/json_parse.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "../support/same_json.hpp"
#include "protocol/json_rpc.hpp"

using keyhold::rpc::parse_json;
using nlohmann::json;

namespace {

constexpr std::size_t kDepth = 16;

json reference(const std::string& text) {
  if (keyhold::rpc::nesting_depth(text, kDepth) > kDepth) return json(json::value_t::discarded);
  return json::parse(text, nullptr, false);
}

void check_text(const std::string& text) {
  const json expected = reference(text);
  const json got = parse_json(text, kDepth);
  if (!keyhold::test::same_json(expected, got)) {
    INFO("text (as JSON) " << json(text).dump(-1, ' ', true, json::error_handler_t::replace)
                           << " expected "
                           << expected.dump(-1, ' ', false, json::error_handler_t::replace)
                           << " got " << got.dump(-1, ' ', false, json::error_handler_t::replace));
    CHECK(false);
  }
}

std::string nested(std::size_t depth, const std::string& inner) {
  return std::string(depth, '[') + inner + std::string(depth, ']');
}

}  // namespace

TEST_CASE("parse_json agrees with nlohmann on tricky texts", "[json_parse]") {
  const std::vector<std::string> texts = {
      "",
      " ",
      "null",
      "true",
      "false",
      "0",
      "-0",
      "-0.0",
      "0.0",
      "1e400",
      "-1e400",
      "1e-400",
      "4.9e-324",
      "1.7976931348623157e308",
      "18446744073709551615",
      "18446744073709551616",
      "-9223372036854775808",
      "-9223372036854775809",
      "9223372036854775807",
      "9223372036854775808",
      "123456789012345678901234567890",
      "1.5",
      "1E2",
      "1e+2",
      "-1e-2",
      "01",
      "1.",
      ".5",
      "+1",
      "0x10",
      "NaN",
      "Infinity",
      "-",
      "1 2",
      "[1,]",
      "{\"a\":1,}",
      "[1 2]",
      "{\"a\" 1}",
      "{a:1}",
      "'a'",
      "\"a",
      "\"\\u0000\"",
      "\"\\ud83d\\ude00\"",
      "\"\\ud83d\"",
      "\"\\ude00\"",
      "\"\\ud83d\\u0041\"",
      "\"\\ud83dx\"",
      "\"\\uDC00\\uD800\"",
      "\"\\u00e9\\u20ac\"",
      "\"\\x\"",
      "\"\\u12\"",
      "\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"",
      "\"tab\there\"",
      "\"\x01\"",
      "\"\x7f\"",
      "\"\xc3\xa9\"",
      "\"\xc3\"",
      "\"\xed\xa0\x80\"",
      "\"\xf4\x90\x80\x80\"",
      "\"\xc0\xaf\"",
      "\"\xff\"",
      "\xef\xbb\xbf{}",
      "\xef\xbb\xbf",
      "{} \xef\xbb\xbf",
      "\xc3\xa9",
      "{\"a\":1,\"a\":2}",
      "{\"b\":1,\"a\":{\"c\":[true,null]}}",
      " \t\r\n[ ] \n",
      "[]x",
      "{}}",
      "[[]",
      "{\"\":\"\"}",
      std::string("[1,\0]", 5),
      std::string("\"a\0b\"", 5),
      nested(kDepth - 1, "1"),
      nested(kDepth, "1"),
      nested(kDepth + 1, "1"),
      nested(kDepth, ""),
      nested(kDepth + 1, ""),
      nested(kDepth + 1, "\"]]]]\""),
      "{\"k\":" + nested(kDepth - 1, "") + "}",
      "{\"k\":" + nested(kDepth, "") + "}",
  };
  for (const std::string& text : texts) check_text(text);
}

TEST_CASE("parse_json agrees with nlohmann on generated and mutated texts", "[json_parse]") {
  std::mt19937_64 rng(11);
  const std::string pieces[] = {"{",    "}",    "[",     "]",        ",",
                                ":",    "\"",   "\\",    "\\u",      "d83d",
                                "dc00", "0",    "-",     "1e9",      ".5",
                                "true", "null", " ",     "\n",       "\xc3",
                                "\xa9", "\xff", "\"k\"", "\"v\\n\"", "12345678901234567890"};
  for (int i = 0; i < 30000; ++i) {
    std::string text;
    const int n = static_cast<int>(rng() % 14);
    for (int k = 0; k < n; ++k) text += pieces[rng() % std::size(pieces)];
    check_text(text);
    // a valid document, then a byte of it changed
    json doc = json::object();
    doc["s"] = std::string(rng() % 40, static_cast<char>('a' + rng() % 26));
    doc["n"] = static_cast<std::int64_t>(rng()) >> (rng() % 64);
    doc["f"] = static_cast<double>(static_cast<std::int64_t>(rng() % 100000)) / 7.0;
    doc["a"] = json::array({nullptr, true, "\xc3\xa9\t", json::object()});
    std::string valid = doc.dump();
    check_text(valid);
    valid[rng() % valid.size()] = pieces[rng() % std::size(pieces)][0];
    check_text(valid);
  }
}

TEST_CASE("parse_json reads a long document with the kept and a fresh parser alike",
          "[json_parse]") {
  const std::string blob(3u << 20, 'Q');
  const std::string big = "{\"blob\":\"" + blob + "\",\"n\":[1,2,3]}";
  const json value = parse_json(big, kDepth);
  REQUIRE(value.is_object());
  CHECK(value["blob"] == blob);
  CHECK(value["n"].size() == 3);
  const json small = parse_json("{\"x\":[1,{\"y\":\"z\"}]}", kDepth);
  CHECK(small["x"][1]["y"] == "z");
  CHECK(parse_json(nested(kDepth + 1, "1"), kDepth).is_discarded());
  // Past kFastParseMaxBytes nlohmann reads it alone: the same value, the same depth rule.
  const std::string huge = "[\"" + std::string(keyhold::rpc::kFastParseMaxBytes, 'x') + "\",1]";
  json fast;
  CHECK_FALSE(keyhold::rpc::try_parse_json_fast(huge, kDepth, &fast));
  CHECK(parse_json(huge, kDepth) == json::parse(huge));
  CHECK(parse_json("[" + huge + "," + nested(kDepth, "") + "]", kDepth).is_discarded());
  CHECK(parse_json(nested(kDepth, "1"), 64) == json::parse(nested(kDepth, "1")));
}

// parse_message counts the depth (nesting_depth) only when simdjson refused the text, so
// simdjson must refuse every document that nests deeper than its max_depth, counted as
// nesting_depth counts (each array or object one level). simdjson counts values instead
// (the root value is at depth 1), so it also refuses a document at the limit whose deepest
// array or object is not empty: nlohmann then reads it, with the same result.
TEST_CASE("try_parse_json_fast never takes a document nesting deeper than max_depth",
          "[json_parse]") {
  for (const std::size_t limit : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7},
                                  std::size_t{64}, keyhold::rpc::kMaxPluginJsonDepth}) {
    for (std::size_t depth = limit - 1; depth <= limit + 2; ++depth) {
      if (depth == 0) continue;
      // Arrays only, objects only, and the two by turns; at the bottom a scalar, a string
      // of brackets, or nothing (the deepest container empty).
      std::string arrays, objects, mixed, closing_arrays, closing_objects, closing_mixed;
      for (std::size_t i = 0; i < depth; ++i) {
        arrays += '[';
        closing_arrays += ']';
        objects += i + 1 < depth ? "{\"k\":" : "{";
        closing_objects += '}';
        const bool object = i % 2 == 0;
        mixed += object ? (i + 1 < depth ? "{\"k\":" : "{") : "[";
        closing_mixed.insert(0, object ? "}" : "]");
      }
      const std::string texts[] = {
          arrays + "1" + closing_arrays,
          arrays + closing_arrays,
          objects + "\"k\":\"[[{\"" + closing_objects,
          objects + closing_objects,
          mixed + (depth % 2 == 1 ? "\"k\":null" : "null") + closing_mixed,
          mixed + closing_mixed,
      };
      for (const std::string& text : texts) {
        INFO("limit " << limit << ", depth " << depth << ": " << text.substr(0, 48));
        REQUIRE(json::parse(text).is_structured());
        REQUIRE(keyhold::rpc::nesting_depth(text, 1000) == depth);
        json value;
        const bool taken = keyhold::rpc::try_parse_json_fast(text, limit, &value);
        if (depth > limit) CHECK_FALSE(taken);
        if (depth < limit) CHECK(taken);
        if (taken) CHECK(value == json::parse(text));
      }
    }
  }
}
