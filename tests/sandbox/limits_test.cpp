// Resource limits. RLIMIT_NPROC counts the processes of the real uid and the kernel never
// enforces it for uid 0, so the fork bomb runs as nobody; a second test pins down that a
// root sandbox does not cap processes.

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <vector>

#include "sandboxed_child.hpp"

using namespace keyhold::sandbox;
using namespace keyhold::sandbox::testing;

namespace {

constexpr std::size_t kGiB = 1ull << 30;

std::string allocate(std::size_t bytes) {
  void* p = std::malloc(bytes);
  std::free(p);
  return p != nullptr ? "ok" : "failed";
}

// Forks children that wait to be killed, until fork fails or `attempts` succeeded; returns
// "<count> then <errno>".
std::string fork_bomb(int attempts) {
  std::vector<pid_t> children;
  std::string stop = "no failure";
  for (int i = 0; i < attempts; ++i) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::pause();
      ::_exit(0);
    }
    if (pid < 0) {
      stop = errno_name(errno);
      break;
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) ::kill(pid, SIGKILL);
  for (pid_t pid : children) ::waitpid(pid, nullptr, 0);
  return std::to_string(children.size()) + " then " + stop;
}

}  // namespace

TEST_CASE("the memory cap refuses a 20 GiB allocation", "[sandbox][limits]") {
  if (kAddressSanitizer) {
    WARN("skipped: ASan reserves terabytes of address space, so RLIMIT_AS cannot apply");
    return;
  }
  Policy capped = base_policy();
  capped.memory_bytes = 512ull << 20;
  ChildOutcome child = run_sandboxed(capped, [] {
    void* mapped = ::mmap(nullptr, 20 * kGiB, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return "malloc 20 GiB: " + allocate(20 * kGiB) + "; malloc 1 GiB: " + allocate(kGiB) +
           "; mmap 20 GiB: " + (mapped == MAP_FAILED ? errno_name(errno) : "ok") +
           "; malloc 64 MiB: " + allocate(64ull << 20);
  });
  CHECK(child.output ==
        "malloc 20 GiB: failed; malloc 1 GiB: failed; mmap 20 GiB: ENOMEM; malloc 64 MiB: ok");

  Policy uncapped = base_policy();
  uncapped.memory_bytes = 0;
  ChildOutcome control = run_sandboxed(uncapped, [] { return "malloc 1 GiB: " + allocate(kGiB); });
  CHECK(control.output == "malloc 1 GiB: ok");
}

TEST_CASE("a fork bomb as an unprivileged uid stops at the process cap", "[sandbox][limits]") {
  Policy policy = base_policy();
  policy.run_as = kNobody;
  policy.max_processes = 16;
  ChildOutcome child = run_sandboxed(policy, [] {
    std::string result = fork_bomb(200);
    int forked = std::atoi(result.c_str());
    // Every process of uid nobody counts, the sandboxed one included: fewer than 16 forks.
    return std::string(forked < 16 ? "capped" : "not capped") + result.substr(result.find(" then"));
  });
  CHECK(child.output == "capped then EAGAIN");
}

TEST_CASE("as uid 0 the process cap does not bind, and strict mode says so", "[sandbox][limits]") {
  if (::getuid() != 0) {
    WARN("skipped: needs root");
    return;
  }
  Policy policy = base_policy();
  policy.max_processes = 4;
  ChildOutcome strict = run_sandboxed(policy, [] { return std::string("applied"); });
  CHECK(strict.output ==
        "apply: sandbox: this system lacks what the sandbox needs: RLIMIT_NPROC: the process "
        "stays uid 0, for which the kernel never enforces it (set run_as to an unprivileged uid, "
        "or max_processes = 0). Nothing was applied; an administrator may accept less with "
        "sandbox = \"best-effort\"");

  policy.best_effort = true;
  ChildOutcome lenient = run_sandboxed(policy, [] { return fork_bomb(12); });
  CHECK(lenient.output == "12 then no failure");
}

TEST_CASE("the open-file cap stops opening descriptors", "[sandbox][limits]") {
  Policy policy = base_policy();
  policy.max_open_files = 32;
  ChildOutcome child = run_sandboxed(policy, [] {
    int last = -1;
    int fd;
    while ((fd = ::open("/dev/null", O_RDONLY)) >= 0) last = fd;
    return "highest fd " + std::to_string(last) + " then " + errno_name(errno);
  });
  CHECK(child.output == "highest fd 31 then EMFILE");
}
