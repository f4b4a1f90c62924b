// keyhold/sdk/duration.hpp: the one duration grammar (units ms, s, m/min, h, d, w).
#include <keyhold/sdk/duration.hpp>

#include <catch2/catch.hpp>

using Catch::Matchers::Contains;
using keyhold::sdk::parse_duration;
using namespace std::chrono;

namespace {
milliseconds ok(std::string_view text) {
  const auto r = parse_duration(text);
  INFO(text << ": " << r.error());
  REQUIRE(r.is_ok());
  return *r;
}
std::string error(std::string_view text) {
  const auto r = parse_duration(text);
  INFO(text);
  REQUIRE_FALSE(r.is_ok());
  return r.error();
}
}  // namespace

TEST_CASE("every unit of the grammar has its meaning", "[sdk][duration]") {
  CHECK(ok("500ms") == milliseconds(500));
  CHECK(ok("90s") == seconds(90));
  CHECK(ok("10m") == minutes(10));  // minutes everywhere: config, vault CLI, sql, ci
  CHECK(ok("2min") == minutes(2));
  CHECK(ok("1h") == hours(1));
  CHECK(ok("90d") == hours(90 * 24));
  CHECK(ok("2w") == hours(14 * 24));
  CHECK(ok("0s") == milliseconds(0));
}

TEST_CASE("spellings the three old grammars accepted keep their meaning", "[sdk][duration]") {
  // vault / host config: integer and one of s m h d w
  CHECK(ok("24h") == hours(24));
  CHECK(ok("30m") == minutes(30));
  CHECK(ok("45s") == seconds(45));
  // sql: s, ms, min with decimals
  CHECK(ok("15s") == seconds(15));
  CHECK(ok("1.5s") == milliseconds(1500));
  CHECK(ok("0.5min") == seconds(30));
  // ci: s, ms, m, min, h
  CHECK(ok("1.5h") == minutes(90));
}

TEST_CASE("compound durations add up", "[sdk][duration]") {
  CHECK(ok("1h30m") == minutes(90));
  CHECK(ok("1m30s") == seconds(90));
  CHECK(ok("1d12h") == hours(36));
  CHECK(ok("1s500ms") == milliseconds(1500));
  CHECK(ok("2min30s") == seconds(150));
}

TEST_CASE("fractions round up to the next millisecond, never to zero", "[sdk][duration]") {
  CHECK(ok("0.0001s") == milliseconds(1));
  CHECK(ok("1.0005s") == milliseconds(1001));
  CHECK(ok("0.5ms") == milliseconds(1));
  CHECK(ok(".25s") == milliseconds(250));
  CHECK_THAT(error("1.0000000001s"), Contains("more than 9 digits"));
}

TEST_CASE("a number without a unit is refused", "[sdk][duration]") {
  CHECK_THAT(error("10"), Contains("has no unit"));
  CHECK_THAT(error("1h30"), Contains("the number 30 has no unit"));
}

TEST_CASE("malformed durations say what is wrong and what is accepted", "[sdk][duration]") {
  CHECK_THAT(error(""), Contains("is empty"));
  CHECK_THAT(error("5x"), Contains("unknown unit \"x\""));
  CHECK_THAT(error("5x"), Contains("ms, s, m or min, h, d, w"));
  CHECK_THAT(error("-5s"), Contains("negative"));
  CHECK_THAT(error("fast"), Contains("expected a number"));
  CHECK_THAT(error("d"), Contains("expected a number"));
  CHECK_THAT(error("5 d"), Contains("unexpected \" \""));  // no spaces
  CHECK_THAT(error("5.s"), Contains("needs digits"));
  CHECK_THAT(error("5S"), Contains("unknown unit"));  // units are lower case
  CHECK_THAT(error("1e3s"), Contains("unknown unit \"e\""));
  CHECK_FALSE(parse_duration("5sec").is_ok());
  CHECK_FALSE(parse_duration("+5s").is_ok());
}

TEST_CASE("overflow is refused, not wrapped", "[sdk][duration]") {
  CHECK(ok("9223372036854775807ms") == milliseconds(INT64_MAX));
  CHECK_THAT(error("9223372036854775808ms"), Contains("too large"));
  CHECK_THAT(error("9223372036854775807s"), Contains("too large"));
  CHECK(ok("15250284452w") == hours(15250284452LL * 7 * 24));
  CHECK_THAT(error("15250284453w"), Contains("too large"));
  CHECK_THAT(error("9223372036854775807ms1ms"), Contains("too large"));
  CHECK_THAT(error("99999999999999999999999s"), Contains("too large"));
}
