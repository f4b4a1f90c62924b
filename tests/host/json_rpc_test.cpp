#include <catch2/catch.hpp>

#include "protocol/json_rpc.hpp"
#include "protocol/versions.hpp"

using namespace keyhold;
using nlohmann::json;

TEST_CASE("parse_message accepts a well-formed request") {
  json error;
  auto msg = rpc::parse_message(R"({"jsonrpc":"2.0","id":1,"method":"ping"})", {}, &error);
  REQUIRE(msg);
  CHECK((*msg)["method"] == "ping");
}

TEST_CASE("parse_message answers non-JSON with -32700 and null id, without echoing input") {
  json error;
  auto msg = rpc::parse_message("{not json SECRET-CANARY", {}, &error);
  REQUIRE_FALSE(msg);
  CHECK(error["error"]["code"] == -32700);
  CHECK(error["id"].is_null());
  CHECK(error["error"]["message"].get<std::string>().find("SECRET-CANARY") == std::string::npos);
}

TEST_CASE("parse_message refuses invalid UTF-8 inside strings as a parse error") {
  json error;
  std::string text = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\xff\xfe\"}";
  REQUIRE_FALSE(rpc::parse_message(text, {}, &error));
  CHECK(error["error"]["code"] == -32700);
  // The error itself must serialize (no invalid bytes copied into it).
  CHECK_NOTHROW(error.dump());
}

TEST_CASE("parse_message refuses nesting deeper than the limit and accepts the limit") {
  rpc::Limits limits;
  limits.max_depth = 64;
  auto nested = [](int depth) {
    return R"({"jsonrpc":"2.0","id":1,"method":"x","params":{"a":)" + std::string(depth - 2, '[') +
           std::string(depth - 2, ']') + "}}";
  };
  json error;
  CHECK(rpc::parse_message(nested(64), limits, &error));
  REQUIRE_FALSE(rpc::parse_message(nested(65), limits, &error));
  CHECK(error["error"]["code"] == -32600);
  CHECK(error["error"]["message"] == "message nests deeper than 64 levels");
}

TEST_CASE("nesting_depth ignores brackets inside strings") {
  CHECK(rpc::nesting_depth(R"({"a":"[[[[{{{{\"]]"})", 100) == 1);
}

TEST_CASE("parse_message refuses a message over the size limit") {
  rpc::Limits limits;
  limits.max_message_bytes = 32;
  json error;
  REQUIRE_FALSE(rpc::parse_message(std::string(33, ' '), limits, &error));
  CHECK(error["error"]["code"] == -32600);
  CHECK(error["error"]["message"] == "message of 33 bytes exceeds the limit of 32 bytes");
}

TEST_CASE("classify distinguishes requests, notifications, responses and invalid messages") {
  std::string why;
  json id;
  CHECK(rpc::classify(json::parse(R"({"jsonrpc":"2.0","id":"a","method":"m"})"), &why, &id) ==
        rpc::Kind::kRequest);
  CHECK(id == "a");
  CHECK(rpc::classify(json::parse(R"({"jsonrpc":"2.0","method":"m"})"), &why, &id) ==
        rpc::Kind::kNotification);
  CHECK(rpc::classify(json::parse(R"({"jsonrpc":"2.0","id":3,"result":{}})"), &why, &id) ==
        rpc::Kind::kResponse);

  CHECK(rpc::classify(json::parse(R"({"jsonrpc":"2.0","id":4})"), &why, &id) ==
        rpc::Kind::kInvalid);
  CHECK(why == "a request needs a \"method\"");
  CHECK(id == 4);
  CHECK(rpc::classify(json::parse(R"({"jsonrpc":"2.0","id":5,"method":7})"), &why, &id) ==
        rpc::Kind::kInvalid);
  CHECK(why == "\"method\" must be a string");
  CHECK(rpc::classify(json::parse(R"({"id":6,"method":"m"})"), &why, &id) == rpc::Kind::kInvalid);
  CHECK(why == "\"jsonrpc\" must be \"2.0\"");
  CHECK(rpc::classify(json::parse(R"({"jsonrpc":"2.0","id":7,"method":"m","params":[1]})"), &why,
                      &id) == rpc::Kind::kInvalid);
  CHECK(why == "\"params\" must be an object");
  CHECK(rpc::classify(json::parse(R"([{"jsonrpc":"2.0","id":8,"method":"m"}])"), &why, &id) ==
        rpc::Kind::kInvalid);
  CHECK(rpc::classify(json::parse(R"({"jsonrpc":"2.0","id":1.5,"method":"m"})"), &why, &id) ==
        rpc::Kind::kInvalid);
  CHECK(id.is_null());
}

TEST_CASE("version negotiation keeps a supported version and answers the latest otherwise") {
  CHECK(mcp::negotiate_version("2025-11-25") == "2025-11-25");
  CHECK(mcp::negotiate_version("2025-06-18") == "2025-06-18");
  CHECK(mcp::negotiate_version("2025-03-26") == "2025-03-26");
  CHECK(mcp::negotiate_version("2024-11-05") == "2025-11-25");
  CHECK(mcp::negotiate_version("") == "2025-11-25");
  CHECK(mcp::negotiate_version("2099-01-01") == "2025-11-25");
}

TEST_CASE("id_key keeps string and numeric ids apart") {
  CHECK(rpc::id_key(json(1)) != rpc::id_key(json("1")));
}

TEST_CASE("parse_message answers numbers outside double range with -32600, never a throw") {
  const std::string digits(400, '9');
  struct Case {
    std::string text;
    json id;
  };
  const Case cases[] = {
      {R"({"jsonrpc":"2.0","id":1e400,"method":"ping"})", nullptr},
      {R"({"jsonrpc":"2.0","id":)" + digits + R"(,"method":"ping"})", nullptr},
      {R"({"jsonrpc":"2.0","id":"a","method":"ping","params":{"x":-1e400}})", "a"},
      {R"({"jsonrpc":"2.0","id":7,"method":"x","params":{"deep":[[{"n":1e999}]]}})", 7},
      {R"({"params":{"x":1e400},"jsonrpc":"2.0","id":7,"method":"x"})", nullptr},
      {R"({"jsonrpc":"2.0","params":{"id":"inner"},"x":1e400,"id":"outer"})", nullptr},
  };
  for (const auto& c : cases) {
    json error;
    REQUIRE_FALSE(rpc::parse_message(c.text, {}, &error));
    CHECK(error["error"]["code"] == -32600);
    CHECK(error["id"] == c.id);
    CHECK(error["error"]["message"].get<std::string>().find("range") != std::string::npos);
  }
}

TEST_CASE("parse_message keeps the id of a nested object out of the recovered id") {
  json error;
  REQUIRE_FALSE(
      rpc::parse_message(R"({"params":{"id":"inner","x":1e400},"id":"outer"})", {}, &error));
  CHECK(error["id"].is_null());
}

TEST_CASE("parse_message ignores a leading UTF-8 byte order mark") {
  json error;
  auto msg = rpc::parse_message("\xEF\xBB\xBF{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
                                {}, &error);
  REQUIRE(msg);
  CHECK((*msg)["method"] == "ping");
}

TEST_CASE("request_text writes what serialize(make_request()) writes") {
  const json params_list[] = {
      nullptr,
      json::object(),
      json{{"name", "echo"}, {"arguments", {{"text", "hé \"q\" \\ \n"}}}},
      json{{"_meta", {{"progressToken", 7}}}, {"uri", "file:///a b"}, {"n", -3}, {"x", 1.5}},
      json::array({1, "two", nullptr, true, json::object()}),
      json{{"bad", std::string("\xff\xfe ok")}},  // invalid UTF-8: replaced alike
  };
  for (const std::string method : {"tools/call", "ping", "m\"ethod\x01"}) {
    for (const std::int64_t id : {std::int64_t{0}, std::int64_t{42}, INT64_MAX}) {
      for (const json& params : params_list) {
        INFO(method << " " << id << " "
                    << params.dump(-1, ' ', false, json::error_handler_t::replace));
        CHECK(rpc::request_text(id, method, params) ==
              rpc::serialize(rpc::make_request(id, method, params)));
      }
    }
  }
}
