#pragma once
// The child process of a mounted MCP server: started with posix_spawn as the leader of its
// own process group, stdin and stdout as pipes to the host (the MCP stream), stderr as a
// third pipe (the caller logs it, redacted). Environment entries arrive in guarded memory
// and are zeroed once the child has started; nothing of the host's environment is passed
// unless listed.
//
// Thread-safe: write_line() serializes writers; terminate() may race with a reader, which
// then sees the end of stdout.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.hpp"
#include "keyhold/vault/secret_buffer.hpp"
#include "mount/server_transport.hpp"
#include "sandbox/task_group.hpp"

namespace keyhold::mount {

class ServerProcess {
 public:
  // Starts argv (argv[0] a path, or searched in the host's PATH) with exactly the
  // entries of env ("NAME=value", guarded). Fails with a one-line cause (kIo). When argv
  // runs the program through the keyhold-runner wrapper and the host can make a pids cgroup,
  // the server's whole tree lives in one named after `instance` (sandbox/task_group.hpp):
  // ending the server then also ends what left its process group with setsid().
  static Result<std::unique_ptr<ServerProcess>> start(const std::vector<std::string>& argv,
                                                      std::vector<vault::SecretBuffer> env,
                                                      std::string_view instance = {});
  ~ServerProcess();  // terminate()s

  // Writes the queued lines, text and a '\n' to the server's stdin; false when the server
  // is gone, has read nothing for `timeout`, or reads so slowly that the lines would take
  // longer than `timeout` plus one second per kMinReadRate bytes (then it is treated as
  // hung by the caller): stdin is held while this writes, and a server that reads a page
  // now and then must not hold every other writer for hours. The rate is low: a server
  // that takes one small request at a time drains a full queue slowly and is fine (its
  // calls meet their own call_timeout).
  static constexpr std::size_t kMinReadRate = 4 * 1024;  // bytes per second
  bool write_line(std::string_view text,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10),
                  std::size_t min_read_rate = kMinReadRate);
  // For the thread that reads the server's stdout, which must never wait for stdin (a
  // server blocked writing to its stdout would then never be read): text and a '\n' go
  // behind every line queued or being written, now when stdin is free, or by its holder
  // before it lets go; what the pipe does not take now waits for flush_stalled(). kGone
  // when the server is gone, or when it would make more than kMaxUnreadBytes wait for the
  // server (queued and urgent lines): a server that sends requests (each answered here)
  // but never reads its answers is ended, not fed memory.
  static constexpr std::size_t kMaxUnreadBytes = 16u << 20;
  ServerTransport::AtOnce queue_urgent(std::string_view text);
  // Lines that a thread which must never wait for the server (one that reads the client's
  // requests) sends: queue_line() adds text and a '\n' behind the lines queued before,
  // flush_queued() writes what the pipe takes now; neither waits. write_line() writes the
  // queue before its own line. kLater from queue_line: nothing queued, because another
  // writer holds stdin or kMaxQueuedBytes are queued already. *flush_due: the queue was
  // empty before this line (nobody has a flush of it pending).
  using AtOnce = ServerTransport::AtOnce;
  static constexpr std::size_t kMaxQueuedBytes = 1u << 20;
  AtOnce queue_line(std::string_view text, bool* flush_due);
  // kGone when the server is gone; kSent otherwise, even when part of the queue is left
  // for a later flush (the pipe is full) or another writer holds stdin (the holder then
  // writes what the pipe takes before it lets go).
  AtOnce flush_queued();
  // flush_queued(), but only for what a flush could not write (a full pipe, or stdin taken
  // at the time): the reader's tick calls it, and must not write lines that a burst still
  // holds back for one write (base/send_batch.hpp).
  AtOnce flush_stalled();
  int stdout_fd() const noexcept { return out_fd_; }
  int stderr_fd() const noexcept { return err_fd_; }
  pid_t pid() const noexcept { return pid_; }

  // Closes stdin, sends SIGTERM to the group, SIGKILL after grace, and reaps the leader.
  // Returns a description of how it ended ("exited with status 0", "killed by signal 9
  // (SIGKILL)"). Idempotent; later calls return the same text.
  std::string terminate(std::chrono::milliseconds grace = std::chrono::seconds(2));
  // Kills the whole group at once (SIGKILL) without reaping; for a server that broke the
  // protocol. The reader then sees the end of stdout. Never waits: while terminate() runs,
  // it does nothing (the server is being ended).
  void kill_group();

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  int in_fd_ = -1, out_fd_ = -1, err_fd_ = -1;
  std::unique_ptr<TaskGroup> group_;  // null where none could be made
  // Timed: terminate() waits for it in steps, killing the server while a writer waits in
  // write_line for it to read.
  std::timed_mutex write_mutex_;
  std::atomic<bool> writer_waiting_{false};  // a write_line waits for the pipe to drain
  std::string queued_;  // whole lines, the first perhaps partly written (write_mutex_)
  // A flush_queued() found write_mutex_ taken: the holder writes before it lets go.
  std::atomic<bool> flush_wanted_{false};
  std::mutex urgent_mutex_;  // taken alone, or inside write_mutex_
  std::string urgent_;       // queue_urgent()'s lines not yet in queued_ (urgent_mutex_)
  // With write_mutex_ held: moves the urgent lines behind queued_; false when that leaves
  // more than kMaxUnreadBytes unread (the server is then treated as gone).
  bool take_urgent();
  bool stalled_ = false;  // a flush left part of queued_ (write_mutex_)
  // With write_mutex_ held: writes what the pipe takes now of queued_; false on an error
  // other than a full pipe (the server is gone).
  bool write_queued_now();
  // With write_mutex_ held: the flush both flush_queued() and flush_stalled() make.
  AtOnce flush_locked();
  std::mutex end_mutex_;
  bool reaped_ = false;
  std::string ended_;
};

}  // namespace keyhold::mount
