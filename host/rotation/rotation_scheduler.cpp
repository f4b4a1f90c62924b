#include "rotation/rotation_scheduler.hpp"

#include <sodium.h>

namespace keyhold::rotation {
namespace {

std::chrono::milliseconds jitter(std::chrono::seconds max) {
  const auto ms = static_cast<std::uint32_t>(std::chrono::milliseconds(max).count());
  return std::chrono::milliseconds(ms == 0 ? 0 : randombytes_uniform(ms + 1));
}

}  // namespace

RotationScheduler::RotationScheduler(SchedulerOptions options) : options_(std::move(options)) {}

RotationScheduler::~RotationScheduler() { stop(); }

void RotationScheduler::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void RotationScheduler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RotationScheduler::wait_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, d, [this] { return stopping_; });
}

void RotationScheduler::run() {
  if (!wait_for(jitter(options_.max_jitter))) return;
  auto vault = options_.open_vault();
  if (!vault.is_ok()) {
    if (options_.on_report) {
      RotationReport report;
      report.result = RotationReport::Result::kFailed;
      report.message = "background rotation is off: " + vault.status().message();
      options_.on_report(report);
    }
    return;
  }
  do {
    for (const auto& report : rotate_due(vault.value(), options_.runner)) {
      if (options_.on_report) options_.on_report(report);
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
  } while (wait_for(std::chrono::duration_cast<std::chrono::milliseconds>(options_.interval) +
                    jitter(options_.max_jitter)));
}

}  // namespace keyhold::rotation
