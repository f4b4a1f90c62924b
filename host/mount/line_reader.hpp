#pragma once
// Reads newline-delimited messages from a descriptor with a size cap, for the stdout of
// a mounted server (which is not trusted): a line longer than the cap is never held in
// memory whole; it is reported as too long once and its bytes are skipped to its end.
//
// Not thread-safe: one thread at a time reads (the caller hands it over under a lock).
#include <chrono>
#include <cstddef>
#include <string>

namespace keyhold::mount {

class LineReader {
 public:
  enum class Result {
    kLine,     // *line holds one line without its '\n' (a trailing '\r' removed)
    kTooLong,  // a line exceeded max_bytes; it is skipped
    kEnd,      // end of stream or a read error; a last line without '\n' is dropped
    kTimeout,  // (next with a timeout) nothing whole arrived in time
  };
  // fd stays owned by the caller.
  LineReader(int fd, std::size_t max_bytes) : fd_(fd), max_bytes_(max_bytes) {}
  // Blocks until a line, a too-long line or the end.
  Result next(std::string* line) { return next(line, -1); }
  // The same, returning within about timeout_ms (-1: no limit) even while bytes keep
  // coming without a newline; kTimeout when no whole line came in time. A partial line
  // read so far stays buffered for the next call.
  Result next(std::string* line, int timeout_ms);
  // The same with a deadline: a caller that loops over next() (skipping blank lines, say)
  // keeps one wait for all of it.
  Result next_until(std::string* line, std::chrono::steady_clock::time_point deadline);
  // True when next() would return a line read already, without reading the descriptor.
  bool line_buffered() const {
    return !skipping_ && buffer_.find('\n', scanned_) != std::string::npos;
  }

 private:
  // next() and next_until(): deadline null waits without limit.
  Result read(std::string* line, const std::chrono::steady_clock::time_point* deadline);

  // The bytes before end were handed out (or skipped).
  void consume(std::size_t end);

  int fd_;
  std::size_t max_bytes_;
  std::string buffer_;  // from start_: bytes read and not yet handed out
  std::size_t start_ = 0;
  std::size_t scanned_ = 0;  // buffer_[start_, scanned_) is known to hold no '\n'
  bool skipping_ = false;    // inside a too-long line
  bool line_came_ = false;   // the last read() returned a line: another may follow soon
};

}  // namespace keyhold::mount
