// The log budget of an untrusted source (base/log_budget.hpp): a burst, then drops that
// are counted and reported with the next admitted line.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <thread>

#include "base/log_budget.hpp"

TEST_CASE("log budget: a burst passes, the rest is dropped and counted") {
  keyhold::LogBudget budget(/*per_second=*/0.001, /*burst=*/3);
  std::size_t dropped = 99;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(budget.admit(&dropped));
    CHECK(dropped == 0);
  }
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(budget.admit(&dropped));
}

TEST_CASE("log budget: it refills with time, and the next line reports what was lost") {
  keyhold::LogBudget budget(/*per_second=*/50, /*burst=*/2);
  std::size_t dropped = 0;
  REQUIRE(budget.admit(&dropped));
  REQUIRE(budget.admit(&dropped));
  std::size_t refused = 0;
  while (!budget.admit(&dropped)) ++refused;  // one line every 20 ms
  CHECK(dropped == refused);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // full again: 2, not 10
  CHECK(budget.admit(&dropped));
  CHECK(dropped == 0);
  CHECK(budget.admit(&dropped));
  CHECK_FALSE(budget.admit(&dropped));
}
