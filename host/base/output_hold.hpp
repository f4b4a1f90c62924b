#pragma once
// Answers to the client that one thread finishes in a run, kept back until the run ends
// (issue 17, issue 21): a thread that reads another process's stream (a runner's channel,
// a mounted server's stdout) often gets the replies of several calls from one read. While
// it finishes them it holds an OutputHold, so their answers leave in one write and wake
// the client's writer once, not once per answer.
//
// An output that can keep lines back (LineWriter) asks current(): while this thread holds
// an OutputHold, it keeps the line and registers itself with keep(); the hold's end calls
// end_hold() of each output it kept something for. Lines that must not wait (a request the
// call waits on) are never kept; an output may always write earlier than asked.
//
// Per thread, nestable (an inner hold ends only its own outputs). An output must outlive
// every hold it registered with: the hold lives for one stretch of one thread's work, inside
// the calls that sent to that output.
#include <array>
#include <cstddef>

namespace keyhold {

class HeldOutput {
 public:
  // The hold that kept lines of this output ended: write them (or hand them to a writer)
  // unless something else holds the output. Must not throw.
  virtual void end_hold() noexcept = 0;

 protected:
  ~HeldOutput() = default;
};

class OutputHold {
 public:
  OutputHold() noexcept : previous_(current()) { current() = this; }
  ~OutputHold() {
    current() = previous_;
    for (std::size_t i = 0; i < count_; ++i) kept_[i]->end_hold();
  }
  OutputHold(const OutputHold&) = delete;
  OutputHold& operator=(const OutputHold&) = delete;

  // The innermost hold of this thread, or null.
  static OutputHold*& current() noexcept {
    thread_local OutputHold* hold = nullptr;
    return hold;
  }
  // Registers output for end_hold() (once per output). False when this hold tracks as
  // many outputs as it can: the output then writes the line as if no hold were held.
  bool keep(HeldOutput* output) noexcept {
    for (std::size_t i = 0; i < count_; ++i)
      if (kept_[i] == output) return true;
    if (count_ == kept_.size()) return false;
    kept_[count_++] = output;
    return true;
  }

 private:
  OutputHold* previous_;
  std::array<HeldOutput*, 4> kept_{};  // a thread answers one client, rarely more
  std::size_t count_ = 0;
};

}  // namespace keyhold
