#include "transport/stdio_transport.hpp"

#include <poll.h>

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

#include "base/brief_poll.hpp"
#include "base/client_wait.hpp"
#include "protocol/json_rpc.hpp"

namespace keyhold {

namespace {

// Writes all of data; false when the fd failed (EINTR is retried).
bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

namespace {

// True on the stdio reading thread while it holds the reading turn and is not running a
// call inline (a blocked inline call has its turn taken by the standby; the reader's own
// turn has no one to take it): what it sends goes to the writer thread.
thread_local bool t_on_reading_turn = false;

}  // namespace

void LineWriter::send(const nlohmann::json& message, const CallContext*) {
  const bool client_waits = message.is_object() && message.contains("method") &&
                            message.contains("id");  // a request to the client
  send_line(rpc::serialize(message), client_waits);
}

void LineWriter::send_response_text(std::string text, const CallContext&) {
  send_line(std::move(text), false);
}

void LineWriter::send_line(std::string line, bool client_waits) {
  line.push_back('\n');
  std::unique_lock lock(mutex_);
  // A thread that must not wait for the client (NoClientWait) may go past the bound; the
  // session starts no more such work while the writer is congested(), so that is limited
  // to the answers of calls already under way.
  idle_.wait(lock, [&] {
    return !healthy_ || pending_.size() < kMaxPendingBytes || NoClientWait::active();
  });
  if (!healthy_) return;
  if (pending_.empty())
    pending_.swap(line);
  else
    pending_.append(line);
  if (!client_waits && pending_.size() < kMaxHeldBytes) {
    if (held_) return;
    if (OutputHold* hold = OutputHold::current(); hold != nullptr && hold->keep(this)) return;
  }
  send_pending(lock);
}

void LineWriter::send_pending(std::unique_lock<std::mutex>& lock) {
  if (t_on_reading_turn || NoClientWait::active()) {
    hand_off(lock);  // the stdio reader must not block on a client that does not read yet
    return;
  }
  write_pending(lock);
}

void LineWriter::end_hold() noexcept {
  try {
    std::unique_lock lock(mutex_);
    if (held_) return;  // release() sends it
    // To the writer thread: a thread that holds output finishes other calls' answers and
    // must not wait for the client to read.
    hand_off(lock);
  } catch (...) {
    // No thread to hand it to and no memory: the next send() or drain() writes it.
  }
}

void LineWriter::hold() {
  std::lock_guard lock(mutex_);
  held_ = true;
}

LineWriter::~LineWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  handed_.notify_one();
  if (writer_.joinable()) writer_.join();
}

void LineWriter::release() {
  std::unique_lock lock(mutex_);
  if (!held_) return;
  held_ = false;
  hand_off(lock);
}

void LineWriter::hand_off(std::unique_lock<std::mutex>& lock) {
  if (writing_ || pending_.empty() || !healthy_) return;  // the writing thread takes it
  if (!writer_.joinable()) {
    try {
      writer_ = std::thread([this] { writer_loop(); });
    } catch (const std::system_error&) {
      write_pending(lock);  // no thread to spare: write here, as send() would
      return;
    }
  }
  writing_ = true;  // the writer thread's from here: senders append and return
  handed_off_ = true;
  handed_.notify_one();
}

void LineWriter::writer_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    handed_.wait(lock, [&] { return handed_off_ || stopping_; });
    if (!handed_off_) return;  // stopping_, nothing handed
    handed_off_ = false;
    write_owned(lock);
  }
}

void LineWriter::write_pending(std::unique_lock<std::mutex>& lock) {
  if (writing_) return;  // the writing thread takes it with its next write
  writing_ = true;
  write_owned(lock);
}

void LineWriter::write_owned(std::unique_lock<std::mutex>& lock) {
  std::string batch;
  while (healthy_ && !pending_.empty()) {
    batch.clear();
    batch.swap(pending_);
    idle_.notify_all();  // room again for senders waiting on the bound
    lock.unlock();
    const bool ok = write_all(fd_, batch);
    lock.lock();
    if (!ok) healthy_ = false;
  }
  if (!healthy_) pending_.clear();
  writing_ = false;
  idle_.notify_all();
}

bool LineWriter::congested() const {
  std::lock_guard lock(mutex_);
  return pending_.size() >= kMaxPendingBytes / 2;
}

bool LineWriter::healthy() const {
  std::lock_guard lock(mutex_);
  return healthy_;
}

void LineWriter::drain() {
  std::unique_lock lock(mutex_);
  held_ = false;
  write_pending(lock);
  idle_.wait(lock, [&] { return !writing_; });  // a hand-off counts as writing
}

namespace {

// Set by run_inline when the call it ran lost the turn: the thread stops reading.
thread_local bool t_lost_turn = false;

// Sets InlineCalls::current(), SendBatch::current() and t_on_reading_turn for the thread
// handing the session a message; clears them however handle_text() ends.
class CurrentRunner {
 public:
  CurrentRunner(InlineCalls* runner, SendBatch* batch) {
    InlineCalls::current() = runner;
    SendBatch::current() = batch;
    t_on_reading_turn = true;
  }
  ~CurrentRunner() {
    InlineCalls::current() = nullptr;
    SendBatch::current() = nullptr;
    t_on_reading_turn = false;
  }
  CurrentRunner(const CurrentRunner&) = delete;
  CurrentRunner& operator=(const CurrentRunner&) = delete;
};

}  // namespace

StdioServer::StdioServer(Session& session, LineWriter& out, int in_fd, int stop_fd,
                         std::size_t max_line_bytes)
    : session_(session),
      out_(out),
      in_fd_(in_fd),
      stop_fd_(stop_fd),
      max_line_bytes_(max_line_bytes) {}

StdioServer::~StdioServer() {
  {
    std::lock_guard lock(mutex_);
    end_locked();
  }
  if (standby_.joinable()) standby_.join();
  // No lock: every reader has seen done_ or is finishing a call; none starts another.
  for (auto& [id, reader] : readers_) reader.join();
}

void StdioServer::run() {
  std::unique_lock lock(mutex_);
  start_reader_locked();
  ended_.wait(lock, [&] { return done_; });
}

void StdioServer::end_locked() {
  done_ = true;
  turn_free_.notify_all();
  watch_.wake_all();
  ended_.notify_all();
}

void StdioServer::start_reader_locked() {
  for (const auto& id : finished_) {
    auto it = readers_.find(id);
    if (it == readers_.end()) continue;
    it->second.join();  // it has returned; only its exit is left
    readers_.erase(it);
  }
  finished_.clear();
  try {
    std::thread reader([this] { take_turns(); });
    const auto id = reader.get_id();
    readers_.emplace(id, std::move(reader));
  } catch (const std::system_error&) {
    // No thread to spare: the thread whose call holds the turn reads on when it returns.
    spdlog::warn("stdio: could not start a reading thread; input waits for the running call");
    if (readers_.empty()) end_locked();  // nobody will ever read
  }
}

void StdioServer::take_turns() {
  std::unique_lock lock(mutex_);
  for (;;) {
    ++parked_;
    turn_free_.wait(lock, [&] { return turn_ == Turn::kFree || done_; });
    --parked_;
    if (done_) break;
    turn_ = Turn::kReading;
    lock.unlock();
    const bool more = read_and_handle();
    lock.lock();
    if (!more) {
      end_locked();
      break;
    }
    // Its call ran long and lost the turn; another thread reads. Retire if enough wait.
    if (parked_ >= kMaxParked) break;
  }
  finished_.push_back(std::this_thread::get_id());
}

bool StdioServer::read_and_handle() {
  for (;;) {
    const std::optional<std::string> line = next_line();
    if (!line) return false;
    t_lost_turn = false;
    {
      CurrentRunner runner(this, &batch_);
      session_.handle_text(*line);
    }
    if (t_lost_turn) return true;
  }
}

bool StdioServer::input_ready() const {
  if (buffer_pos_ < buffer_len_) return true;
  pollfd fd{in_fd_, POLLIN, 0};
  return ::poll(&fd, 1, 0) > 0;
}

bool StdioServer::run_inline(const std::function<void()>& call, Kind kind) {
  if (kind == Kind::kWaits && input_ready()) return false;
  std::uint64_t generation = 0;
  bool wake_standby = false;
  bool no_standby = false;
  {
    std::lock_guard lock(mutex_);
    if (done_ || turn_ != Turn::kReading || inline_running_ >= kMaxInline) return false;
    ++inline_running_;
    turn_ = Turn::kInline;
    generation = ++inline_generation_;
    wake_standby = watch_.started();
    if (!standby_.joinable()) {
      try {
        standby_ = std::thread([this] { standby(); });
      } catch (const std::system_error&) {
        // Without a standby the call keeps the turn to its end, as if it were short.
        spdlog::warn("stdio: could not start the standby thread");
      }
    }
    no_standby = !standby_.joinable();
  }
  if (wake_standby) watch_.wake();
  // Answers held for the burst leave before a call that waits for another process, and
  // before any call when no standby would release them once it runs long.
  if (kind == Kind::kWaits || no_standby) out_.release();
  batch_.release();                  // requests to other processes leave before any call runs here
  InlineCalls::current() = nullptr;  // whatever the call dispatches is not inlined
  SendBatch::current() = nullptr;
  t_on_reading_turn = false;  // a blocked inline call loses its turn to the standby
  call();
  std::lock_guard lock(mutex_);
  --inline_running_;
  watch_.ended();
  if (turn_ == Turn::kInline && inline_generation_ == generation) {
    turn_ = Turn::kReading;  // still ours: read on, no wake-up
    InlineCalls::current() = this;
    SendBatch::current() = &batch_;
    t_on_reading_turn = true;
  } else {
    t_lost_turn = true;
  }
  return true;
}

void StdioServer::standby() {
  std::unique_lock lock(mutex_);
  watch_.run(
      lock, [&] { return done_; }, [&] { return turn_ == Turn::kInline; },
      [&](std::unique_lock<std::mutex>& held) {
        // The call holding the turn runs long: a parked thread, or a new one, reads on.
        turn_ = Turn::kFree;
        if (parked_ > 0)
          turn_free_.notify_one();
        else
          start_reader_locked();
        // The answers the turn held back leave now.
        held.unlock();
        out_.release();
        batch_.release();
        held.lock();
      });
}

std::optional<std::string> StdioServer::finish_line() {
  if (discarding_) {
    out_.send(rpc::make_error(nullptr, rpc::kInvalidRequest,
                              "message of " + std::to_string(discarded_) +
                                  " bytes exceeds the limit of " + std::to_string(max_line_bytes_) +
                                  " bytes"),
              nullptr);
    discarding_ = false;
    discarded_ = 0;
    line_.clear();
    return std::nullopt;
  }
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  if (line_.empty()) return std::nullopt;
  std::string line = std::move(line_);
  line_.clear();
  return line;
}

std::optional<std::string> StdioServer::next_line() {
  for (;;) {
    while (buffer_pos_ < buffer_len_) {
      std::string_view chunk(buffer_.data() + buffer_pos_, buffer_len_ - buffer_pos_);
      const auto newline = chunk.find('\n');
      const std::string_view part = chunk.substr(0, newline);
      if (discarding_) {
        discarded_ += part.size();
      } else if (line_.size() + part.size() > max_line_bytes_ + 1) {
        // One byte of slack for the CR of a CRLF line end, which is not part of the
        // message; a line over the limit without it is refused by parse_message.
        discarding_ = true;
        discarded_ = line_.size() + part.size();
        line_.clear();
        line_.shrink_to_fit();
      } else {
        line_.append(part);
      }
      if (newline == std::string_view::npos) {
        buffer_pos_ = buffer_len_;
        break;
      }
      buffer_pos_ += newline + 1;
      if (auto line = finish_line()) {
        ++lines_since_wait_;
        // More input at hand: its answers join this one's in one write (release below).
        if (buffer_pos_ < buffer_len_) {
          out_.hold();
          batch_.hold();
        }
        return line;
      }
    }
    out_.release();  // nothing more is at hand: the answers leave before waiting for input
    batch_.release();
    if (input_ended_) return std::nullopt;
    pollfd fds[2] = {{in_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const nfds_t watched = stop_fd_ >= 0 ? 2 : 1;
    // After a lone message the client's next one usually follows within its round trip:
    // poll for it a moment before sleeping (base/brief_poll.hpp).
    if (lines_since_wait_ <= 1) poll_briefly(fds, watched);
    lines_since_wait_ = 0;
    const int ready = ::poll(fds, watched, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      input_ended_ = true;
      return std::nullopt;
    }
    if (stop_fd_ >= 0 && (fds[1].revents & POLLIN)) {
      input_ended_ = true;
      return std::nullopt;
    }
    const ssize_t n = ::read(in_fd_, buffer_.data(), buffer_.size());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      input_ended_ = true;
      return std::nullopt;
    }
    if (n == 0) {  // end of input: a final line without '\n' still counts
      input_ended_ = true;
      if (!line_.empty() || discarding_) return finish_line();
      return std::nullopt;
    }
    buffer_pos_ = 0;
    buffer_len_ = static_cast<std::size_t>(n);
  }
}

}  // namespace keyhold
