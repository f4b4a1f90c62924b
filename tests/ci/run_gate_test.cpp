#include "run_gate.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using keyhold::ci::Admission;
using keyhold::ci::RunGate;

namespace {
// Waits (no timing assertion: only a generous bound against a hang) until pred() holds.
template <class Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 10000 && !pred(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return pred();
}
}  // namespace

TEST_CASE("run gate: the first run enters at once, the next queues at position 1 until a leave") {
  RunGate gate(1, 4);
  std::size_t first = 99;
  REQUIRE(gate.enter([](std::size_t) {}, [] { return false; }, &first) == Admission::kEntered);
  CHECK(first == 0);

  std::mutex m;
  std::vector<std::size_t> positions;
  std::atomic<bool> entered{false};
  std::size_t second_first = 99;
  std::thread second([&] {
    const Admission a = gate.enter(
        [&](std::size_t p) {
          std::lock_guard lock(m);
          positions.push_back(p);
        },
        [] { return false; }, &second_first);
    entered = a == Admission::kEntered;
  });
  REQUIRE(eventually([&] {
    std::lock_guard lock(m);
    return !positions.empty();
  }));
  CHECK_FALSE(entered.load());
  gate.leave();
  second.join();
  CHECK(entered.load());
  CHECK(second_first == 1);
  CHECK(positions == std::vector<std::size_t>{1});
  gate.leave();
}

TEST_CASE("run gate: a queued run that is cancelled leaves the queue without a slot") {
  RunGate gate(1, 4);
  std::size_t first = 0;
  REQUIRE(gate.enter([](std::size_t) {}, [] { return false; }, &first) == Admission::kEntered);
  std::atomic<bool> stop{false};
  std::atomic<int> result{-1};
  std::thread waiter([&] {
    std::size_t p = 0;
    result = static_cast<int>(gate.enter([](std::size_t) {}, [&] { return stop.load(); }, &p));
  });
  stop = true;
  waiter.join();
  CHECK(result.load() == static_cast<int>(Admission::kStopped));
  gate.leave();
  // The slot is free again and nobody is queued.
  REQUIRE(gate.enter([](std::size_t) {}, [] { return false; }, &first) == Admission::kEntered);
  CHECK(first == 0);
  gate.leave();
}

TEST_CASE("run gate: beyond max_waiting a run is refused at once, nothing is queued") {
  RunGate gate(1, 0);
  std::size_t first = 0;
  REQUIRE(gate.enter([](std::size_t) {}, [] { return false; }, &first) == Admission::kEntered);
  bool told = false;
  CHECK(gate.enter([&](std::size_t) { told = true; }, [] { return false; }, &first) ==
        Admission::kQueueFull);
  CHECK_FALSE(told);
  gate.leave();
}
