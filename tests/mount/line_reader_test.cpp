#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "mount/line_reader.hpp"

using keyhold::mount::LineReader;

namespace {
// Writes text to a pipe from another thread and returns the read end.
int pipe_with(std::string text) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::thread([fd = fds[1], text = std::move(text)] {
    std::size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::close(fd);
  }).detach();
  return fds[0];
}
}  // namespace

TEST_CASE("lines come out one by one, a carriage return dropped, an unfinished tail not") {
  const int fd = pipe_with("{\"a\":1}\r\n\n{\"b\":2}\npartial");
  LineReader reader(fd, 100);
  std::string line;
  REQUIRE(reader.next(&line) == LineReader::Result::kLine);
  CHECK(line == "{\"a\":1}");
  REQUIRE(reader.next(&line) == LineReader::Result::kLine);
  CHECK(line.empty());
  REQUIRE(reader.next(&line) == LineReader::Result::kLine);
  CHECK(line == "{\"b\":2}");
  CHECK(reader.next(&line) == LineReader::Result::kEnd);
  ::close(fd);
}

TEST_CASE("a line over the cap is reported once and skipped, the next line still arrives") {
  const int fd = pipe_with(std::string(1 << 20, 'x') + "\nafter\n");
  LineReader reader(fd, 1000);
  std::string line;
  CHECK(reader.next(&line) == LineReader::Result::kTooLong);
  REQUIRE(reader.next(&line) == LineReader::Result::kLine);
  CHECK(line == "after");
  CHECK(reader.next(&line) == LineReader::Result::kEnd);
  ::close(fd);
}

TEST_CASE("with a timeout: nothing yet is kTimeout, a partial line waits for its end") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  LineReader reader(fds[0], 100);
  std::string line;
  CHECK(reader.next(&line, 10) == LineReader::Result::kTimeout);
  REQUIRE(::write(fds[1], "{\"a\":", 5) == 5);
  CHECK(reader.next(&line, 10) == LineReader::Result::kTimeout);  // the partial line stays
  REQUIRE(::write(fds[1], "1}\n{\"b\"", 7) == 7);
  REQUIRE(reader.next(&line, 10) == LineReader::Result::kLine);
  CHECK(line == "{\"a\":1}");
  CHECK(reader.next(&line, 10) == LineReader::Result::kTimeout);
  REQUIRE(::write(fds[1], ":2}\n", 4) == 4);
  ::close(fds[1]);
  REQUIRE(reader.next(&line, 10) == LineReader::Result::kLine);
  CHECK(line == "{\"b\":2}");
  CHECK(reader.next(&line, 10) == LineReader::Result::kEnd);
  ::close(fds[0]);
}

TEST_CASE("with a timeout: bytes trickling without a newline do not extend the wait") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  LineReader reader(fds[0], 1 << 20);
  std::atomic<bool> stop{false};
  std::thread trickle([&] {  // a byte every 5 ms, never a newline
    while (!stop) {
      if (::write(fds[1], "x", 1) != 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  std::string line;
  const auto started = std::chrono::steady_clock::now();
  CHECK(reader.next(&line, 50) == LineReader::Result::kTimeout);
  const auto waited = std::chrono::steady_clock::now() - started;
  stop = true;
  trickle.join();
  // Without one deadline for the call it waited until the line passed 1 MiB (over an hour).
  CHECK(waited < std::chrono::seconds(2));
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_CASE("line_buffered says whether the next line was read already, never reading for it") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  LineReader reader(fds[0], 100);
  CHECK_FALSE(reader.line_buffered());
  REQUIRE(::write(fds[1], "one\ntwo\nthr", 11) == 11);
  std::string line;
  REQUIRE(reader.next(&line, 1000) == LineReader::Result::kLine);
  CHECK(line == "one");
  CHECK(reader.line_buffered());  // "two" came in the same read
  REQUIRE(reader.next(&line, 0) == LineReader::Result::kLine);
  CHECK(line == "two");
  CHECK_FALSE(reader.line_buffered());  // "thr" is not a whole line
  REQUIRE(::write(fds[1], "ee\n", 3) == 3);
  CHECK_FALSE(reader.line_buffered());  // in the pipe, not read yet
  REQUIRE(reader.next(&line, 1000) == LineReader::Result::kLine);
  CHECK(line == "three");
  ::close(fds[1]);
  ::close(fds[0]);
}

TEST_CASE("lines cut anywhere by the reads, some over the cap: every one in order, once") {
  std::mt19937 rng(5);
  std::vector<std::string> lines;
  std::string text;
  for (int i = 0; i < 3000; ++i) {
    // A line over the cap is told apart once the bytes held without a newline pass it: one
    // longer than a read (64 KiB) and the cap always is.
    const std::size_t length = rng() % 50 == 0 ? 70000 + rng() % 20000 : rng() % 300;
    lines.push_back("L" + std::to_string(i) + ":" + std::string(length, 'x'));
    text += lines.back() + (rng() % 4 == 0 ? "\r\n" : "\n");
  }
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  // Written in pieces of any size with pauses between, so reads end inside lines.
  std::thread writer([fd = fds[1], text, seed = rng()] {
    std::mt19937 r(seed);
    std::size_t done = 0;
    while (done < text.size()) {
      const std::size_t piece = std::min<std::size_t>(text.size() - done, 1 + r() % 9000);
      const ssize_t n = ::write(fd, text.data() + done, piece);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
      if (r() % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ::close(fd);
  });
  LineReader reader(fds[0], 1000);
  std::string line;
  for (const std::string& expected : lines) {
    INFO(expected.substr(0, 12));
    if (expected.size() > 1000) {
      REQUIRE(reader.next(&line, 5000) == LineReader::Result::kTooLong);
      continue;
    }
    REQUIRE(reader.next(&line, 5000) == LineReader::Result::kLine);
    REQUIRE(line == expected);
  }
  CHECK(reader.next(&line) == LineReader::Result::kEnd);
  writer.join();
  ::close(fds[0]);
}
