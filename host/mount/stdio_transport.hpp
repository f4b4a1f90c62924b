#pragma once
// A mounted server that keyhold starts as a child and speaks to over its stdin and stdout,
// one JSON-RPC message per line (MCP's stdio transport); its stderr lines are the
// diagnostics. A line over max_message_bytes ends it (the server broke the protocol).
#include <memory>
#include <mutex>
#include <string>

#include "mount/line_reader.hpp"
#include "mount/server_process.hpp"
#include "mount/server_transport.hpp"

namespace keyhold::mount {

class StdioTransport final : public ServerTransport {
 public:
  // Takes a started process; max_message_bytes caps one line.
  StdioTransport(std::unique_ptr<ServerProcess> process, std::size_t max_message_bytes);

  bool send(std::string_view message, std::optional<std::int64_t> request_id,
            std::chrono::milliseconds timeout, const std::string& client_request) override;
  AtOnce queue(std::string_view message, bool* flush_due) override;
  AtOnce flush() override;
  AtOnce flush_stalled() override;
  AtOnce send_behind(std::string_view message) override;
  bool receive(std::string* message, std::optional<std::int64_t>* related) override;
  bool readable_by_callers() const override { return true; }
  Received receive_for(std::string* message, std::chrono::milliseconds timeout) override;
  Received receive_buffered(std::string* message) override;
  bool diagnostic(std::string* line) override;
  std::string close(std::chrono::milliseconds grace) override;
  void abort() override { process_->kill_group(); }
  int pid() const override { return process_->pid(); }
  std::string_view failure_hint() const override { return "; its stderr is in the log"; }

 private:
  // Returns result; on kGone it kills the server, so that the reader sees the end.
  AtOnce ended_if_gone(AtOnce result);

  std::unique_ptr<ServerProcess> process_;
  std::size_t max_message_bytes_;
  LineReader lines_;        // the current reader's (one at a time)
  LineReader diagnostics_;  // the diagnostic thread's
  std::mutex broke_mutex_;
  std::string broke_;  // why the reader ended it (guarded by broke_mutex_)
};

}  // namespace keyhold::mount
