#include <catch2/catch.hpp>

#include "loader/tool_schema.hpp"

using keyhold::ToolSchema;
using nlohmann::json;

namespace {
std::shared_ptr<const ToolSchema> compile(const json& schema) {
  std::string error;
  auto compiled = ToolSchema::compile(schema, &error);
  INFO(error);
  REQUIRE(compiled);
  return compiled;
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
  std::string error;
  CHECK_FALSE(ToolSchema::compile(json("string"), &error));
  CHECK_FALSE(ToolSchema::compile(json{{"type", "string"}}, &error));
  CHECK(error == "inputSchema must have \"type\": \"object\"");
  CHECK_FALSE(ToolSchema::compile(
      json::parse(R"({"type":"object","properties":{"x":{"type":12}}})"), &error));
  CHECK_THAT(error, Catch::StartsWith("invalid inputSchema"));
}
