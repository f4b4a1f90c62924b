#include "mount/line_reader.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "base/brief_poll.hpp"

namespace keyhold::mount {

LineReader::Result LineReader::next(std::string* line, int timeout_ms) {
  if (timeout_ms < 0) return read(line, nullptr);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  return read(line, &deadline);
}

LineReader::Result LineReader::next_until(std::string* line,
                                          std::chrono::steady_clock::time_point deadline) {
  return read(line, &deadline);
}

void LineReader::consume(std::size_t end) {
  if (end == buffer_.size()) {
    buffer_.clear();
    start_ = scanned_ = 0;
  } else {
    start_ = scanned_ = end;
  }
}

LineReader::Result LineReader::read(std::string* line,
                                    const std::chrono::steady_clock::time_point* deadline) {
  // One deadline for the whole call: a server that trickles bytes without a newline must
  // not keep the caller (who watches its own limits between calls) here past it.
  for (;;) {
    const std::size_t nl = buffer_.find('\n', scanned_);
    if (nl != std::string::npos) {
      if (skipping_) {  // the end of a too-long line: drop it, go on with the next
        consume(nl + 1);
        skipping_ = false;
        continue;
      }
      line->assign(buffer_, start_, nl - start_);
      if (!line->empty() && line->back() == '\r') line->pop_back();
      consume(nl + 1);
      line_came_ = true;
      return Result::kLine;
    }
    scanned_ = buffer_.size();
    if (buffer_.size() - start_ > max_bytes_) {
      buffer_.clear();
      start_ = scanned_ = 0;
      if (!skipping_) {
        skipping_ = true;
        return Result::kTooLong;
      }
    }
    if (deadline != nullptr) {
      pollfd pfd{fd_, POLLIN, 0};
      // Right after a line (an answer, say), the next often follows within a moment: poll
      // for it before sleeping. Not on idle ticks, nor when the deadline is that close.
      int ready = 0;
      if (line_came_ && *deadline - std::chrono::steady_clock::now() > brief_poll_span())
        ready = poll_briefly(&pfd, 1) ? 1 : 0;
      line_came_ = false;
      while (ready == 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              *deadline - std::chrono::steady_clock::now())
                              .count();
        ready = ::poll(&pfd, 1, static_cast<int>(std::max<long long>(0, left)));
        if (ready < 0 && errno == EINTR) {
          ready = 0;
          continue;
        }
        if (ready == 0) return Result::kTimeout;
      }
      if (ready < 0) return Result::kEnd;
    }
    // The lines handed out leave the buffer here, once per read rather than once per line
    // (a read in a pipelined burst brings hundreds).
    if (start_ > 0) {
      buffer_.erase(0, start_);
      scanned_ -= start_;
      start_ = 0;
    }
    char chunk[64 * 1024];
    ssize_t n;
    do {
      n = ::read(fd_, chunk, sizeof chunk);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return Result::kEnd;
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

}  // namespace keyhold::mount
