#pragma once
// MCP over stdio: newline-delimited JSON-RPC on stdin/stdout. Nothing but whole MCP
// messages is ever written to stdout; logs go to stderr.
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>

#include "server/outbound.hpp"
#include "server/session.hpp"

namespace keyhold {

// Writes each message as one line to a file descriptor, whole and in the order send() was
// called. Lines that arrive while another thread is writing join the next write, so several
// ready responses leave in one write() (issue 21): the thread that finds the writer idle
// writes until nothing is pending; the others return at once. Pending bytes are bounded: a
// sender waits while more than kMaxPendingBytes wait for a client that does not read.
class LineWriter : public Outbound {
 public:
  static constexpr std::size_t kMaxPendingBytes = 8u << 20;

  explicit LineWriter(int fd) : fd_(fd) {}
  void send(const nlohmann::json& message, const CallContext* related) override;
  // False once a write failed (the reader went away).
  bool healthy() const;
  // Returns when every line handed to send() has been written (or the fd failed).
  void drain();

 private:
  int fd_;
  mutable std::mutex mutex_;
  std::condition_variable idle_;  // writing_ ended, or pending_ shrank
  std::string pending_;           // whole lines not yet written
  bool writing_ = false;          // a thread is in the write loop
  bool healthy_ = true;
};

// Reads newline-delimited messages from in_fd and hands each to session until end of
// input, or until stop_fd becomes readable (a signal arrived). A line longer than
// max_line_bytes is discarded as it streams in and answered with one error, so a huge
// message never sits in memory. Returns when input ends or stop is signalled.
void run_stdio(Session& session, Outbound& out, int in_fd, int stop_fd, std::size_t max_line_bytes);

}  // namespace keyhold
