#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <string>

#include "mount/line_reader.hpp"
#include "mount/server_process.hpp"

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
  std::string error;
  auto process = ServerProcess::start(
      {"/bin/sh", "-c",
       "echo \"$MOUNT_TEST_VALUE ${HOME:-no-home}\"; read line; echo \"got $line\""},
      std::move(env), &error);
  INFO(error);
  REQUIRE(process);
  LineReader out(process->stdout_fd(), 1024);
  std::string line;
  REQUIRE(out.next(&line) == LineReader::Result::kLine);
  CHECK(line == "from-the-host no-home");
  REQUIRE(process->write_line("hello"));
  REQUIRE(out.next(&line) == LineReader::Result::kLine);
  CHECK(line == "got hello");
  CHECK(process->terminate() == "exited with status 0");
  CHECK(process->terminate() == "exited with status 0");  // idempotent
  CHECK_FALSE(process->write_line("after the end"));
}

TEST_CASE("terminate ends a server that ignores stdin's end, with its whole group") {
  std::string error;
  auto process = ServerProcess::start({"/bin/sh", "-c", "sleep 30 & sleep 30"}, {}, &error);
  REQUIRE(process);
  const auto started = std::chrono::steady_clock::now();
  CHECK(process->terminate(std::chrono::milliseconds(300)) == "killed by signal 15 (SIGTERM)");
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
  LineReader out(process->stdout_fd(), 1024);
  std::string line;
  CHECK(out.next(&line) == LineReader::Result::kEnd);  // the background sleep is gone too
}

TEST_CASE("a program that cannot start is an error naming it") {
  std::string error;
  CHECK_FALSE(ServerProcess::start({"/no/such/program"}, {}, &error));
  CHECK(error == "cannot start '/no/such/program': No such file or directory");
}
