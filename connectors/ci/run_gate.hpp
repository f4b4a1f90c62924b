// run_gate.hpp - the per-instance cap on concurrent runs: a FIFO queue of waiting runs,
// each told its position (1 = next) whenever it changes. The queue is bounded too: every
// waiting run holds one of the host's worker threads, so an unbounded queue could leave
// none for other requests. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>

namespace keyhold::ci {

enum class Admission { kEntered, kStopped, kQueueFull };

class RunGate {
 public:
  RunGate(int capacity, std::size_t max_waiting) : capacity_(capacity), max_waiting_(max_waiting) {}

  // Waits for a free slot. on_position(n) is called (outside the lock) when the queue
  // position changes; *first_position is 0 when a slot was free at once. kStopped: no
  // slot, should_stop() turned true while waiting. kQueueFull: max_waiting runs already
  // wait; nothing was queued.
  Admission enter(const std::function<void(std::size_t)>& on_position,
                  const std::function<bool()>& should_stop, std::size_t* first_position) {
    std::unique_lock lock(mutex_);
    *first_position = 0;
    if (running_ < capacity_ && waiting_.empty()) {
      ++running_;
      return Admission::kEntered;
    }
    if (waiting_.size() >= max_waiting_) return Admission::kQueueFull;
    const std::uint64_t ticket = next_ticket_++;
    waiting_.push_back(ticket);
    std::size_t reported = 0;
    for (;;) {
      std::size_t position = 1;
      for (auto t : waiting_) {
        if (t == ticket) break;
        ++position;
      }
      if (waiting_.front() == ticket && running_ < capacity_) {
        waiting_.pop_front();
        ++running_;
        changed_.notify_all();
        return Admission::kEntered;
      }
      if (position != reported) {
        if (reported == 0) *first_position = position;
        reported = position;
        lock.unlock();
        on_position(position);
        lock.lock();
        continue;
      }
      changed_.wait_for(lock, std::chrono::milliseconds(100));
      if (should_stop()) {
        waiting_.remove(ticket);
        changed_.notify_all();
        return Admission::kStopped;
      }
    }
  }

  // Frees the slot taken by a successful enter().
  void leave() {
    std::lock_guard lock(mutex_);
    --running_;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int capacity_;
  std::size_t max_waiting_;
  int running_ = 0;
  std::uint64_t next_ticket_ = 1;
  std::list<std::uint64_t> waiting_;
};

}  // namespace keyhold::ci
