#pragma once
// One reader at a time for a stream that several threads wait on (a runner's channel, a
// mounted stdio server's stdout): the "turn". A request waiting for its answer takes the
// turn itself when it is free, so an answer wakes no other thread; a reader thread takes
// it only once no request has been in flight for kLinger, to see what arrives between
// requests (log lines, notifications, the end). The owner passes the turn on to a request
// still waiting (it knows its own waiters).
//
// Not thread-safe by itself: every member is guarded by the owner's mutex, the one whose
// lock reader_take() is given.
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace keyhold {

struct ReadingTurn {
  using Clock = std::chrono::steady_clock;
  // Something that arrives while no request is in flight waits about this long to be read.
  static constexpr auto kLinger = std::chrono::milliseconds(5);

  bool reading = false;  // someone holds the turn
  // Requests whose caller waits for the answer (async calls are in async_calls), counted
  // from before the first wait until after the caller's last pass of the turn: the owner's
  // pass_turn looks for a waiter to hand the turn to only when one is counted.
  int in_flight = 0;
  int async_calls = 0;  // requests nobody waits for: the reader thread reads their answers
  Clock::time_point last_done{};
  std::condition_variable reader_wake;  // the reader thread waits here

  void request_started() { ++in_flight; }
  // The reader thread notices on its own (it looks every kLinger).
  void request_finished() {
    --in_flight;
    last_done = Clock::now();
  }
  // A request takes the turn when it is free.
  bool try_take() {
    if (reading) return false;
    reading = true;
    return true;
  }
  // The reader thread: waits (lock held) until the turn has been free of requests for
  // kLinger and takes it (true), or until stop() (false).
  template <class Stop>
  bool reader_take(std::unique_lock<std::mutex>& lock, Stop stop) {
    for (;;) {
      if (stop()) return false;
      if (!reading && async_calls > 0) {
        reading = true;
        return true;
      }
      if (reading || in_flight > 0) {
        reader_wake.wait_for(lock, kLinger);
        continue;
      }
      if (const auto quiet_from = last_done + kLinger; Clock::now() < quiet_from) {
        reader_wake.wait_until(lock, quiet_from);
        continue;
      }
      reading = true;
      return true;
    }
  }
};

}  // namespace keyhold
