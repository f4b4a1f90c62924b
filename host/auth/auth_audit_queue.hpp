#pragma once
// AuthAuditQueue: hands audit entries of refused HTTP requests to a background thread, so
// a flood of bad requests never makes a connection thread wait for the vault. The queue is
// bounded; entries that do not fit are counted and recorded as one summary entry, so the
// audit trail still says how many failures there were.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "keyhold/vault/types.hpp"

namespace keyhold::auth {

class AuthAuditQueue {
 public:
  using Sink = std::function<void(const vault::AuditEntry&)>;

  // sink is called on the queue's own thread, one entry at a time.
  explicit AuthAuditQueue(Sink sink, std::size_t capacity = 4096);
  // Writes every queued entry, then stops the thread.
  ~AuthAuditQueue();
  AuthAuditQueue(const AuthAuditQueue&) = delete;
  AuthAuditQueue& operator=(const AuthAuditQueue&) = delete;

  // Queues one entry; never blocks on I/O.
  void push(vault::AuditEntry entry);

 private:
  void run();

  Sink sink_;
  std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<vault::AuditEntry> queue_;
  std::size_t dropped_ = 0;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once everything above is ready
};

}  // namespace keyhold::auth
