// The restart policy shared by plugin runners and mounted servers.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>

#include "loader/restart_budget.hpp"

using keyhold::RestartBudget;
using namespace std::chrono_literals;

TEST_CASE("restart budget: at once, then doubling waits, then failed within the window") {
  RestartBudget budget;
  const auto t0 = RestartBudget::Clock::time_point{} + 1h;
  auto now = t0;
  const std::chrono::seconds expected[] = {0s, 1s, 2s, 4s, 8s};
  for (auto wait : expected) {
    REQUIRE(budget.take(now));
    CHECK(budget.next_allowed() == now + wait);
    now = budget.next_allowed() + 1s;
  }
  CHECK_FALSE(budget.take(now));  // a sixth restart within ten minutes
  CHECK_FALSE(budget.take(t0 + 9min));
  // Once the first restarts leave the window, restarts are allowed again.
  CHECK(budget.take(t0 + 10min + 2s));
}

TEST_CASE("restart budget: exit statuses read as a person would say them") {
  CHECK(keyhold::describe_exit_status(3 << 8) == "exited with status 3");
  CHECK(keyhold::describe_exit_status(SIGKILL) == "killed by signal 9 (SIGKILL)");
}
