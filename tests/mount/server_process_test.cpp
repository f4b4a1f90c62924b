#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "mount/line_reader.hpp"
#include "mount/server_process.hpp"
#include "mount/stdio_transport.hpp"

using keyhold::mount::LineReader;
using keyhold::mount::ServerProcess;
using keyhold::vault::SecretBuffer;

namespace {
SecretBuffer entry(const char* text) {
  SecretBuffer buffer(std::strlen(text) + 1);  // zero-filled: the terminator is there
  std::memcpy(buffer.data(), text, std::strlen(text));
  return buffer;
}
}  // namespace

TEST_CASE("a server process gets exactly the environment given, and stdin/stdout as pipes") {
  std::vector<SecretBuffer> env;
  env.push_back(entry("MOUNT_TEST_VALUE=from-the-host"));
  auto process = ServerProcess::start(
      {"/bin/sh", "-c",
       "echo \"$MOUNT_TEST_VALUE ${HOME:-no-home}\"; read line; echo \"got $line\""},
      std::move(env));
  INFO(process.status().message());
  REQUIRE(process.is_ok());
  ServerProcess& server = **process;
  LineReader out(server.stdout_fd(), 1024);
  std::string line;
  REQUIRE(out.next(&line) == LineReader::Result::kLine);
  CHECK(line == "from-the-host no-home");
  REQUIRE(server.write_line("hello"));
  REQUIRE(out.next(&line) == LineReader::Result::kLine);
  CHECK(line == "got hello");
  CHECK(server.terminate() == "exited with status 0");
  CHECK(server.terminate() == "exited with status 0");  // idempotent
  CHECK_FALSE(server.write_line("after the end"));
}

TEST_CASE("terminate ends a server that ignores stdin's end, with its whole group") {
  auto process = ServerProcess::start({"/bin/sh", "-c", "sleep 30 & sleep 30"}, {});
  REQUIRE(process.is_ok());
  ServerProcess& server = **process;
  const auto started = std::chrono::steady_clock::now();
  CHECK(server.terminate(std::chrono::milliseconds(300)) == "killed by signal 15 (SIGTERM)");
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
  LineReader out(server.stdout_fd(), 1024);
  std::string line;
  CHECK(out.next(&line) == LineReader::Result::kEnd);  // the background sleep is gone too
}

TEST_CASE("a program that cannot start is an error naming it") {
  auto process = ServerProcess::start({"/no/such/program"}, {});
  CHECK_FALSE(process.is_ok());
  CHECK(process.status().message() == "cannot start '/no/such/program': No such file or directory");
}

TEST_CASE("receive_for keeps its deadline while a server sends blank lines") {
  // A hostile server that writes "\n" every 5 ms: each blank line used to start the wait
  // again, so the caller never got back to its own limits.
  auto process =
      ServerProcess::start({"/bin/sh", "-c", "while :; do printf '\\n'; sleep 0.005; done"}, {});
  REQUIRE(process.is_ok());
  keyhold::mount::StdioTransport transport(std::move(process).value(), 1 << 20);
  std::string message;
  const auto started = std::chrono::steady_clock::now();
  CHECK(transport.receive_for(&message, std::chrono::milliseconds(50)) ==
        keyhold::mount::ServerTransport::Received::kTimeout);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));
}

TEST_CASE("receive_buffered hands out only what a read brought, blank lines skipped") {
  // A server that floods lines, blank ones between messages: the reader's loop over
  // receive_buffered() must end with what is buffered, never read on for more.
  auto process = ServerProcess::start(
      {"/bin/sh", "-c", "printf 'a\n\n \nb\n'; while :; do printf 'c\n\n'; done"}, {});
  REQUIRE(process.is_ok());
  keyhold::mount::StdioTransport transport(std::move(process).value(), 1 << 20);
  using Received = keyhold::mount::ServerTransport::Received;
  std::string message;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the pipe fills up
  REQUIRE(transport.receive_for(&message, std::chrono::seconds(5)) == Received::kMessage);
  CHECK(message == "a");
  int handed = 0;
  while (transport.receive_buffered(&message) == Received::kMessage) {
    CHECK((message == "b" || message == "c"));
    ++handed;
  }
  // Every read ends on a blank line, where a drain that reads on would go on reading. One
  // read takes at most 64 KiB: "b" and the "c\n\n" (three bytes each) after the first 7.
  CHECK(handed >= 1);
  CHECK(handed <= 1 + (64 * 1024 - 7) / 3);
  CHECK(transport.receive_buffered(&message) == Received::kTimeout);
}

TEST_CASE("queued lines leave in order, before a written line, and never wait for the server") {
  // cat echoes its stdin: what comes back is what was written, in the order written.
  auto process = ServerProcess::start({"/bin/cat"}, {});
  REQUIRE(process.is_ok());
  ServerProcess& server = **process;
  using AtOnce = ServerProcess::AtOnce;
  bool flush_due = false;
  REQUIRE(server.queue_line("one", &flush_due) == AtOnce::kSent);
  CHECK(flush_due);  // the queue was empty: this line needs a flush
  REQUIRE(server.queue_line("two", &flush_due) == AtOnce::kSent);
  CHECK_FALSE(flush_due);               // one is pending already
  REQUIRE(server.write_line("three"));  // the queue goes first
  REQUIRE(server.queue_line("four", &flush_due) == AtOnce::kSent);
  CHECK(flush_due);
  REQUIRE(server.flush_queued() == AtOnce::kSent);
  LineReader out(server.stdout_fd(), 1024);
  std::string line;
  for (const char* expected : {"one", "two", "three", "four"}) {
    REQUIRE(out.next(&line) == LineReader::Result::kLine);
    CHECK(line == expected);
  }
  server.terminate(std::chrono::milliseconds(500));
}

TEST_CASE(
    "a server that does not read: the queue holds its bound, then refuses; a flush never waits") {
  auto process = ServerProcess::start({"/bin/sh", "-c", "sleep 30"}, {});
  REQUIRE(process.is_ok());
  ServerProcess& server = **process;
  using AtOnce = ServerProcess::AtOnce;
  const std::string line(1000, 'q');
  std::size_t queued = 0;
  bool flush_due = false;
  const auto started = std::chrono::steady_clock::now();
  while (server.queue_line(line, &flush_due) == AtOnce::kSent) {
    ++queued;
    REQUIRE(server.flush_queued() == AtOnce::kSent);  // fills the pipe, then leaves the rest
    REQUIRE(queued < 10000);
  }
  // The pipe took some (64 KiB here); the queue holds at most its bound beyond that.
  CHECK(queued * (line.size() + 1) > ServerProcess::kMaxQueuedBytes);
  CHECK(queued * (line.size() + 1) < ServerProcess::kMaxQueuedBytes + (1u << 20));
  // A line that must follow its request (a cancellation) still goes, behind the queue.
  CHECK(server.queue_urgent("cancel") == AtOnce::kSent);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
  server.terminate(std::chrono::milliseconds(300));
  CHECK(server.flush_queued() == AtOnce::kSent);  // closed: what was queued is dropped
  CHECK(server.queue_line("late", &flush_due) == AtOnce::kGone);
}

TEST_CASE("a server that reads a page now and then: write_line gives up at its overall cap") {
  // Reads one pipe page (4 KiB) a second: never idle for the 2 s limit, never done.
  auto process = ServerProcess::start(
      {"/bin/sh", "-c", "while dd bs=4096 count=1 of=/dev/null status=none; do sleep 1; done"}, {});
  REQUIRE(process.is_ok());
  ServerProcess& server = **process;
  const std::string big(300 * 1024, 'w');
  const auto started = std::chrono::steady_clock::now();
  // The pipe takes 64 KiB at once; the rest at 4 KiB/s would take a minute. The cap at a
  // minimum rate of 64 KiB/s (the default, 4 KiB/s, would make this test a minute long):
  // 2 s + 300 KiB at 64 KiB/s, about 7 s.
  CHECK_FALSE(server.write_line(big, std::chrono::seconds(2), 64 * 1024));
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(took > std::chrono::seconds(4));
  CHECK(took < std::chrono::seconds(20));
  server.terminate(std::chrono::milliseconds(100));
}

TEST_CASE("terminate does not wait for a writer stuck on a server that does not read") {
  ::signal(SIGPIPE, SIG_IGN);  // as keyhold serve: a write to a killed server is EPIPE
  auto process = ServerProcess::start({"/bin/sh", "-c", "sleep 60"}, {});
  REQUIRE(process.is_ok());
  ServerProcess& server = **process;
  const std::string big(1 << 20, 'w');
  bool written = true;
  std::thread writer([&] { written = server.write_line(big, std::chrono::seconds(30)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the writer holds stdin
  const auto started = std::chrono::steady_clock::now();
  server.terminate(std::chrono::milliseconds(100));
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
  writer.join();
  CHECK_FALSE(written);  // the broken pipe let it go
}

TEST_CASE("an urgent line never waits for a writer that holds stdin, and goes behind its line") {
  // cat stops reading its stdin once nobody reads its stdout: the writer below then waits
  // holding stdin, as a mount's worker would for a server blocked on its answers.
  auto process = ServerProcess::start({"/bin/cat"}, {});
  REQUIRE(process.is_ok());
  ServerProcess& server = **process;
  using AtOnce = ServerProcess::AtOnce;
  const std::string filler(1000, 'f');
  bool flush_due = false;
  int queued = 0;
  for (; queued < 400; ++queued) {  // ~400 KB: more than both pipes hold
    REQUIRE(server.queue_line(filler, &flush_due) == AtOnce::kSent);
    REQUIRE(server.flush_queued() == AtOnce::kSent);
  }
  bool written = false;
  std::thread writer([&] { written = server.write_line("the-line", std::chrono::seconds(20)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the writer holds stdin
  const auto started = std::chrono::steady_clock::now();
  CHECK(server.queue_urgent("urgent") == AtOnce::kSent);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(500));
  // Now read the server's stdout: everything comes back, in order, the urgent line last.
  LineReader out(server.stdout_fd(), 4096);
  std::string line;
  for (int i = 0; i < queued; ++i) {
    REQUIRE(out.next(&line) == LineReader::Result::kLine);
    REQUIRE(line == filler);
  }
  REQUIRE(out.next(&line) == LineReader::Result::kLine);
  CHECK(line == "the-line");
  writer.join();
  CHECK(written);
  // Left by the writer or stalled: a flush by the reader's tick writes it.
  CHECK(server.flush_stalled() == AtOnce::kSent);
  REQUIRE(out.next(&line) == LineReader::Result::kLine);
  CHECK(line == "urgent");
  server.terminate(std::chrono::milliseconds(300));
}

TEST_CASE("a server that never reads cannot make its urgent answers grow without bound") {
  auto process = ServerProcess::start({"/bin/sh", "-c", "sleep 60"}, {});
  REQUIRE(process.is_ok());
  ServerProcess& server = **process;
  using AtOnce = ServerProcess::AtOnce;
  const std::string answer(1 << 20, 'a');  // e.g. an error echoing a 1 MiB request id
  std::size_t accepted = 0;
  AtOnce last = AtOnce::kSent;
  while ((last = server.queue_urgent(answer)) == AtOnce::kSent) {
    ++accepted;
    REQUIRE(accepted < 64);
  }
  CHECK(last == AtOnce::kGone);  // the transport then ends the server
  CHECK(accepted * (answer.size() + 1) <= ServerProcess::kMaxUnreadBytes + (1u << 16));
  server.terminate(std::chrono::milliseconds(100));
}

TEST_CASE("terminate ends a healthy server gracefully while another thread flushes") {
  for (int round = 0; round < 10; ++round) {
    auto process = ServerProcess::start({"/bin/sh", "-c", "exec cat > /dev/null"}, {});
    REQUIRE(process.is_ok());
    ServerProcess& server = **process;
    std::atomic<bool> stop{false};
    std::thread flusher([&] {  // as the reader's tick: takes stdin's lock for a moment
      while (!stop) server.flush_stalled();
    });
    const std::string ended = server.terminate(std::chrono::milliseconds(500));
    stop = true;
    flusher.join();
    CHECK(ended == "exited with status 0");  // stdin's end, never a SIGKILL
  }
}
