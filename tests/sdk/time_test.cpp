// keyhold/sdk/time.hpp: UTC timestamps.
#include <keyhold/sdk/time.hpp>

#include <catch2/catch.hpp>

using namespace keyhold::sdk;

TEST_CASE("ISO 8601 UTC timestamps in extended and basic form", "[sdk][time]") {
  CHECK(iso8601_utc(std::int64_t{0}) == "1970-01-01T00:00:00Z");
  CHECK(iso8601_utc(std::int64_t{1440938160}) == "2015-08-30T12:36:00Z");
  CHECK(iso8601_basic_utc(std::int64_t{0}) == "19700101T000000Z");
  CHECK(iso8601_basic_utc(std::int64_t{1440938160}) == "20150830T123600Z");  // SigV4 test suite
  const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1440938160)) +
                    std::chrono::milliseconds(999);
  CHECK(iso8601_utc(when) == "2015-08-30T12:36:00Z");  // whole seconds, not rounded up
  CHECK(iso8601_basic_utc(when) == "20150830T123600Z");
}
