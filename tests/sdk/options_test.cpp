// keyhold/sdk/options.hpp: connector options, and duration options with the old
// "number of seconds" spellings kept.
#include <keyhold/sdk/options.hpp>

#include <catch2/catch.hpp>

using namespace keyhold::sdk;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using json = nlohmann::json;
using namespace std::chrono;

namespace {
constexpr milliseconds kWeek = hours(24 * 7);
milliseconds read_duration(const json& value) { return duration_option(value, "t", kWeek); }
}  // namespace

TEST_CASE("duration options read the grammar, and numbers as seconds", "[sdk][options]") {
  CHECK(read_duration("10m") == minutes(10));  // sql refused this before; now minutes everywhere
  CHECK(read_duration("5h") == hours(5));
  CHECK(read_duration("1h30m") == minutes(90));
  CHECK(read_duration("500ms") == milliseconds(500));
  CHECK(read_duration("2min") == minutes(2));
  CHECK(read_duration(15) == seconds(15));
  CHECK(read_duration(0.25) == milliseconds(250));
  CHECK(read_duration("1.5") == milliseconds(1500));  // a bare number string: seconds, as before
  CHECK(read_duration("7d") == kWeek);
}

TEST_CASE("duration options refuse zero, too long and nonsense, naming the option",
          "[sdk][options]") {
  for (const json& bad : {json("0s"), json(0), json(-1), json("8d"), json(8 * 86400), json("fast"),
                          json(true), json("1.2.3"), json("")}) {
    INFO(bad.dump());
    CHECK_THROWS_WITH(read_duration(bad), Contains("option t must be a duration"));
  }
  CHECK_THROWS_WITH(read_duration("5x"), Contains("unknown unit \"x\""));
}

TEST_CASE("string, bool and integer options say what they expect", "[sdk][options]") {
  const json options = {{"name", "x"}, {"flag", true}, {"count", 7}, {"text", 7}};
  CHECK(string_option(options, "name") == "x");
  CHECK(string_option(options, "missing", "fallback") == "fallback");
  CHECK_THROWS_WITH(string_option(options, "text"), Equals("option text must be a string"));
  CHECK(bool_option(options, "flag", false));
  CHECK_THROWS_WITH(bool_option(options, "name", false),
                    Equals("option name must be true or false"));
  CHECK(integer_option(options, "count", 1, 1, 10) == 7);
  CHECK(integer_option(options, "missing", 3, 1, 10) == 3);
  CHECK_THROWS_WITH(integer_option(options, "count", 1, 1, 5, "suites.api."),
                    Equals("option suites.api.count must be an integer from 1 to 5"));
  CHECK_THROWS_WITH(integer_option(options, "name", 1, 1, 5),
                    Equals("option name must be an integer from 1 to 5"));
}
