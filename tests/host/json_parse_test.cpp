// rpc::parse_json (simdjson, copied into nlohmann) must return what nlohmann's own parser
// returns for every text: the same verdict, the same values, the same number types.
#include "protocol/json_parse.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
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

namespace {

// What plain_response must agree with: nlohmann's reading of the whole message.
void check_response(const std::string& text) {
  const auto got = keyhold::rpc::plain_response(text, kDepth);
  const json whole = reference(text);
  if (!got) return;
  INFO("text (as JSON) " << json(text).dump(-1, ' ', true, json::error_handler_t::replace));
  REQUIRE_FALSE(whole.is_discarded());
  REQUIRE(whole.is_object());
  CHECK(whole.size() == 3);
  CHECK(whole.value("jsonrpc", json()) == "2.0");
  REQUIRE(whole.contains("id"));
  CHECK(whole["id"].is_number_integer());
  CHECK(whole["id"].get<std::int64_t>() == got->id);
  REQUIRE(whole.contains("result"));
  CHECK(whole["result"].is_object());
  CHECK(keyhold::test::same_json(whole["result"], json::parse(got->result)));
  CHECK(keyhold::rpc::is_json_object_text(got->result, kDepth));
}

}  // namespace

TEST_CASE("plain_response finds the result text of a plain response, and only of one",
          "[json_parse]") {
  using keyhold::rpc::plain_response;
  const std::string result =
      R"({"content":[{"type":"text","text":"a \"}\" {[ \\ \u00e9"}],"n":-1.5e3})";
  for (const std::string& text :
       {R"({"jsonrpc":"2.0","id":7,"result":)" + result + "}",
        R"({"result":)" + result + R"(,"id":7,"jsonrpc":"2.0"})",
        " {\t\"id\" : 7 ,\r\n\"result\" :\n" + result + " , \"jsonrpc\":\"2.0\" } "}) {
    INFO(text);
    auto got = plain_response(text, kDepth);
    REQUIRE(got);
    CHECK(got->id == 7);
    CHECK(got->result == result);
    check_response(text);
  }
  CHECK(plain_response(R"({"jsonrpc":"2.0","id":-9223372036854775808,"result":{}})", kDepth)->id ==
        INT64_MIN);
  for (const std::string& text : {
           std::string(R"({"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m"}})"),
           std::string(R"({"jsonrpc":"2.0","id":1,"result":{},"error":{}})"),
           std::string(R"({"jsonrpc":"2.0","id":1,"result":{},"x":1})"),
           std::string(R"({"jsonrpc":"2.0","id":1})"),
           std::string(R"({"jsonrpc":"2.0","id":1,"result":{},"result":{}})"),
           std::string(R"({"jsonrpc":"2.0","id":1,"id":2,"result":{}})"),
           std::string(R"({"jsonrpc":"2.0","id":1,"r\u0065sult":{}})"),
           std::string(R"({"jsonrpc":"1.0","id":1,"result":{}})"),
           std::string(R"({"jsonrpc":"2.0","id":"1","result":{}})"),
           std::string(R"({"jsonrpc":"2.0","id":1.0,"result":{}})"),
           std::string(R"({"jsonrpc":"2.0","id":null,"result":{}})"),
           std::string(R"({"jsonrpc":"2.0","id":9223372036854775808,"result":{}})"),
           std::string(R"({"jsonrpc":"2.0","id":1,"result":[]})"),
           std::string(R"({"jsonrpc":"2.0","id":1,"result":"{}"})"),
           std::string(R"({"jsonrpc":"2.0","id":1,"method":"m"})"),
           std::string(R"([{"jsonrpc":"2.0","id":1,"result":{}}])"),
           std::string(R"({"jsonrpc":"2.0","id":1,"result":{}})") + "x",
           std::string(R"({"jsonrpc":"2.0","id":1,"result":{"s":")") + "\xff\"}}",
           std::string(R"({"jsonrpc":"2.0","id":1,"result":)") + nested(kDepth, "") + "}",
       }) {
    INFO(text);
    CHECK_FALSE(plain_response(text, kDepth));
    check_response(text);
  }
  // Deep results: simdjson counts the scalar at the bottom as a level, so a message
  // nested exactly kDepth deep with a non-empty deepest array goes to parse_message.
  CHECK(plain_response(R"({"jsonrpc":"2.0","id":1,"result":{"a":)" + nested(kDepth - 3, "1") + "}}",
                       kDepth));
  check_response(R"({"jsonrpc":"2.0","id":1,"result":{"a":)" + nested(kDepth - 2, "1") + "}}");
}

TEST_CASE("plain_response agrees with nlohmann on generated and mutated responses",
          "[json_parse]") {
  std::mt19937_64 rng(23);
  const std::string pieces[] = {"{",    "}",    "[",     "]",          ",",     ":", "\"",
                                "\\",   "\\u",  " ",     "\n",         "0",     "-", "1e9",
                                "\xc3", "\xff", "\"k\"", "\"result\"", "\"id\""};
  const std::string spaces[] = {"", " ", "\n", "\t ", "\r\n"};
  int plain = 0;
  for (int i = 0; i < 20000; ++i) {
    json result = json::object();
    result["content"] = json::array({json{
        {"type", "text"}, {"text", std::string(rng() % 20, static_cast<char>('a' + rng() % 26))}}});
    if (rng() % 2) result["q"] = "\"}]{[\\";
    if (rng() % 3 == 0) result["n"] = static_cast<std::int64_t>(rng()) >> (rng() % 64);
    std::vector<std::string> members = {
        "\"jsonrpc\":\"2.0\"",
        "\"id\":" + std::to_string(static_cast<std::int64_t>(rng()) >> (rng() % 64)),
        "\"result\":" + result.dump(rng() % 2 ? -1 : 1)};
    std::shuffle(members.begin(), members.end(), rng);
    std::string text = spaces[rng() % std::size(spaces)] + "{";
    for (std::size_t m = 0; m < members.size(); ++m) {
      if (m > 0) text += spaces[rng() % std::size(spaces)] + ",";
      text += spaces[rng() % std::size(spaces)] + members[m];
    }
    text += spaces[rng() % std::size(spaces)] + "}";
    if (keyhold::rpc::plain_response(text, kDepth)) ++plain;
    check_response(text);
    for (int k = 0; k < 3; ++k) {
      std::string mutated = text;
      const std::string& piece = pieces[rng() % std::size(pieces)];
      const std::size_t at = rng() % mutated.size();
      if (rng() % 2)
        mutated[at] = piece[0];
      else
        mutated.insert(at, piece);
      check_response(mutated);
    }
  }
  CHECK(plain == 20000);  // every unmutated one is plain
}

TEST_CASE("is_json_object_text: an object that may be sent on as it is", "[json_parse]") {
  using keyhold::rpc::is_json_object_text;
  CHECK(is_json_object_text(R"({"a":[1,{"b":"c"}],"d":{}})", kDepth));
  CHECK(is_json_object_text(" \t{ \"a\" : 1 } ", kDepth));
  CHECK(is_json_object_text(R"({"a":{"k":1},"b":{"k":2}})", kDepth));  // one key per object
  CHECK_FALSE(is_json_object_text("", kDepth));
  CHECK_FALSE(is_json_object_text("[]", kDepth));
  CHECK_FALSE(is_json_object_text("\"{}\"", kDepth));
  CHECK_FALSE(is_json_object_text("{} {}", kDepth));
  CHECK_FALSE(is_json_object_text("\xef\xbb\xbf{}", kDepth));  // a byte order mark
  CHECK_FALSE(is_json_object_text(R"({"s":")"
                                  "\xc3"
                                  R"("})",
                                  kDepth));
  // A key twice, at any depth: the tree keeps one.
  CHECK_FALSE(is_json_object_text(R"({"a":1,"a":2})", kDepth));
  CHECK_FALSE(is_json_object_text(R"({"x":[{"y":{"b":1,"c":2,"b":3}}]})", kDepth));
  CHECK_FALSE(is_json_object_text(R"({"a\u0062":1,"ab":2})", kDepth));  // the same key
  CHECK_FALSE(is_json_object_text("{\"a\":" + nested(kDepth, "") + "}", kDepth));
}

TEST_CASE("is_json_object_text collects every string and key, decoded, as the redactor reads them",
          "[json_parse]") {
  using keyhold::rpc::is_json_object_text;
  using keyhold::rpc::JsonStrings;
  const auto lines = [](const JsonStrings& s) {
    std::vector<std::string> out;
    std::size_t from = 0;
    for (std::size_t nl; (nl = s.text.find('\n', from)) != std::string::npos; from = nl + 1)
      out.push_back(s.text.substr(from, nl - from));
    CHECK(from == s.text.size());  // each one ends with its newline
    std::sort(out.begin(), out.end());
    return out;
  };
  JsonStrings s;
  REQUIRE(is_json_object_text(
      R"({"k\u0031":"v1","arr":["a",1,["b",{"nk":"nv"}],null],"o":{"x":"\"q\"\t"},"":""})", kDepth,
      &s));
  CHECK(lines(s) == std::vector<std::string>{"", "", "\"q\"\t", "a", "arr", "b", "k1", "nk", "nv",
                                             "o", "v1", "x"});
  CHECK_FALSE(s.blob);
  // A blob's string value is noted, not collected; its key is; any other blob is walked.
  s = {};
  REQUIRE(is_json_object_text(R"({"bl\u006fb":"aGk=","c":[{"blob":{"k":"v"}}]})", kDepth, &s));
  CHECK(s.blob);
  CHECK(lines(s) == std::vector<std::string>{"blob", "blob", "c", "k", "v"});
  s = {};
  REQUIRE(is_json_object_text(R"({"blob":7})", kDepth, &s));
  CHECK_FALSE(s.blob);
}

TEST_CASE("is_json_object_text reads isError and structuredContent as the tree does",
          "[json_parse]") {
  using keyhold::rpc::is_json_object_text;
  using keyhold::rpc::ToolResultMembers;
  // Each text as checked_tool_result reads it from parse_json's tree (number types
  // included: same_json).
  const auto same_as_tree = [](const std::string& text) {
    ToolResultMembers got;
    got.is_error = true;
    got.structured = json("left over");  // filled anew, not kept
    REQUIRE(is_json_object_text(text, kDepth, nullptr, &got));
    const json tree = parse_json(text, kDepth);
    const auto is_error = tree.find("isError");
    CHECK(got.is_error ==
          (is_error != tree.end() && is_error->is_boolean() && is_error->get<bool>()));
    const auto structured = tree.find("structuredContent");
    REQUIRE(got.structured.has_value() == (structured != tree.end()));
    if (got.structured) CHECK(keyhold::test::same_json(*got.structured, *structured));
  };
  same_as_tree(R"({"content":[],"structuredContent":{"sum":3,"rows":[{"a":"x","b":null}]}})");
  same_as_tree(R"({"structuredContent":{"u":3,"i":-3,"f":3.0,"e":1e2,"z":-0.0,"b":false}})");
  same_as_tree(R"({"content":[],"isError":true})");
  same_as_tree(R"({"isError":false,"structuredContent":{}})");
  same_as_tree(R"({"isError":"true","structuredContent":7})");  // not a boolean: not an error
  same_as_tree(R"({"isError":1})");
  same_as_tree(R"({"is\u0045rror":true,"structured\u0043ontent":{"k":-1.5e3}})");  // escaped keys
  same_as_tree(R"({"x":{"isError":true,"structuredContent":{}}})");  // only the top level counts
  same_as_tree(R"({"structuredContent":null})");
  same_as_tree(R"({})");
  // A key twice is refused, so the members are never one of two values.
  ToolResultMembers twice;
  CHECK_FALSE(is_json_object_text(R"({"isError":false,"isError":true})", kDepth, nullptr, &twice));
}
