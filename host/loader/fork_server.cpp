#include "loader/fork_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "runner/fork_protocol.hpp"

namespace keyhold {
namespace {

using runner::ForkMessage;
using Clock = std::chrono::steady_clock;

// Runs jobs on one long-lived thread. The fork server asks for SIGKILL when its parent
// dies (PR_SET_PDEATHSIG), and to the kernel the parent is the thread that started it:
// started from a loader's thread it would die with that thread.
class SpawnThread {
 public:
  int run(std::function<int()> job) {
    std::packaged_task<int()> task(std::move(job));
    auto result = task.get_future();
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(task));
    }
    queued_.notify_one();
    return result.get();
  }

  SpawnThread() {
    std::thread([this] {
      std::unique_lock lock(mutex_);
      for (;;) {
        queued_.wait(lock, [&] { return !queue_.empty(); });
        auto task = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        task();
        lock.lock();
      }
    }).detach();
  }

 private:
  std::mutex mutex_;
  std::condition_variable queued_;
  std::deque<std::packaged_task<int()>> queue_;
};

int run_on_spawn_thread(std::function<int()> job) {
  static SpawnThread* const thread = new SpawnThread;  // lives as long as the process
  return thread->run(std::move(job));
}

// Environment of the fork server, and so of every runner: nothing of the host's (no
// KEYHOLD_*, no HOME), except what a sanitizer build needs to run at all.
std::vector<std::string> runner_environment() {
  // Two malloc arenas: each reserves 64 MiB of address space, which RLIMIT_AS counts.
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
                                  "MALLOC_ARENA_MAX=2"};
  if (std::getenv("ASAN_OPTIONS") != nullptr)
    // LeakSanitizer's exit check needs ptrace, which the sandbox refuses.
    env.push_back(std::string("ASAN_OPTIONS=") + std::getenv("ASAN_OPTIONS") + ":detect_leaks=0");
  if (const char* ubsan = std::getenv("UBSAN_OPTIONS"))
    env.push_back(std::string("UBSAN_OPTIONS=") + ubsan);
  return env;
}

// One running fork server. `control` is closed with the last reference (never earlier: a
// spawn may still be sending on it), `alive` and `replies` are guarded by State::mutex.
struct Server {
  std::filesystem::path path;
  pid_t pid = -1;
  int control = -1;
  bool alive = true;
  std::uint32_t sequence = 0;       // of the last kForkSpawn (under State::spawn_mutex)
  std::deque<ForkMessage> replies;  // kForkSpawned, in the order of the requests
  ~Server() {
    if (control >= 0) ::close(control);
  }
};

// Everything the fork servers of this process share; lives as long as the process.
struct State {
  std::mutex spawn_mutex;  // one request at a time: replies come back in order
  std::mutex mutex;
  std::condition_variable changed;
  std::shared_ptr<Server> current;
  struct Child {
    std::shared_ptr<Server> server;  // the one that forked it
    bool exited = false;
    int status = 0;  // its wait status, once exited
    int pidfd = -1;  // taken while the fork server still held it: this process, never a reuse
    std::uint64_t serial = 0;  // which spawn() it came from (a pid may come back later)
  };
  std::map<pid_t, Child> children;  // from kForkSpawned until release()
  std::uint64_t serials = 0;
};

State& state() {
  static State* const s = new State;
  return *s;
}

// How long the host waits for a fork server's answer to a spawn, or for its report of a
// runner the host has killed, before it takes the fork server for stuck.
constexpr std::chrono::seconds kAnswerLimit{10};
constexpr std::chrono::seconds kReportLimit{30};

// Takes a fork server for gone (under State::mutex): spawns go to a new one, and the
// runners it forked are lost (they die with it: PR_SET_PDEATHSIG). Its reader reaps it.
void end_server(Server& server) {
  server.alive = false;
  ::kill(server.pid, SIGKILL);
  state().changed.notify_all();
}

// The reports of one fork server, until it ends; then it is reaped (the host is its
// parent) and every runner it had is lost.
void read_reports(std::shared_ptr<Server> server) {
  State& s = state();
  for (;;) {
    ForkMessage m;
    const ssize_t n = ::recv(server->control, &m, sizeof m, 0);
    if (n < 0 && errno == EINTR) continue;
    std::lock_guard lock(s.mutex);
    if (n != static_cast<ssize_t>(sizeof m) ||
        (m.kind != runner::kForkSpawned && m.kind != runner::kForkExited)) {
      end_server(*server);  // ended, or garbled
      break;
    }
    if (m.kind == runner::kForkSpawned) {
      if (m.pid > 0) {
        // The runner cannot have been reaped yet (only release() lets the fork server).
        const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, m.pid, 0));
        auto& child = s.children[m.pid];
        if (child.pidfd >= 0) ::close(child.pidfd);  // a pid reused since: the old is gone
        child = State::Child{server, false, 0, pidfd, 0};
      }
      server->replies.push_back(m);
    } else if (auto it = s.children.find(m.pid);
               it != s.children.end() && it->second.server == server) {
      it->second.exited = true;
      it->second.status = m.status;
    }
    s.changed.notify_all();
  }
  int status = 0;
  while (::waitpid(server->pid, &status, 0) < 0 && errno == EINTR) {
  }
}

std::shared_ptr<Server> start(const std::filesystem::path& path, int* error) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    *error = errno;
    return nullptr;
  }
  std::string arg0 = "keyhold-runner", arg1 = "--fork-server=3";
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  std::vector<std::string> env = runner_environment();
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  // posix_spawn (vfork-like: no copy of the host's page tables). Its own process group (a
  // terminal's ^C reaches the host, which ends the runners itself), /dev/null as 0, 1 and
  // 2, the socket as fd 3 and nothing else.
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDWR, 0);
  ::posix_spawn_file_actions_adddup2(&actions, 0, 1);
  ::posix_spawn_file_actions_adddup2(&actions, 0, 2);
  ::posix_spawn_file_actions_adddup2(&actions, pair[1], 3);
  ::posix_spawn_file_actions_addclosefrom_np(&actions, 4);
  ::posix_spawnattr_init(&attributes);
  sigset_t no_signals, all_signals;
  sigemptyset(&no_signals);
  sigfillset(&all_signals);
  ::posix_spawnattr_setsigmask(&attributes, &no_signals);
  ::posix_spawnattr_setsigdefault(&attributes, &all_signals);
  ::posix_spawnattr_setpgroup(&attributes, 0);
  ::posix_spawnattr_setflags(
      &attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const std::string program = path.string();
  const int spawned = run_on_spawn_thread([&] {
    return ::posix_spawn(&pid, program.c_str(), &actions, &attributes, argv, envp.data());
  });
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attributes);
  ::close(pair[1]);
  if (spawned != 0) {
    ::close(pair[0]);
    *error = spawned;
    return nullptr;
  }
  auto server = std::make_shared<Server>();
  server->path = path;
  server->pid = pid;
  server->control = pair[0];
  std::thread([server] { read_reports(server); }).detach();
  return server;
}

// Sends one kForkSpawn and waits for its reply: the pid, or -errno; 0 when the server
// ended first.
pid_t request(const std::shared_ptr<Server>& server, int channel, int log, int join_fd,
              std::uint64_t* serial) {
  ForkMessage m;
  m.kind = runner::kForkSpawn;
  m.status = join_fd >= 0 ? 1 : 0;
  m.sequence = ++server->sequence;
  const int fds[runner::kForkMaxFds] = {channel, log, join_fd};
  const int count = join_fd >= 0 ? 3 : 2;
  alignas(cmsghdr) char space[CMSG_SPACE(sizeof(int) * runner::kForkMaxFds)] = {};
  iovec part{&m, sizeof m};
  msghdr header{};
  header.msg_iov = &part;
  header.msg_iovlen = 1;
  header.msg_control = space;
  header.msg_controllen = CMSG_SPACE(sizeof(int) * count);
  cmsghdr* c = CMSG_FIRSTHDR(&header);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * count);
  std::memcpy(CMSG_DATA(c), fds, sizeof(int) * count);
  ssize_t sent;
  while ((sent = ::sendmsg(server->control, &header, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
  }
  State& s = state();
  std::unique_lock lock(s.mutex);
  if (sent != static_cast<ssize_t>(sizeof m)) {
    end_server(*server);
    return 0;
  }
  // A fork takes well under a millisecond; one that does not answer in kAnswerLimit is
  // stopped or stuck, and ended (its runners with it).
  if (!s.changed.wait_for(lock, kAnswerLimit,
                          [&] { return !server->replies.empty() || !server->alive; })) {
    end_server(*server);
    return 0;
  }
  if (server->replies.empty()) return 0;
  const ForkMessage reply = server->replies.front();
  server->replies.pop_front();
  if (reply.sequence != m.sequence) {  // not the answer to this request: broken
    end_server(*server);
    return 0;
  }
  if (reply.pid > 0) *serial = s.children[reply.pid].serial = ++s.serials;
  return reply.pid;
}

}  // namespace

namespace fork_server {

pid_t spawn(const std::filesystem::path& runner_path, int channel, int log, int join_fd, int* error,
            std::uint64_t* serial) {
  State& s = state();
  std::lock_guard one(s.spawn_mutex);
  // A fork server that ended (or that a request found ended) is replaced once: a second
  // one ending at once is not the moment's bad luck.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::shared_ptr<Server> server;
    {
      std::lock_guard lock(s.mutex);
      if (s.current && s.current->alive && s.current->path == runner_path) server = s.current;
    }
    if (!server) {
      server = start(runner_path, error);
      if (!server) return -1;
      std::lock_guard lock(s.mutex);
      s.current = server;
    }
    const pid_t pid = request(server, channel, log, join_fd, serial);
    if (pid > 0) return pid;
    if (pid < 0) {
      *error = -pid;
      return -1;
    }
  }
  *error = ECHILD;
  return -1;
}

Ended wait(pid_t pid, std::uint64_t serial, int* status, bool block) {
  State& s = state();
  const auto deadline = Clock::now() + kReportLimit;
  std::unique_lock lock(s.mutex);
  for (;;) {
    const auto it = s.children.find(pid);
    if (it == s.children.end() || it->second.serial != serial)
      return Ended::kLost;  // not ours, or released already
    if (it->second.exited) {
      *status = it->second.status;
      return Ended::kYes;
    }
    if (!it->second.server->alive) return Ended::kLost;
    if (!block) return Ended::kNo;
    // Past the limit the fork server is taken for stuck; the loop then finds it gone.
    if (Clock::now() >= deadline)
      end_server(*it->second.server);
    else
      s.changed.wait_until(lock, deadline);
  }
}

void kill_group(pid_t pid, std::uint64_t serial) {
  State& s = state();
  std::lock_guard lock(s.mutex);  // no release() in between
  const auto it = s.children.find(pid);
  if (it == s.children.end() || it->second.serial != serial)
    return;  // released: its pid may be another's by now
  const State::Child& child = it->second;
  // While its fork server holds it (running, or ended and not reaped) the pid and the
  // group id are its. A fork server gone (the runner outlived it only if it dropped
  // PR_SET_PDEATHSIG, e.g. by an identity switch): the group only while the pidfd says
  // the runner still runs; the runner itself through the pidfd.
  bool held = child.server->alive;
  if (!held && child.pidfd >= 0) {
    pollfd ended{child.pidfd, POLLIN, 0};
    held = ::poll(&ended, 1, 0) == 0;
    ::syscall(SYS_pidfd_send_signal, child.pidfd, SIGKILL, nullptr, 0);
  }
  if (held) ::kill(-pid, SIGKILL);
}

void release(pid_t pid, std::uint64_t serial) {
  State& s = state();
  std::shared_ptr<Server> server;
  {
    std::lock_guard lock(s.mutex);
    const auto it = s.children.find(pid);
    if (it == s.children.end() || it->second.serial != serial) return;
    if (it->second.exited && it->second.server->alive) server = it->second.server;
    if (it->second.pidfd >= 0) ::close(it->second.pidfd);
    s.children.erase(it);
  }
  if (!server) return;  // still running (never released so), or lost with its fork server
  ForkMessage m;
  m.kind = runner::kForkReap;
  m.pid = pid;
  while (::send(server->control, &m, sizeof m, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

}  // namespace fork_server
}  // namespace keyhold
