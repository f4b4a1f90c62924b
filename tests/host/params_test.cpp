// The typed params layer: every field the host reads is checked before it is used, and a
// wrong type is an error naming the field, never an exception.
#include <catch2/catch.hpp>

#include "protocol/params.hpp"

using namespace keyhold;
using nlohmann::json;

namespace {
template <typename T>
std::string error_of(const mcp::Result<T>& result) {
  REQUIRE_FALSE(result.is_ok());
  CHECK(result.status().code() == vault::ErrorCode::kInvalidArgument);
  return result.status().message();
}
}  // namespace

TEST_CASE("initialize needs a string protocolVersion and an object capabilities") {
  for (const json& version : {json(5), json(nullptr), json::array(), json::object(), json(true)})
    CHECK(error_of(mcp::parse_initialize(json{{"protocolVersion", version}})) ==
          "\"protocolVersion\" must be a string");
  CHECK(error_of(mcp::parse_initialize(json::object())) ==
        "\"protocolVersion\" is required and must be a string");
  CHECK(error_of(mcp::parse_initialize(
            json{{"protocolVersion", "2025-11-25"}, {"capabilities", "all"}})) ==
        "\"capabilities\" must be an object");
  auto ok = mcp::parse_initialize(
      json{{"protocolVersion", "2025-11-25"}, {"capabilities", {{"sampling", json::object()}}}});
  REQUIRE(ok.is_ok());
  CHECK(ok->protocol_version == "2025-11-25");
  CHECK(ok->capabilities.contains("sampling"));
  auto bare = mcp::parse_initialize(json{{"protocolVersion", "x"}});
  REQUIRE(bare.is_ok());
  CHECK(bare->capabilities.is_object());
}

TEST_CASE("completion/complete reads ref and argument without throwing") {
  const json argument{{"name", "a"}, {"value", "b"}};
  for (const json& ref : {json("x"), json::array({1}), json(nullptr), json(3)})
    CHECK(error_of(mcp::parse_complete(json{{"ref", ref}, {"argument", argument}})) ==
          "\"ref\" must be an object");
  CHECK(error_of(mcp::parse_complete(json{{"ref", {{"type", 5}}}, {"argument", argument}})) ==
        "\"ref.type\" must be a string");
  CHECK(error_of(mcp::parse_complete(
            json{{"ref", {{"type", "ref/prompt"}, {"name", 7}}}, {"argument", argument}})) ==
        "\"ref.name\" must be a string");
  CHECK(error_of(mcp::parse_complete(
            json{{"ref", {{"type", "ref/resource"}, {"uri", nullptr}}}, {"argument", argument}})) ==
        "\"ref.uri\" must be a string");
  CHECK(error_of(mcp::parse_complete(json{{"ref", {{"type", "ref/zzz"}}}, {"argument", argument}}))
            .find("ref.type") != std::string::npos);
  CHECK(error_of(mcp::parse_complete(json{{"ref", {{"type", "ref/prompt"}, {"name", "p"}}}})) ==
        "\"argument\" is required and must be an object");
  CHECK(error_of(mcp::parse_complete(json{{"ref", {{"type", "ref/prompt"}, {"name", "p"}}},
                                          {"argument", {{"name", "a"}, {"value", 1}}}})) ==
        "\"argument.value\" must be a string");
  auto ok = mcp::parse_complete(
      json{{"ref", {{"type", "ref/resource"}, {"uri", "test://x/{id}"}}}, {"argument", argument}});
  REQUIRE(ok.is_ok());
  CHECK(ok->ref_kind == mcp::CompleteParams::RefKind::kResource);
  CHECK(ok->ref_target == "test://x/{id}");
}

TEST_CASE("tools/call, prompts/get, resources and lists name the bad field") {
  CHECK(error_of(mcp::parse_call_tool(json{{"name", 5}})) == "\"name\" must be a string");
  CHECK(error_of(mcp::parse_call_tool(json{{"name", "t"}, {"arguments", "x"}})) ==
        "\"arguments\" must be an object");
  auto call = mcp::parse_call_tool(json{{"name", "t"}});
  REQUIRE(call.is_ok());
  CHECK(call->arguments == json::object());
  CHECK(error_of(mcp::parse_get_prompt(json{{"name", "p"}, {"arguments", {{"a", 1}}}})) ==
        "\"arguments.a\" must be a string");
  CHECK(error_of(mcp::parse_resource(json{{"uri", json::array()}})) == "\"uri\" must be a string");
  CHECK(error_of(mcp::parse_list(json{{"cursor", 5}})) == "\"cursor\" must be a string");
  CHECK_FALSE(mcp::parse_list(json{{"cursor", nullptr}})->cursor.has_value());
  CHECK(error_of(mcp::parse_set_level(json{{"level", 5}})).find("\"level\" must be one of") == 0);
  CHECK(mcp::parse_set_level(json{{"level", "error"}})->level == 4);
}

TEST_CASE("_meta and notifications/cancelled are typed too") {
  CHECK(error_of(mcp::parse_meta(json{{"_meta", "x"}})) == "\"_meta\" must be an object");
  CHECK(error_of(mcp::parse_meta(json{{"_meta", {{"progressToken", json::object()}}}})) ==
        "\"_meta.progressToken\" must be a string or a number");
  CHECK(mcp::parse_meta(json{{"_meta", {{"progressToken", 3}}}})->progress_token == 3);
  CHECK(mcp::parse_meta(json::object())->progress_token.is_null());
  CHECK_FALSE(mcp::parse_cancelled(json{{"requestId", json::object()}}).is_ok());
  CHECK_FALSE(mcp::parse_cancelled(json{{"requestId", 1.5}}).is_ok());
  CHECK(mcp::parse_cancelled(json{{"requestId", "r"}})->request_id == "r");
}
