#include "loader/restart_budget.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace keyhold {

bool RestartBudget::take(Clock::time_point now) {
  std::erase_if(restarts_, [&](Clock::time_point t) { return now - t > kWindow; });
  if (restarts_.size() >= static_cast<std::size_t>(kMaxRestarts)) return false;
  std::chrono::seconds backoff{0};
  if (!restarts_.empty()) {
    const auto doublings = std::min<std::size_t>(restarts_.size() - 1, 5);  // 2^5 s > 30 s
    backoff = std::min(kMaxBackoff, std::chrono::seconds(std::int64_t{1} << doublings));
  }
  restarts_.push_back(now);
  next_ = now + backoff;
  return true;
}

std::string describe_exit_status(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) +
           (name ? std::string(" (SIG") + name + ")" : "");
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "ended";
}

}  // namespace keyhold
