// The pids cgroup of an isolated instance (sandbox/task_group.hpp): a task cap over the
// whole tree, and one kill that also ends a child that left the process group. Needs a
// writable pids hierarchy (root or a delegated subtree); elsewhere it says so and stops.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "sandbox/task_group.hpp"

namespace {

// The state letter of a process, or '\0' when it is gone ('Z': ended, not reaped).
char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? '\0' : stat[paren + 2];
}

bool ended(pid_t pid) {
  const char state = process_state(pid);
  return state == '\0' || state == 'Z';
}

}  // namespace

TEST_CASE("task group: caps the tree's tasks and kills a setsid() grandchild with it") {
  auto group = keyhold::TaskGroup::create("unit test/../x", 8);
  if (!group.is_ok()) {
    WARN("no writable pids cgroup here: " << group.status().message());
    return;
  }
  CHECK(group.value()->describe().find("8 tasks") != std::string::npos);
  // The child joins as keyhold-runner does: "0" through open_for_child, single-threaded.
  auto join = group.value()->open_for_child();
  REQUIRE(join.is_ok());
  int report[2];
  REQUIRE(::pipe(report) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (::write(join.value(), "0", 1) != 1) ::_exit(1);
    const pid_t middle = ::fork();
    if (middle == 0) {
      ::setsid();  // leaves the process group and session
      const pid_t grandchild = ::fork();
      if (grandchild == 0)
        for (;;) ::pause();
      [[maybe_unused]] auto n = ::write(report[1], &grandchild, sizeof grandchild);
      ::_exit(0);
    }
    ::waitpid(middle, nullptr, 0);
    int made = 0;
    for (int i = 0; i < 20; ++i) {
      const pid_t p = ::fork();
      if (p < 0) break;
      if (p == 0)
        for (;;) ::pause();
      ++made;
    }
    [[maybe_unused]] auto n = ::write(report[1], &made, sizeof made);
    for (;;) ::pause();
  }
  ::close(join.value());
  pid_t grandchild = -1;
  int made = -1;
  REQUIRE(::read(report[0], &grandchild, sizeof grandchild) == sizeof grandchild);
  REQUIRE(::read(report[0], &made, sizeof made) == sizeof made);
  for (int fd : {report[0], report[1]}) ::close(fd);
  CHECK(made < 20);  // 8 tasks: the child, its grandchild and at most 6 more
  CHECK(made >= 1);
  CHECK(group.value()->size() >= 2);
  REQUIRE_FALSE(ended(grandchild));

  group.value()->kill_all();
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  for (int i = 0; i < 100 && !ended(grandchild); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(ended(grandchild));
  CHECK(group.value()->size() == 0);
}

TEST_CASE("task group: a group left by a host that is gone is emptied and removed") {
  auto group = keyhold::TaskGroup::create("stale-check", 0);
  if (!group.is_ok()) {
    WARN("no writable pids cgroup here: " << group.status().message());
    return;
  }
  CHECK(group.value()->describe().find("no task cap") != std::string::npos);
  // "pids cgroup vN (<dir>/keyhold-...): ..." names the directory; a sibling stands in for
  // the group of a host that died: its pid is one that just ended.
  const std::string line = group.value()->describe();
  const auto open = line.find('('), close = line.find(')');
  const std::string dir = line.substr(open + 1, close - open - 1);
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  const std::string stale =
      dir.substr(0, dir.rfind('/')) + "/keyhold-" + std::to_string(dead) + "-gone-1";
  REQUIRE(::mkdir(stale.c_str(), 0700) == 0);
  const pid_t left = ::fork();
  if (left == 0)
    for (;;) ::pause();
  {
    std::ofstream procs(stale + "/cgroup.procs");
    procs << left;
  }
  keyhold::TaskGroup::remove_stale();
  int status = 0;
  REQUIRE(::waitpid(left, &status, 0) == left);
  CHECK(WIFSIGNALED(status));
  CHECK(::access(stale.c_str(), F_OK) != 0);
  CHECK(::access(dir.c_str(), F_OK) == 0);  // this host's own group stays
}
