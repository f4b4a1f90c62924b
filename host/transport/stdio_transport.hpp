#pragma once
// MCP over stdio: newline-delimited JSON-RPC on stdin/stdout. Nothing but whole MCP
// messages is ever written to stdout; logs go to stderr.
#include <mutex>

#include "server/outbound.hpp"
#include "server/session.hpp"

namespace keyhold {

// Writes each message as one line to a file descriptor, whole, under a lock.
class LineWriter : public Outbound {
 public:
  explicit LineWriter(int fd) : fd_(fd) {}
  void send(const nlohmann::json& message, const CallContext* related) override;
  // False once a write failed (the reader went away).
  bool healthy() const;

 private:
  int fd_;
  mutable std::mutex mutex_;
  bool healthy_ = true;
};

// Reads newline-delimited messages from in_fd and hands each to session until end of
// input, or until stop_fd becomes readable (a signal arrived). A line longer than
// max_line_bytes is discarded as it streams in and answered with one error, so a huge
// message never sits in memory. Returns when input ends or stop is signalled.
void run_stdio(Session& session, Outbound& out, int in_fd, int stop_fd, std::size_t max_line_bytes);

}  // namespace keyhold
