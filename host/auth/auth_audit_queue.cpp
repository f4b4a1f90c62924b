#include "auth/auth_audit_queue.hpp"

namespace keyhold::auth {

AuthAuditQueue::AuthAuditQueue(Sink sink, std::size_t capacity)
    : sink_(std::move(sink)), capacity_(capacity), thread_([this] { run(); }) {}

AuthAuditQueue::~AuthAuditQueue() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void AuthAuditQueue::push(vault::AuditEntry entry) {
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= capacity_) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(entry));
  }
  changed_.notify_one();
}

void AuthAuditQueue::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return stopping_ || !queue_.empty() || dropped_ > 0; });
    if (queue_.empty() && dropped_ == 0) {
      if (stopping_) return;
      continue;
    }
    std::deque<vault::AuditEntry> batch;
    batch.swap(queue_);
    const std::size_t dropped = dropped_;
    dropped_ = 0;
    lock.unlock();
    for (const auto& entry : batch) sink_(entry);
    if (dropped > 0) {
      vault::AuditEntry summary;
      summary.actor = "http";
      summary.action = "http.auth";
      summary.outcome = "denied";
      summary.detail = std::to_string(dropped) +
                       " further authentication failures, not itemised (audit queue full)";
      sink_(summary);
    }
    lock.lock();
  }
}

}  // namespace keyhold::auth
