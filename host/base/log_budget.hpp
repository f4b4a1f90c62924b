#pragma once
// How many lines one untrusted source (a plugin instance, a runner's own output, a
// mounted server's stderr) may put in the host's log: a token bucket that refills at
// `per_second` up to `burst`. Past it lines are dropped and counted; the next line that is
// admitted after a drop reports how many were lost, so the log says a flood happened
// without carrying it. A plugin that logs in a tight loop otherwise costs the host a
// redaction pass and a write per line, without limit (issue 14: a hostile plugin).
//
// Thread-safe; admit() is a mutex and a clock read.
#include <spdlog/spdlog.h>
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string_view>

namespace keyhold {

class LogBudget {
 public:
  // 200 lines a second, 2,000 at once: far above what a plugin logs for a person to
  // read, far below what fills a disk.
  explicit LogBudget(double per_second = 200, double burst = 2000)
      : per_second_(per_second), burst_(burst), tokens_(burst) {}

  // True when one more line may be logged now. *dropped_before: how many lines were
  // refused since the last admitted one (0 mostly); the caller logs that first.
  bool admit(std::size_t* dropped_before) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    if (started_) {
      const std::chrono::duration<double> passed = now - last_;
      tokens_ = std::min(burst_, tokens_ + passed.count() * per_second_);
    }
    started_ = true;
    last_ = now;
    if (tokens_ < 1) {
      ++dropped_;
      return false;
    }
    tokens_ -= 1;
    *dropped_before = dropped_;
    dropped_ = 0;
    return true;
  }

  // admit(); when lines were dropped before this one, the host log says so first:
  // "[source] N <what> dropped: more than its budget allows".
  bool admit_line(std::string_view source, std::string_view what) {
    std::size_t dropped = 0;
    if (!admit(&dropped)) return false;
    if (dropped > 0)
      spdlog::warn("[{}] {} {} dropped: more than its budget allows", source, dropped, what);
    return true;
  }

 private:
  const double per_second_, burst_;
  std::mutex mutex_;
  double tokens_;
  bool started_ = false;
  std::chrono::steady_clock::time_point last_{};
  std::size_t dropped_ = 0;
};

}  // namespace keyhold
