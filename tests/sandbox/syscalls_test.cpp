// The seccomp filter, the privilege steps and Landlock's scopes: what a hostile plugin would
// try against the host that runs it.

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <cstring>

#include "sandboxed_child.hpp"

using namespace keyhold::sandbox;
using namespace keyhold::sandbox::testing;

namespace {

std::string ptrace_and_memory_attempts(pid_t target) {
  char buffer[8];
  iovec local{buffer, sizeof buffer};
  iovec remote{reinterpret_cast<void*>(&ptrace_and_memory_attempts), sizeof buffer};
  return "ptrace attach: " + outcome(::ptrace(PTRACE_ATTACH, target, nullptr, nullptr)) +
         "; process_vm_readv: " + outcome(::process_vm_readv(target, &local, 1, &remote, 1, 0)) +
         "; kill: " + outcome(::kill(target, SIGWINCH)) +
         "; signal 0: " + outcome(::kill(target, 0));
}

}  // namespace

TEST_CASE("a sandboxed process cannot trace, read or signal the host", "[sandbox][syscalls]") {
  pid_t host = ::getpid();
  ChildOutcome child =
      run_sandboxed(base_policy(), [&] { return ptrace_and_memory_attempts(host); });
  CHECK(child.exit_code == 0);
  CHECK(child.output ==
        "ptrace attach: EPERM; process_vm_readv: EPERM; kill: EPERM; signal 0: EPERM");
}

TEST_CASE("a sandboxed process cannot change another process's limits, priority or CPUs",
          "[sandbox][syscalls]") {
  // The host (same user): lowering its RLIMIT_AS or RLIMIT_NOFILE would crash it.
  const pid_t host = ::getpid();
  ChildOutcome child = run_sandboxed(base_policy(), [&] {
    rlimit limit{};
    std::string text = "prlimit get: " + outcome(::prlimit(host, RLIMIT_NOFILE, nullptr, &limit));
    text += "; prlimit set: " + outcome(::prlimit(host, RLIMIT_NOFILE, &limit, nullptr));
    text += "; setpriority: " + outcome(::setpriority(PRIO_PROCESS, host, 19));
    text += "; setpriority user: " + outcome(::setpriority(PRIO_USER, 0, 19));
    text += "; setpriority group: " + outcome(::setpriority(PRIO_PGRP, 0, 19));
    sched_param param{};
    text += "; sched_setscheduler: " + outcome(::sched_setscheduler(host, SCHED_IDLE, &param));
    text += "; sched_setparam: " + outcome(::sched_setparam(host, &param));
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(0, &cpus);
    text += "; sched_setaffinity: " + outcome(::sched_setaffinity(host, sizeof cpus, &cpus));
    text += "; ioprio_set: " + outcome(static_cast<int>(::syscall(SYS_ioprio_set, 1, host, 0)));
    // Its own: still allowed.
    text += "; own: " + outcome(::setrlimit(RLIMIT_NOFILE, &limit)) + " " +
            outcome(::setpriority(PRIO_PROCESS, 0, 1)) + " " +
            outcome(::sched_setaffinity(0, sizeof cpus, &cpus));
    return text;
  });
  CHECK(child.exit_code == 0);
  CHECK(child.output ==
        "prlimit get: EPERM; prlimit set: EPERM; setpriority: EPERM; setpriority user: EPERM; "
        "setpriority group: EPERM; sched_setscheduler: EPERM; sched_setparam: EPERM; "
        "sched_setaffinity: EPERM; ioprio_set: EPERM; own: ok ok ok");
}

TEST_CASE("a child of the sandboxed process inherits the sandbox", "[sandbox][syscalls]") {
  pid_t host = ::getpid();
  ChildOutcome child = run_sandboxed(base_policy(), [&] {
    int fds[2];
    if (::pipe(fds) != 0) return std::string("pipe failed");
    pid_t grandchild = ::fork();
    if (grandchild == 0) {
      std::string text = ptrace_and_memory_attempts(host) +
                         "; unshare user: " + outcome(::unshare(CLONE_NEWUSER)) +
                         "; socket inet: " + outcome(::socket(AF_INET, SOCK_STREAM, 0)) +
                         "; read /etc/shadow: " + outcome(::open("/etc/shadow", O_RDONLY));
      ssize_t ignored = ::write(fds[1], text.data(), text.size());
      (void)ignored;
      ::_exit(0);
    }
    ::close(fds[1]);
    std::string text;
    char buffer[512];
    ssize_t n;
    while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0) text.append(buffer, n);
    ::waitpid(grandchild, nullptr, 0);
    return "grandchild: " + text +
           "; signal own child: " + outcome(::kill(grandchild, 0) == 0 || errno == ESRCH ? 0 : -1);
  });
  CHECK(child.output ==
        "grandchild: ptrace attach: EPERM; process_vm_readv: EPERM; kill: EPERM; signal 0: EPERM; "
        "unshare user: EPERM; socket inet: EPERM; read /etc/shadow: EACCES; signal own child: ok");
}

TEST_CASE("mounts, namespaces and kernel interfaces are refused", "[sandbox][syscalls]") {
  // A child that would be a sibling of the sandboxed process (a child of whoever started
  // it, a runner's fork server, which would have to reap it); one made ends at once.
  const auto clone_parent = [] {
    const long made = ::syscall(SYS_clone, CLONE_PARENT | SIGCHLD, nullptr, nullptr, nullptr, 0);
    if (made == 0) ::_exit(0);
    return made;
  };
  ChildOutcome child = run_sandboxed(base_policy(), [&] {
    return "mount: " + outcome(::mount("none", "/tmp", "tmpfs", 0, nullptr)) +
           "; unshare user: " + outcome(::unshare(CLONE_NEWUSER)) +
           "; unshare net: " + outcome(::unshare(CLONE_NEWNET)) +
           "; unshare mount: " + outcome(::unshare(CLONE_NEWNS)) + "; clone newuser: " +
           outcome(::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, 0)) +
           "; clone3: " + outcome(::syscall(SYS_clone3, nullptr, 0)) +
           "; clone parent: " + outcome(clone_parent()) + "; setns: " + outcome(::setns(0, 0)) +
           "; bpf: " + outcome(::syscall(SYS_bpf, 0, nullptr, 0)) +
           "; perf_event_open: " + outcome(::syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0)) +
           "; keyctl: " +
           outcome(::syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0)) +
           "; add_key: " +
           outcome(::syscall(SYS_add_key, "user", "k", "v", 1, KEY_SPEC_PROCESS_KEYRING)) +
           "; io_uring_setup: " + outcome(::syscall(SYS_io_uring_setup, 1, nullptr)) +
           "; userfaultfd: " + outcome(::syscall(SYS_userfaultfd, 0)) +
           "; init_module: " + outcome(::syscall(SYS_init_module, nullptr, 0, "")) +
           "; finit_module: " + outcome(::syscall(SYS_finit_module, -1, "", 0)) +
           "; kexec_load: " + outcome(::syscall(SYS_kexec_load, 0, 0, nullptr, 0)) +
           "; open_by_handle_at: " + outcome(::syscall(SYS_open_by_handle_at, -1, nullptr, 0));
  });
  CHECK(child.output ==
        "mount: EPERM; unshare user: EPERM; unshare net: EPERM; unshare mount: EPERM; "
        "clone newuser: EPERM; clone3: ENOSYS; clone parent: EPERM; setns: EPERM; bpf: EPERM; "
        "perf_event_open: EPERM; "
        "keyctl: EPERM; add_key: EPERM; io_uring_setup: EPERM; userfaultfd: EPERM; "
        "init_module: EPERM; finit_module: EPERM; kexec_load: EPERM; open_by_handle_at: EPERM");
}

TEST_CASE("threads and processes still start without clone3", "[sandbox][syscalls]") {
  ChildOutcome child = run_sandboxed(base_policy(), [] {
    pthread_t thread;
    int created = ::pthread_create(
        &thread, nullptr, [](void*) -> void* { return nullptr; }, nullptr);
    if (created == 0) ::pthread_join(thread, nullptr);
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(7);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return "thread: " + errno_name(created) +
           "; fork: " + (WIFEXITED(status) && WEXITSTATUS(status) == 7 ? "ok" : "failed");
  });
  CHECK(child.output == "thread: ok; fork: ok");
}

TEST_CASE("personality may be queried but not changed", "[sandbox][syscalls]") {
  ChildOutcome child = run_sandboxed(base_policy(), [] {
    return "query: " + outcome(::personality(0xffffffff)) +
           "; default: " + outcome(::personality(PER_LINUX)) +
           "; read implies exec: " + outcome(::personality(READ_IMPLIES_EXEC)) +
           "; no randomization: " + outcome(::personality(ADDR_NO_RANDOMIZE)) +
           "; bit 31 with a flag: " +
           outcome(::syscall(SYS_personality, 0x80000000ul | ADDR_NO_RANDOMIZE)) +
           "; flag hidden in the upper half: " +
           outcome(::syscall(SYS_personality, (1ul << 32) | READ_IMPLIES_EXEC));
  });
  CHECK(child.output ==
        "query: ok; default: ok; read implies exec: EPERM; no randomization: EPERM; "
        "bit 31 with a flag: EPERM; flag hidden in the upper half: EPERM");
}

TEST_CASE("a root process loses its capabilities and cannot undo a step", "[sandbox][syscalls]") {
  ChildOutcome child = run_sandboxed(base_policy(), [] {
    rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
    Transcript t;
    t.add("dumpable", std::to_string(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)));
    t.add("set dumpable", outcome(::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)));
    t.add("no_new_privs", std::to_string(::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)));
    t.add("raise RLIMIT_NOFILE", outcome(::setrlimit(RLIMIT_NOFILE, &unlimited)));
    t.add("raise RLIMIT_CORE", outcome(::setrlimit(RLIMIT_CORE, &unlimited)));
    t.add("chown", outcome(::chown("/dev/null", 1, 1)));
    return t.text();
  });
  CHECK(child.output ==
        "dumpable: 0; set dumpable: EPERM; no_new_privs: 1; raise RLIMIT_NOFILE: EPERM; "
        "raise RLIMIT_CORE: EPERM; chown: EPERM");
}

TEST_CASE("a foreign syscall ABI kills the process", "[sandbox][syscalls]") {
  ChildOutcome child = run_sandboxed(base_policy(), [] {
    constexpr long kX32SyscallBit = 0x40000000;
    ::syscall(kX32SyscallBit | SYS_getpid);
    return std::string("survived");
  });
  CHECK(child.signal == SIGSYS);
  CHECK(child.output.empty());
}

TEST_CASE("every descriptor but the kept ones is closed", "[sandbox][syscalls]") {
  int inherited = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC: fork keeps it
  int high = ::fcntl(inherited, F_DUPFD, 200);
  int kept = ::fcntl(inherited, F_DUPFD, 100);
  REQUIRE(inherited >= 0);
  REQUIRE(high >= 200);
  Policy policy = base_policy();
  policy.keep_fds.push_back(kept);
  ChildOutcome child = run_sandboxed(policy, [&] {
    return "inherited: " + outcome(::fcntl(inherited, F_GETFD)) +
           "; high: " + outcome(::fcntl(high, F_GETFD)) +
           "; kept: " + outcome(::fcntl(kept, F_GETFD)) +
           "; stdin: " + outcome(::fcntl(0, F_GETFD));
  });
  ::close(inherited);
  ::close(high);
  ::close(kept);
  CHECK(child.output == "inherited: EBADF; high: EBADF; kept: ok; stdin: ok");
}

TEST_CASE("apply without a compiled seccomp filter applies nothing, or with best effort the rest",
          "[sandbox][syscalls]") {
  Policy policy = base_policy();
  policy.seccomp.unavailable_reason = "the host could not compile it: test";
  const auto applied = [](const Policy& p) { return run_applied(p, [] { return "ok"; }).output; };
  CHECK(applied(policy).starts_with(
      "apply: sandbox: this system lacks what the sandbox needs: seccomp: the host could not "
      "compile it: test. Nothing was applied"));
  policy.best_effort = true;
  CHECK(applied(policy) == "ok");
  // A malformed program (a jump past its end) is refused by the kernel, not loaded.
  policy.best_effort = false;
  policy.seccomp.code = {BPF_JUMP(BPF_JMP | BPF_JA, 5, 0, 0)};
  policy.seccomp.unavailable_reason.clear();
  CHECK(applied(policy) == "apply: sandbox: loading the seccomp filter failed: Invalid argument");
}

TEST_CASE("the compiled filter apply() loads is the one that binds", "[sandbox][syscalls]") {
  // A one-instruction program that refuses everything with EPERM would stop the child's
  // very next syscall: the child dies writing its answer, so nothing comes back.
  Policy policy = base_policy();
  policy.seccomp.code = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)};
  policy.seccomp.summary = "refuses everything";
  policy.seccomp.unavailable_reason.clear();
  CHECK(run_applied(policy, [] { return std::string("answered"); }).output.empty());
  // The real one lets it answer, and refuses ptrace.
  ChildOutcome child = run_sandboxed(base_policy(), [] {
    return "ptrace: " + outcome(::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr));
  });
  CHECK(child.output == "ptrace: EPERM");
}

TEST_CASE("apply refuses a process that already has a second thread", "[sandbox][syscalls]") {
  ChildOutcome child = run_sandboxed(base_policy(), [] { return std::string("applied"); });
  REQUIRE(child.output == "applied");
  // Start the thread in a fresh child, so the test process stays single-threaded.
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    pthread_t thread;
    ::pthread_create(
        &thread, nullptr,
        [](void*) -> void* {
          ::pause();
          return nullptr;
        },
        nullptr);
    Status status = apply(base_policy(), nullptr);
    ssize_t ignored = ::write(fds[1], status.message().data(), status.message().size());
    (void)ignored;
    ::_exit(0);
  }
  ::close(fds[1]);
  char buffer[256];
  ssize_t n = ::read(fds[0], buffer, sizeof buffer);
  ::close(fds[0]);
  ::waitpid(pid, nullptr, 0);
  CHECK(std::string(buffer, n > 0 ? n : 0) ==
        "sandbox: apply() must run before any other thread starts: this process has 2 threads");
}

TEST_CASE("abstract unix sockets outside the sandbox are unreachable", "[sandbox][syscalls]") {
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::string name = "keyhold-sandbox-test-" + std::to_string(::getpid());
  std::memcpy(address.sun_path + 1, name.data(), name.size());
  socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), length) == 0);
  REQUIRE(::listen(listener, 4) == 0);
  auto attempt = [&] {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    return outcome(::connect(fd, reinterpret_cast<sockaddr*>(&address), length));
  };
  CHECK(attempt() == "ok");  // the same connect from outside the sandbox
  Policy any = base_policy();
  any.network = Network::kAny;
  any.unix_sockets = true;
  CHECK(run_sandboxed(any, attempt).output == "EPERM");
  ::close(listener);
}
