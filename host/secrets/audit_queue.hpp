#pragma once
// Writes the host's audit entries (handle operations, guard refusals) to the vault from a
// background thread, so a reveal or a sign does not wait for an SQLite transaction. The
// queue is drained every 50 ms and on destruction. When more than kAggregateAbove entries
// are waiting (a plugin in a tight loop), entries with the same instance, action, secret
// and outcome are written as one entry whose detail says how many it stands for.
//
// Thread-safe.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "secrets/secret_source.hpp"

namespace keyhold::secrets {

class AuditQueue {
 public:
  static constexpr std::size_t kAggregateAbove = 1000;

  // vault may be null: entries then go to the stderr log (names only, never values).
  explicit AuditQueue(std::shared_ptr<SharedVault> vault);
  ~AuditQueue();  // writes what is queued, then stops
  AuditQueue(const AuditQueue&) = delete;
  AuditQueue& operator=(const AuditQueue&) = delete;

  void push(vault::AuditEntry entry);
  // Writes everything queued so far before returning.
  void flush();

 private:
  void write(std::vector<vault::AuditEntry> entries);

  std::shared_ptr<SharedVault> vault_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable drained_;
  std::vector<vault::AuditEntry> pending_;
  std::size_t in_progress_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace keyhold::secrets
