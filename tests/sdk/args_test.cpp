// keyhold/sdk/args.hpp: tool arguments, refused the SDK's way (keyhold::InvalidArgument).
#include <keyhold/sdk/args.hpp>

#include <catch2/catch.hpp>

using namespace keyhold::sdk;
using Catch::Matchers::Equals;
using json = nlohmann::json;

TEST_CASE("string_arg: present, absent, null and wrong type", "[sdk][args]") {
  const json args = {{"sql", "select 1"}, {"none", nullptr}, {"n", 3}};
  CHECK(string_arg(args, "sql", true) == "select 1");
  CHECK(string_arg(args, "missing", false).empty());
  CHECK(string_arg(args, "none", false).empty());
  CHECK_THROWS_AS(string_arg(args, "missing", true), keyhold::InvalidArgument);
  CHECK_THROWS_WITH(string_arg(args, "none", true), Equals("argument none is required"));
  CHECK_THROWS_WITH(string_arg(args, "n", false), Equals("argument n must be a string"));
}

TEST_CASE("integer_arg: range checked, absent is nullopt", "[sdk][args]") {
  const json args = {{"limit", 10}, {"big", 5000}, {"text", "10"}, {"real", 1.5}};
  CHECK(integer_arg(args, "limit", 1, 100) == 10);
  CHECK_FALSE(integer_arg(args, "missing", 1, 100).has_value());
  CHECK_THROWS_WITH(integer_arg(args, "big", 1, 100),
                    Equals("argument big must be an integer from 1 to 100"));
  CHECK_THROWS_AS(integer_arg(args, "text", 1, 100), keyhold::InvalidArgument);
  CHECK_THROWS_AS(integer_arg(args, "real", 1, 100), keyhold::InvalidArgument);
}
