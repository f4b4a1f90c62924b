// run_log.hpp - the output of one run, bounded: the first half of the budget is kept from
// the start of the output and the second half is a window over its end, so a 50 MB run
// keeps log_bytes (at most 1.5 x log_bytes in memory while it runs: the end window is
// trimmed in batches) and what was dropped in the middle is said, not hidden.
// Offsets are absolute positions in the whole output. Not thread-safe (the run guards it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace keyhold::ci {

struct LogSlice {
  std::string text;          // valid UTF-8
  std::uint64_t offset = 0;  // where text starts (may be past the asked offset: dropped bytes)
  std::uint64_t next_offset = 0;
  std::uint64_t total_bytes = 0;
  std::uint64_t dropped_from = 0;  // [dropped_from, dropped_to) was not kept; equal when none
  std::uint64_t dropped_to = 0;
};

class RunLog {
 public:
  explicit RunLog(std::size_t budget_bytes);
  // Restores a log saved with head()/tail()/total_bytes().
  RunLog(std::size_t budget_bytes, std::string head, std::string tail, std::uint64_t total);

  void append(std::string_view bytes);
  // At most limit bytes from offset (cut to whole UTF-8 characters).
  LogSlice read(std::uint64_t offset, std::size_t limit) const;
  // The last max_bytes of the output, starting at a line start when one is near.
  std::string tail_text(std::size_t max_bytes) const;

  const std::string& head() const { return head_; }
  // The end window, at most half the budget (what the history stores).
  std::string tail() const {
    return tail_.size() > tail_budget_ ? tail_.substr(tail_.size() - tail_budget_) : tail_;
  }
  std::uint64_t total_bytes() const { return total_; }
  std::uint64_t tail_start() const { return total_ - tail_.size(); }
  bool truncated() const { return tail_start() > head_.size(); }

 private:
  std::size_t head_budget_;
  std::size_t tail_budget_;
  std::string head_;
  std::string tail_;  // holds up to 2 * tail_budget_ before it is trimmed to tail_budget_
  std::uint64_t total_ = 0;
};

}  // namespace keyhold::ci
