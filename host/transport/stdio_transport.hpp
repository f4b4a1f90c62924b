#pragma once
// MCP over stdio: newline-delimited JSON-RPC on stdin/stdout. Nothing but whole MCP
// messages is ever written to stdout; logs go to stderr.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/inline_watch.hpp"
#include "base/output_hold.hpp"
#include "base/send_batch.hpp"
#include "server/inline_calls.hpp"
#include "server/outbound.hpp"
#include "server/session.hpp"

namespace keyhold {

// Writes each message as one line to a file descriptor, whole and in the order send() was
// called. Lines that arrive while another thread is writing join the next write, so several
// ready responses leave in one write() (issue 21): the thread that finds the writer idle
// writes until nothing is pending; the others return at once. Pending bytes are bounded: a
// sender waits while more than kMaxPendingBytes wait for a client that does not read.
//
// hold() keeps lines back until release() (issue 21): the stdio reader holds while it works
// through messages it has already read, so the answers to a pipelined burst leave in one
// write and wake the client once, instead of once per answer. A request to the client
// (sampling, elicitation, roots: a message with a method and an id) is never held, since the
// call that sent it waits for the answer; nor is output beyond kMaxHeldBytes.
//
// A thread that holds an OutputHold (base/output_hold.hpp) has its lines kept back the same
// way until its hold ends: a reader that finishes the replies of one read of a runner's
// channel or a mounted server's stdout, whose answers then leave in one write.
//
// The stdio reading thread never writes: what it releases, and what it sends itself while
// it holds the reading turn outside an inline call, goes to the writer's own thread. A
// client that writes a long burst before it reads any answer would otherwise block the
// reader in write() while the client waits for it to read.
class LineWriter : public Outbound, private HeldOutput {
 public:
  static constexpr std::size_t kMaxPendingBytes = 8u << 20;
  static constexpr std::size_t kMaxHeldBytes = 256u << 10;

  explicit LineWriter(int fd) : fd_(fd) {}
  // Joins the writer thread: call drain() first (it waits for a client that reads).
  ~LineWriter();
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;
  void send(const nlohmann::json& message, const CallContext* related) override;
  void send_response_text(std::string text, const CallContext& request) override;
  // Lines sent from now on wait for release() (or one of the exceptions above).
  void hold();
  // Ends hold() and hands what it kept back to the writer thread (unless a thread is
  // writing already: that one takes it). Never blocks on the file descriptor.
  void release();
  // False once a write failed (the reader went away).
  bool healthy() const;
  // Half of kMaxPendingBytes or more is waiting for the client.
  bool congested() const override;
  // Returns when every line handed to send() has been written (or the fd failed).
  void drain();

 private:
  // An OutputHold that kept lines of this writer ended: they go to the writer thread.
  void end_hold() noexcept override;
  // Writes pending_ here, or hands it to the writer thread when this thread must not block
  // on the client. lock holds mutex_.
  // Queues one message (without its newline); client_waits: a request to the client,
  // never held back.
  void send_line(std::string line, bool client_waits);
  void send_pending(std::unique_lock<std::mutex>& lock);
  // Writes pending_ until it is empty, unless another thread is writing. lock holds mutex_.
  void write_pending(std::unique_lock<std::mutex>& lock);
  // The write loop of the thread that set writing_; clears it when pending_ is empty.
  void write_owned(std::unique_lock<std::mutex>& lock);
  // Gives pending_ to the writer thread (started on first use) unless a thread is writing.
  void hand_off(std::unique_lock<std::mutex>& lock);
  void writer_loop();  // the writer thread: writes what hand_off() gives it

  int fd_;
  mutable std::mutex mutex_;
  std::condition_variable idle_;    // writing_ ended, or pending_ shrank
  std::condition_variable handed_;  // handed_off_ or stopping_
  std::string pending_;             // whole lines not yet written
  bool writing_ = false;            // a thread is in the write loop (or is handed it)
  bool held_ = false;               // hold() without release()
  bool handed_off_ = false;         // hand_off() gave the writer thread pending_
  bool stopping_ = false;           // the destructor runs
  bool healthy_ = true;
  std::thread writer_;  // started by the first hand_off()
};

// Serves MCP over stdio: reads newline-delimited messages from in_fd and hands each to the
// session until end of input, or until stop_fd becomes readable (a signal arrived). A line
// longer than max_line_bytes is discarded as it streams in and answered with one error, so
// a huge message never sits in memory.
//
// Leader/followers (issue 21): one thread at a time holds the turn to read. When a message
// is a call, the thread that read it runs it inline, still holding the turn, so a short
// call wakes no second thread. A call that runs longer than kInlineFor has the turn taken
// by the standby thread and a parked (or new) thread reads on, so calls still run side by
// side and a cancellation is read within about kInlineFor. At most kMaxInline calls run
// inline at once; beyond that a call goes to the session's worker pool, and so does a call
// that waits for another process while more input is ready (pipelined calls to a runner
// overlap on the workers instead of queueing behind each other's round trips).
class StdioServer final : public InlineCalls {
 public:
  static constexpr std::size_t kMaxInline = 4;
  static constexpr std::size_t kMaxParked = 2;
  static constexpr std::chrono::milliseconds kInlineFor{1};
  static constexpr std::chrono::milliseconds kStandbyIdle{200};  // see InlineWatch

  // session and out must outlive the server.
  // The reading thread holds out (LineWriter::hold) while it handles messages it has read
  // and releases it before it waits for more input, or when its call loses the turn. It
  // holds its SendBatch the same way (requests that calls send to mounted servers), and
  // releases that one also before any call runs inline.
  StdioServer(Session& session, LineWriter& out, int in_fd, int stop_fd,
              std::size_t max_line_bytes);
  // Joins every thread it started. Destroy it after run() returned and session.close()
  // (which waits for the calls still running inline), before the session.
  ~StdioServer();
  StdioServer(const StdioServer&) = delete;
  StdioServer& operator=(const StdioServer&) = delete;

  // Returns when input ends or stop is signalled. The calling thread reads nothing.
  void run();

  bool run_inline(const std::function<void()>& call, Kind kind) override;

 private:
  enum class Turn { kFree, kReading, kInline };

  void take_turns();                       // the loop of every reading thread
  bool read_and_handle();                  // holds the turn; false at end of input
  std::optional<std::string> next_line();  // holds the turn; nullopt at end of input
  std::optional<std::string> finish_line();
  bool input_ready() const;  // holds the turn: a message, or bytes of one, wait
  void standby();
  void start_reader_locked();
  void end_locked();

  Session& session_;
  LineWriter& out_;
  const int in_fd_;
  const int stop_fd_;
  const std::size_t max_line_bytes_;

  // Input state, touched only by the thread holding the turn (handed over under mutex_).
  std::string line_;
  bool discarding_ = false;  // inside an over-long line
  std::size_t discarded_ = 0;
  std::vector<char> buffer_ = std::vector<char>(64 * 1024);
  std::size_t buffer_pos_ = 0;
  std::size_t buffer_len_ = 0;
  bool input_ended_ = false;
  std::size_t lines_since_wait_ = 0;  // lines handed out since next_line() last waited
  SendBatch batch_;                   // see the constructor

  std::mutex mutex_;
  std::condition_variable turn_free_;
  std::condition_variable ended_;
  Turn turn_ = Turn::kFree;
  std::uint64_t inline_generation_ = 0;  // of the call holding the turn (kInline)
  std::size_t inline_running_ = 0;       // calls running inline, with or without the turn
  std::size_t parked_ = 0;               // threads waiting for the turn
  bool done_ = false;
  InlineWatch watch_{kInlineFor, kStandbyIdle};
  std::thread standby_;
  std::map<std::thread::id, std::thread> readers_;
  std::vector<std::thread::id> finished_;  // readers that returned, to be joined
};

}  // namespace keyhold
