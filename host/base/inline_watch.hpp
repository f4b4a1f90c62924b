#pragma once
// The standby half of leader/followers reading, shared by the runner (its channel) and the
// host (stdio): one thread at a time holds the turn to read and runs a short call inline,
// still holding it; a standby thread takes the turn from a call that runs longer than
// inline_for, so that another thread reads on. While calls come the standby ticks every
// inline_for; after `idle` without one it sleeps until the next inline call wakes it.
//
// Not thread-safe on its own: every member is used under the owner's mutex (the lock
// passed to run()), except wake()/wake_all().
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace keyhold {

class InlineWatch {
 public:
  using Clock = std::chrono::steady_clock;

  InlineWatch(std::chrono::milliseconds inline_for, std::chrono::milliseconds idle)
      : inline_for_(inline_for), idle_(idle) {}

  // A call starts to run inline holding the turn. Returns true when the standby sleeps:
  // call wake() after releasing the lock.
  bool started() {
    since_ = Clock::now();
    return asleep_;
  }
  // The inline call holding the turn ended, or lost the turn.
  void ended() { last_ = Clock::now(); }
  void wake() { wake_.notify_one(); }
  void wake_all() { wake_.notify_all(); }

  // The standby thread's loop, until stop(). is_inline(): a call holds the turn inline now.
  // take(lock) frees that turn; it is entered and must return with lock held (it may
  // release it in between). stop, is_inline and take run under lock.
  template <class Stop, class IsInline, class Take>
  void run(std::unique_lock<std::mutex>& lock, Stop stop, IsInline is_inline, Take take) {
    while (!stop()) {
      const auto now = Clock::now();
      if (!is_inline()) {
        if (now - last_ > idle_) {
          asleep_ = true;
          wake_.wait(lock);
          asleep_ = false;
        } else {
          wake_.wait_for(lock, inline_for_);
        }
        continue;
      }
      if (now < since_ + inline_for_) {
        wake_.wait_until(lock, since_ + inline_for_);
        continue;
      }
      take(lock);
    }
  }

 private:
  const std::chrono::milliseconds inline_for_;
  const std::chrono::milliseconds idle_;
  std::condition_variable wake_;
  bool asleep_ = false;
  Clock::time_point since_{};  // when the call holding the turn started
  Clock::time_point last_{};   // when the last inline call ended
};

}  // namespace keyhold
