// LineWriter: lines from many threads leave whole and in each thread's order, batched into
// fewer writes; a client that does not read holds senders back at the bound instead of
// letting pending output grow without limit.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "transport/stdio_transport.hpp"

using keyhold::LineWriter;
using nlohmann::json;

namespace {

struct Pipe {
  int read_fd = -1;
  int write_fd = -1;
  Pipe() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    read_fd = fds[0];
    write_fd = fds[1];
  }
  ~Pipe() {
    if (read_fd >= 0) ::close(read_fd);
    if (write_fd >= 0) ::close(write_fd);
  }
};

// Reads until end of input; returns the lines (without '\n').
std::vector<std::string> read_lines(int fd) {
  std::vector<std::string> lines;
  std::string partial;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    partial.append(buffer, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1)
      lines.emplace_back(partial, start, nl - start);
    partial.erase(0, start);
  }
  if (!partial.empty()) lines.push_back(partial);
  return lines;
}

}  // namespace

TEST_CASE("stdio writer: lines from many threads leave whole, each thread's in order") {
  Pipe pipe;
  std::vector<std::string> lines;
  std::thread reader([&] { lines = read_lines(pipe.read_fd); });
  constexpr int kThreads = 8;
  constexpr int kEach = 2000;
  {
    LineWriter writer(pipe.write_fd);
    std::vector<std::thread> senders;
    for (int t = 0; t < kThreads; ++t)
      senders.emplace_back([&writer, t] {
        for (int i = 0; i < kEach; ++i)
          writer.send(json{{"thread", t}, {"seq", i}, {"pad", std::string(t * 37 % 200, 'x')}},
                      nullptr);
      });
    for (auto& s : senders) s.join();
    writer.drain();
    CHECK(writer.healthy());
  }
  ::close(pipe.write_fd);
  pipe.write_fd = -1;
  reader.join();
  REQUIRE(lines.size() == static_cast<std::size_t>(kThreads * kEach));
  std::map<int, int> next;
  for (const auto& line : lines) {
    const json message = json::parse(line);  // throws (fails) on a torn line
    const int t = message.at("thread");
    CHECK(message.at("seq").get<int>() == next[t]);
    next[t] = message.at("seq").get<int>() + 1;
  }
  for (int t = 0; t < kThreads; ++t) CHECK(next[t] == kEach);
}

TEST_CASE("stdio writer: a client that does not read holds senders at the bound") {
  Pipe pipe;
  LineWriter writer(pipe.write_fd);
  const std::string big(1 << 20, 'b');  // 1 MiB per line
  constexpr int kLines = 24;            // three times the bound
  std::atomic<int> sent{0};
  std::thread sender([&] {
    for (int i = 0; i < kLines; ++i) {
      writer.send(json{{"i", i}, {"big", big}}, nullptr);
      ++sent;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Nobody reads: the first line blocks its writer in write(); the queue takes lines up to
  // the bound (8 MiB) and then the sender waits.
  CHECK(sent.load() < kLines);
  CHECK(sent.load() <= static_cast<int>(LineWriter::kMaxPendingBytes >> 20) + 2);
  std::vector<std::string> lines;
  std::thread reader([&] { lines = read_lines(pipe.read_fd); });
  sender.join();
  writer.drain();
  ::close(pipe.write_fd);
  pipe.write_fd = -1;
  reader.join();
  REQUIRE(lines.size() == static_cast<std::size_t>(kLines));
  for (int i = 0; i < kLines; ++i) {
    const json message = json::parse(lines[static_cast<std::size_t>(i)]);
    CHECK(message.at("i").get<int>() == i);
    CHECK(message.at("big").get_ref<const std::string&>().size() == big.size());
  }
}

namespace {

// True when fd has bytes to read within wait_ms.
bool readable(int fd, int wait_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, wait_ms) > 0;
}

}  // namespace

TEST_CASE("stdio writer: hold keeps answers back until release, which writes them at once") {
  Pipe pipe;
  LineWriter writer(pipe.write_fd);
  writer.hold();
  for (int i = 0; i < 3; ++i) writer.send(json{{"id", i}, {"result", json::object()}}, nullptr);
  writer.send(json{{"method", "notifications/progress"}, {"params", json::object()}}, nullptr);
  CHECK_FALSE(readable(pipe.read_fd, 50));
  writer.release();
  REQUIRE(readable(pipe.read_fd, 1000));
  char buffer[4096];
  const ssize_t n = ::read(pipe.read_fd, buffer, sizeof buffer);
  REQUIRE(n > 0);
  const std::string text(buffer, static_cast<std::size_t>(n));
  CHECK(std::count(text.begin(), text.end(), '\n') == 4);  // one read: one write
  // Not held any more: the next line leaves at once.
  writer.send(json{{"id", 9}, {"result", json::object()}}, nullptr);
  CHECK(readable(pipe.read_fd, 1000));
}

TEST_CASE("stdio writer: a request to the client and output past the bound are never held") {
  Pipe pipe;
  LineWriter writer(pipe.write_fd);
  writer.hold();
  writer.send(json{{"id", 1}, {"result", json::object()}}, nullptr);
  CHECK_FALSE(readable(pipe.read_fd, 20));
  // The call that sends a request waits for its answer: it leaves at once, with what was held
  // before it (order is kept).
  writer.send(json{{"id", "s1"}, {"method", "sampling/createMessage"}, {"params", json::object()}},
              nullptr);
  REQUIRE(readable(pipe.read_fd, 1000));
  char buffer[65536];
  ssize_t n = ::read(pipe.read_fd, buffer, sizeof buffer);
  REQUIRE(n > 0);
  std::string text(buffer, static_cast<std::size_t>(n));
  CHECK(text.find("\"id\":1") < text.find("sampling/createMessage"));
  // Still held: a small line waits, a large batch leaves (the pipe holds less than the bound:
  // a reader drains it).
  writer.send(json{{"id", 2}, {"result", json::object()}}, nullptr);
  CHECK_FALSE(readable(pipe.read_fd, 20));
  std::atomic<std::size_t> got{0};
  std::thread reader([&] {
    for (;;) {
      n = ::read(pipe.read_fd, buffer, sizeof buffer);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
  });
  writer.send(json{{"id", 3}, {"result", std::string(LineWriter::kMaxHeldBytes, 'x')}}, nullptr);
  // send() returned while still held: the batch was written, not kept.
  for (int i = 0; i < 100 && got.load() <= LineWriter::kMaxHeldBytes; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(got.load() > LineWriter::kMaxHeldBytes);
  writer.drain();  // ends the hold too
  ::close(pipe.write_fd);
  pipe.write_fd = -1;
  reader.join();
}

// What one read() of fd returns once it is readable (empty if nothing came within 1 s).
std::string read_once(int fd) {
  if (!readable(fd, 1000)) return {};
  char buffer[4096];
  const ssize_t n = ::read(fd, buffer, sizeof buffer);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
}

TEST_CASE("stdio writer: a thread's OutputHold keeps its answers back until the hold ends") {
  Pipe pipe;
  LineWriter writer(pipe.write_fd);
  {
    keyhold::OutputHold hold;
    for (int i = 0; i < 3; ++i) writer.send(json{{"id", i}, {"result", json::object()}}, nullptr);
    CHECK_FALSE(readable(pipe.read_fd, 50));
    // Another thread holds nothing: its line leaves at once, and takes the kept ones along
    // (they may always leave earlier than asked; order is kept).
    std::thread other([&] { writer.send(json{{"id", 7}, {"result", json::object()}}, nullptr); });
    other.join();
    const std::string first = read_once(pipe.read_fd);
    REQUIRE(first.find("\"id\":7") != std::string::npos);
    CHECK(first.find("\"id\":0") < first.find("\"id\":7"));
    // Kept again after that, and a request to the client is never kept.
    writer.send(json{{"id", 8}, {"result", json::object()}}, nullptr);
    CHECK_FALSE(readable(pipe.read_fd, 50));
    writer.send(json{{"id", "s1"}, {"method", "roots/list"}}, nullptr);
    const std::string second = read_once(pipe.read_fd);
    REQUIRE(second.find("roots/list") != std::string::npos);
    CHECK(second.find("\"id\":8") < second.find("roots/list"));
    writer.send(json{{"id", 9}, {"result", json::object()}}, nullptr);
    CHECK_FALSE(readable(pipe.read_fd, 50));
  }
  // The hold's end hands the kept line to the writer thread.
  CHECK(read_once(pipe.read_fd).find("\"id\":9") != std::string::npos);
  writer.drain();
}

TEST_CASE("stdio writer: a writer's own hold outlasts an OutputHold that ends inside it") {
  Pipe pipe;
  LineWriter writer(pipe.write_fd);
  writer.hold();
  {
    keyhold::OutputHold hold;
    writer.send(json{{"id", 1}, {"result", json::object()}}, nullptr);
  }
  CHECK_FALSE(readable(pipe.read_fd, 50));  // release() sends it, not the hold's end
  writer.release();
  CHECK(readable(pipe.read_fd, 1000));
  writer.drain();
}
