#include "secrets/audit_queue.hpp"

#include <spdlog/spdlog.h>

#include <map>
#include <tuple>

namespace keyhold::secrets {

AuditQueue::AuditQueue(std::shared_ptr<SharedVault> vault) {
  if (!vault) {
    sink_ = [](std::span<const vault::AuditEntry> entries) {
      for (const auto& e : entries)
        spdlog::info("audit: {} instance={} secret={} request={} outcome={} {}", e.action,
                     e.instance, e.secret, e.request_id, e.outcome, e.detail);
    };
  } else {
    // One transaction for the batch: the vault's lock (which every handle use takes) is
    // held once, not once per entry.
    sink_ = [vault = std::move(vault)](std::span<const vault::AuditEntry> entries) {
      auto appended = vault->with([&](vault::Vault& v) { return v.append_audit(entries); });
      if (!appended.is_ok())
        spdlog::error("cannot append {} entries to the audit log: {}", entries.size(),
                      appended.status().message());
    };
  }
  start();
}

AuditQueue::AuditQueue(Sink sink, std::size_t capacity, vault::AuditEntry overflow_summary)
    : sink_(std::move(sink)), capacity_(capacity), overflow_summary_(std::move(overflow_summary)) {
  start();
}

void AuditQueue::start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait_for(lock, std::chrono::milliseconds(50), [this] { return stop_; });
      std::vector<vault::AuditEntry> batch;
      batch.swap(pending_);
      const std::size_t dropped = dropped_;
      dropped_ = 0;
      in_progress_ = batch.size() + dropped;
      lock.unlock();
      if (!batch.empty() || dropped > 0) write(std::move(batch), dropped);
      lock.lock();
      in_progress_ = 0;
      drained_.notify_all();
      if (stop_ && pending_.empty() && dropped_ == 0) return;
    }
  });
}

AuditQueue::~AuditQueue() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void AuditQueue::push(vault::AuditEntry entry) {
  std::lock_guard lock(mutex_);
  if (capacity_ != 0 && pending_.size() >= capacity_) {
    ++dropped_;
    return;
  }
  pending_.push_back(std::move(entry));
}

void AuditQueue::flush() {
  std::unique_lock lock(mutex_);
  wake_.notify_all();
  drained_.wait(lock, [this] { return pending_.empty() && dropped_ == 0 && in_progress_ == 0; });
}

void AuditQueue::write(std::vector<vault::AuditEntry> entries, std::size_t dropped) {
  if (entries.size() > kAggregateAbove) {
    using Key = std::tuple<std::string, std::string, std::string, std::string>;
    std::map<Key, std::pair<vault::AuditEntry, std::size_t>> groups;
    for (auto& e : entries) {
      auto [it, fresh] = groups.try_emplace(Key{e.instance, e.action, e.secret, e.outcome}, e, 0);
      ++it->second.second;
    }
    entries.clear();
    for (auto& [key, group] : groups) {
      auto& [entry, count] = group;
      if (count > 1)
        entry.detail = "aggregated " + std::to_string(count) + " entries; first: " + entry.detail;
      entries.push_back(std::move(entry));
    }
  }
  if (dropped > 0) {
    vault::AuditEntry summary = overflow_summary_;
    summary.detail = std::to_string(dropped) +
                     " further entries not itemised (audit queue full): " + summary.detail;
    entries.push_back(std::move(summary));
  }
  sink_(entries);
}

}  // namespace keyhold::secrets
