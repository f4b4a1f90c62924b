#include "mount/stdio_transport.hpp"

#include <chrono>

#include <spdlog/spdlog.h>

namespace keyhold::mount {

StdioTransport::StdioTransport(std::unique_ptr<ServerProcess> process,
                               std::size_t max_message_bytes)
    : process_(std::move(process)),
      max_message_bytes_(max_message_bytes),
      lines_(process_->stdout_fd(), max_message_bytes),
      diagnostics_(process_->stderr_fd(), 16 * 1024) {}

bool StdioTransport::send(std::string_view message, std::optional<std::int64_t>,
                          std::chrono::milliseconds timeout, const std::string&) {
  if (process_->write_line(message, timeout)) return true;
  process_->kill_group();  // gone or not reading: the reader ends it
  return false;
}

ServerTransport::AtOnce StdioTransport::ended_if_gone(AtOnce result) {
  if (result == AtOnce::kGone) process_->kill_group();  // as send(): the reader ends it
  return result;
}

ServerTransport::AtOnce StdioTransport::queue(std::string_view message, bool* flush_due) {
  return ended_if_gone(process_->queue_line(message, flush_due));
}

ServerTransport::AtOnce StdioTransport::flush() { return ended_if_gone(process_->flush_queued()); }

ServerTransport::AtOnce StdioTransport::flush_stalled() {
  return ended_if_gone(process_->flush_stalled());
}

ServerTransport::AtOnce StdioTransport::send_behind(std::string_view message) {
  return ended_if_gone(process_->queue_urgent(message));
}

bool StdioTransport::receive(std::string* message, std::optional<std::int64_t>* related) {
  related->reset();  // stdio carries no link
  return receive_for(message, std::chrono::milliseconds(-1)) == Received::kMessage;
}

ServerTransport::Received StdioTransport::receive_for(std::string* message,
                                                      std::chrono::milliseconds timeout) {
  // One deadline for the call: blank lines sent every few ms must not renew the wait.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto got =
        timeout.count() < 0 ? lines_.next(message) : lines_.next_until(message, deadline);
    if (got == LineReader::Result::kTimeout) return Received::kTimeout;
    if (got == LineReader::Result::kEnd) return Received::kEnd;
    if (got == LineReader::Result::kTooLong) {
      std::lock_guard lock(broke_mutex_);
      broke_ = "it sent a message over max_message_bytes (" + std::to_string(max_message_bytes_) +
               " bytes)";
      process_->kill_group();
      return Received::kEnd;
    }
    if (message->find_first_not_of(" \t") != std::string::npos) return Received::kMessage;
  }
}

ServerTransport::Received StdioTransport::receive_buffered(std::string* message) {
  // next() returns a buffered line before it would read; blank lines are skipped as by
  // receive_for(), but only those already read.
  while (lines_.line_buffered()) {
    if (lines_.next(message) != LineReader::Result::kLine) return Received::kEnd;
    if (message->find_first_not_of(" \t") != std::string::npos) return Received::kMessage;
  }
  return Received::kTimeout;
}

bool StdioTransport::diagnostic(std::string* line) {
  for (;;) {
    const auto got = diagnostics_.next(line);
    if (got == LineReader::Result::kEnd) return false;
    if (got == LineReader::Result::kLine) return true;
    *line = "(a line over 16 KiB, left out)";
    return true;
  }
}

std::string StdioTransport::close(std::chrono::milliseconds grace) {
  const std::string how = process_->terminate(grace);
  std::lock_guard lock(broke_mutex_);
  return broke_.empty() ? how : broke_ + "; " + how;
}

}  // namespace keyhold::mount
