#include "secrets/audit_queue.hpp"

#include <spdlog/spdlog.h>

#include <map>
#include <tuple>

namespace keyhold::secrets {

AuditQueue::AuditQueue(std::shared_ptr<SharedVault> vault) : vault_(std::move(vault)) {
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait_for(lock, std::chrono::milliseconds(50), [this] { return stop_; });
      std::vector<vault::AuditEntry> batch;
      batch.swap(pending_);
      in_progress_ = batch.size();
      lock.unlock();
      if (!batch.empty()) write(std::move(batch));
      lock.lock();
      in_progress_ = 0;
      drained_.notify_all();
      if (stop_ && pending_.empty()) return;
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
  pending_.push_back(std::move(entry));
}

void AuditQueue::flush() {
  std::unique_lock lock(mutex_);
  wake_.notify_all();
  drained_.wait(lock, [this] { return pending_.empty() && in_progress_ == 0; });
}

void AuditQueue::write(std::vector<vault::AuditEntry> entries) {
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
  if (!vault_) {
    for (const auto& entry : entries)
      spdlog::info("audit: {} instance={} secret={} request={} outcome={} {}", entry.action,
                   entry.instance, entry.secret, entry.request_id, entry.outcome, entry.detail);
    return;
  }
  // One transaction for the batch: the vault's lock (which every handle use takes) is held
  // once, not once per entry.
  auto appended = vault_->with(
      [&](vault::Vault& v) { return v.append_audit(std::span<const vault::AuditEntry>(entries)); });
  if (!appended.is_ok())
    spdlog::error("cannot append {} entries to the audit log: {}", entries.size(),
                  appended.status().message());
}

}  // namespace keyhold::secrets
