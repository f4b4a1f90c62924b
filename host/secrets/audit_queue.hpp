#pragma once
// Writes the host's audit entries (handle operations, guard refusals, refused HTTP
// requests) from a background thread, so a reveal, a sign or a connection thread never
// waits for an SQLite transaction. The queue is drained every 50 ms and on destruction,
// one batch at a time. When more than kAggregateAbove entries are waiting (a plugin in a
// tight loop, a flood of bad requests), entries with the same instance, action, secret
// and outcome are written as one entry whose detail says how many it stands for. A queue
// built with a capacity also refuses entries beyond it and writes one summary entry
// saying how many it did not itemise.
//
// Thread-safe.
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "secrets/secret_source.hpp"

namespace keyhold::secrets {

class AuditQueue {
 public:
  static constexpr std::size_t kAggregateAbove = 1000;
  // Writes a batch, in order; called on the queue's thread only.
  using Sink = std::function<void(std::span<const vault::AuditEntry>)>;

  // Into vault, one transaction per batch; vault may be null: entries then go to the
  // stderr log (names only, never values). Unbounded.
  explicit AuditQueue(std::shared_ptr<SharedVault> vault);
  // Into sink. At most capacity entries wait (0: unbounded); the rest are counted and
  // written as overflow_summary with "<count> further entries not itemised (audit queue
  // full): " put before its detail.
  AuditQueue(Sink sink, std::size_t capacity, vault::AuditEntry overflow_summary);
  ~AuditQueue();  // writes what is queued, then stops
  AuditQueue(const AuditQueue&) = delete;
  AuditQueue& operator=(const AuditQueue&) = delete;

  void push(vault::AuditEntry entry);
  // Writes everything queued so far before returning.
  void flush();

 private:
  void start();
  void write(std::vector<vault::AuditEntry> entries, std::size_t dropped);

  Sink sink_;
  std::size_t capacity_ = 0;
  vault::AuditEntry overflow_summary_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable drained_;
  std::vector<vault::AuditEntry> pending_;
  std::size_t dropped_ = 0;
  std::size_t in_progress_ = 0;
  bool stop_ = false;
  std::thread thread_;  // last: starts once everything above is ready
};

}  // namespace keyhold::secrets
