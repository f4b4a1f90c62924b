#include "transport/stdio_transport.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>

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

void LineWriter::send(const nlohmann::json& message, const CallContext*) {
  std::string line = rpc::serialize(message);
  line.push_back('\n');
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return !healthy_ || pending_.size() < kMaxPendingBytes; });
  if (!healthy_) return;
  if (pending_.empty())
    pending_.swap(line);
  else
    pending_.append(line);
  if (writing_) return;  // the writing thread takes it with its next write
  writing_ = true;
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
  pending_.clear();
  writing_ = false;
  idle_.notify_all();
}

bool LineWriter::healthy() const {
  std::lock_guard lock(mutex_);
  return healthy_;
}

void LineWriter::drain() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return !writing_; });
}

void run_stdio(Session& session, Outbound& out, int in_fd, int stop_fd,
               std::size_t max_line_bytes) {
  std::string line;
  bool discarding = false;  // inside an over-long line
  std::size_t discarded = 0;
  char buffer[64 * 1024];
  auto finish_line = [&] {
    if (discarding) {
      out.send(rpc::make_error(nullptr, rpc::kInvalidRequest,
                               "message of " + std::to_string(discarded) +
                                   " bytes exceeds the limit of " + std::to_string(max_line_bytes) +
                                   " bytes"),
               nullptr);
      discarding = false;
      discarded = 0;
    } else {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) session.handle_text(line);
    }
    line.clear();
  };
  for (;;) {
    pollfd fds[2] = {{in_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int ready = ::poll(fds, stop_fd >= 0 ? 2 : 1, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (stop_fd >= 0 && (fds[1].revents & POLLIN)) return;
    ssize_t n = ::read(in_fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return;
    }
    if (n == 0) {  // end of input: a final line without '\n' still counts
      if (!line.empty() || discarding) finish_line();
      return;
    }
    std::string_view chunk(buffer, static_cast<std::size_t>(n));
    while (!chunk.empty()) {
      const auto newline = chunk.find('\n');
      std::string_view part = chunk.substr(0, newline);
      if (discarding) {
        discarded += part.size();
      } else if (line.size() + part.size() > max_line_bytes + 1) {
        // One byte of slack for the CR of a CRLF line end, which is not part of the
        // message; a line over the limit without it is refused by parse_message.
        discarding = true;
        discarded = line.size() + part.size();
        line.clear();
        line.shrink_to_fit();
      } else {
        line.append(part);
      }
      if (newline == std::string_view::npos) break;
      finish_line();
      chunk.remove_prefix(newline + 1);
    }
  }
}

}  // namespace keyhold
