// LineWriter: lines from many threads leave whole and in each thread's order, batched into
// fewer writes; a client that does not read holds senders back at the bound instead of
// letting pending output grow without limit.
#include <fcntl.h>
#include <unistd.h>

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
