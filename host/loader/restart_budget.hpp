#pragma once
// When a child that ended by itself (a plugin's runner, a mounted server) may be started
// again: at once the first time, then after 1 s, 2 s, 4 s ... at most 30 s; after
// kMaxRestarts restarts within 10 minutes, never (the instance is marked failed). Not
// thread-safe: its owner guards it. Also how a child's wait status reads in a message.
#include <chrono>
#include <string>
#include <vector>

namespace keyhold {

class RestartBudget {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kMaxRestarts = 5;
  static constexpr std::chrono::minutes kWindow{10};
  static constexpr std::chrono::seconds kMaxBackoff{30};

  // The earliest time the next restart may happen.
  Clock::time_point next_allowed() const noexcept { return next_; }
  // Records a restart at now and sets the backoff before the one after it. False, and
  // nothing recorded, when kMaxRestarts restarts happened within kWindow before now.
  bool take(Clock::time_point now);

 private:
  std::vector<Clock::time_point> restarts_;
  Clock::time_point next_{};
};

// "exited with status 3", "killed by signal 9 (SIGKILL)", or "ended".
std::string describe_exit_status(int status);

}  // namespace keyhold
