#pragma once
// A transport whose reading thread may run a call itself instead of handing it to the
// worker pool: for a short call that saves the wake-up of a second thread (issue 21).
#include <functional>

namespace keyhold {

class InlineCalls {
 public:
  // The runner of this thread: set by a transport around handing the session a message on
  // a thread that may run the call inline; null everywhere else.
  static InlineCalls*& current() noexcept {
    thread_local InlineCalls* runner = nullptr;
    return runner;
  }
  // What a call mostly does: work on the calling thread (an in-process plugin), or wait
  // for another process (a runner, a mounted server).
  enum class Kind { kWork, kWaits };
  // Either runs call on this thread (it must not throw) and returns true, or returns false
  // without running it (the caller queues it). A call that waits is worth running inline
  // only when no other message is ready: several of those overlap only on several threads.
  virtual bool run_inline(const std::function<void()>& call, Kind kind) = 0;

 protected:
  ~InlineCalls() = default;
};

}  // namespace keyhold
