#include <catch2/catch.hpp>

#include "loader/tool_schema.hpp"

using keyhold::ToolSchema;
using nlohmann::json;

namespace {
std::shared_ptr<const ToolSchema> compile(const json& schema) {
  auto compiled = ToolSchema::compile(schema);
  INFO(compiled.status().message());
  REQUIRE(compiled.is_ok());
  return std::move(compiled).value();
}
}  // namespace

TEST_CASE("a conforming argument object passes") {
  auto schema = compile(
      json::parse(R"({"type":"object","properties":{"a":{"type":"number"}},"required":["a"]})"));
  CHECK_FALSE(schema->validate(json{{"a", 1.5}}));
}

TEST_CASE("a wrong type is reported naming the field") {
  auto schema = compile(json::parse(
      R"({"type":"object","properties":{"count":{"type":"integer"}},"required":["count"]})"));
  auto problem = schema->validate(json{{"count", "three"}});
  REQUIRE(problem);
  CHECK_THAT(*problem, Catch::Contains("argument 'count'"));
}

TEST_CASE("a missing required field is reported") {
  auto schema = compile(json::parse(
      R"({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]})"));
  auto problem = schema->validate(json::object());
  REQUIRE(problem);
  CHECK_THAT(*problem, Catch::Contains("text"));
}

TEST_CASE("nested array fields are named with their path") {
  auto schema = compile(json::parse(
      R"({"type":"object","properties":{"items":{"type":"array","items":{"type":"string"}}}})"));
  auto problem = schema->validate(json{{"items", json::array({"a", 2})}});
  REQUIRE(problem);
  CHECK_THAT(*problem, Catch::Contains("items[1]"));
}

TEST_CASE("invalid schemas are refused at load") {
  CHECK_FALSE(ToolSchema::compile(json("string")).is_ok());
  auto not_object = ToolSchema::compile(json{{"type", "string"}});
  CHECK(not_object.status().code() == keyhold::ErrorCode::kInvalidArgument);
  CHECK(not_object.status().message() == "inputSchema must have \"type\": \"object\"");
  auto bad_type =
      ToolSchema::compile(json::parse(R"({"type":"object","properties":{"x":{"type":12}}})"));
  CHECK_THAT(bad_type.status().message(), Catch::StartsWith("invalid inputSchema"));
}
