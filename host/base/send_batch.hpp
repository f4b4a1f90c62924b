#pragma once
// Writes to other processes that a burst of client messages starts, kept back while the
// burst is worked through and then written together (issue 17): the stdio reader holds a
// batch while more input is at hand, as it holds the client's answers (LineWriter::hold),
// so the requests of a pipelined burst to a mounted server leave in one write and wake the
// server once, not once per request.
//
// A writer that can keep lines back (a mounted stdio server's stdin) asks current(): while
// the batch of this thread is held, it queues the line and defers its flush to the batch;
// otherwise it writes at once. Thread-safe: release() may come from another thread (the
// standby that takes the turn from a long call), and a flush deferred to a batch that is no
// longer held runs at once, so nothing stays queued.
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

namespace keyhold {

class SendBatch {
 public:
  // The batch of the burst this thread works through, or null (set by the transport
  // around handing a message to the session).
  static SendBatch*& current() noexcept {
    thread_local SendBatch* batch = nullptr;
    return batch;
  }

  // Lines queued from now on wait for release().
  void hold() {
    std::lock_guard lock(mutex_);
    held_ = true;
  }
  // Runs flush at release() (at once when the batch is not held). flush must not throw.
  void defer(std::function<void()> flush) {
    {
      std::lock_guard lock(mutex_);
      if (held_) {
        deferred_.push_back(std::move(flush));
        return;
      }
    }
    flush();
  }
  // Ends hold() and runs every deferred flush, in order.
  void release() {
    std::vector<std::function<void()>> flushes;
    {
      std::lock_guard lock(mutex_);
      held_ = false;
      flushes.swap(deferred_);
    }
    for (auto& flush : flushes) flush();
  }

 private:
  std::mutex mutex_;
  bool held_ = false;
  std::vector<std::function<void()>> deferred_;
};

}  // namespace keyhold
