#pragma once
// Background rotation for `keyhold serve`: a thread that runs rotate_due (one secret at a
// time) every interval, each wait lengthened by a random jitter so hosts that share a
// vault do not all wake at once; the lock in the vault keeps two hosts from rotating the
// same secret. It works on its own vault connection (opened by open_vault on the thread),
// so a slow service never holds the broker's connection, and the broker's data_version
// check sees its commits.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "base/status.hpp"
#include "keyhold/vault/vault.hpp"
#include "rotation/rotation_runner.hpp"

namespace keyhold::rotation {

struct SchedulerOptions {
  std::chrono::seconds interval{300};
  std::chrono::seconds max_jitter{60};
  std::function<Result<vault::Vault>()> open_vault;
  // Reports each rotation that happened or failed (for the log). May be empty.
  std::function<void(const RotationReport&)> on_report;
  RunnerOptions runner;
};

class RotationScheduler {
 public:
  explicit RotationScheduler(SchedulerOptions options);
  ~RotationScheduler();  // stop()
  RotationScheduler(const RotationScheduler&) = delete;
  RotationScheduler& operator=(const RotationScheduler&) = delete;

  // Starts the thread (once).
  void start();
  // Wakes and joins the thread; a rotation in progress finishes first.
  void stop();

 private:
  void run();
  // Waits up to d; false when stop() was called.
  bool wait_for(std::chrono::milliseconds d);

  SchedulerOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace keyhold::rotation
