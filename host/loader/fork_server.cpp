#include "loader/fork_server.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
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
  };
  std::map<pid_t, Child> children;  // from kForkSpawned until release()
};

State& state() {
  static State* const s = new State;
  return *s;
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
      server->alive = false;  // ended, or garbled: spawns go to a new one
      s.changed.notify_all();
      break;
    }
    if (m.kind == runner::kForkSpawned) {
      if (m.pid > 0) s.children[m.pid] = State::Child{server, false, 0};
      server->replies.push_back(m);
    } else if (auto it = s.children.find(m.pid);
               it != s.children.end() && it->second.server == server) {
      it->second.exited = true;
      it->second.status = m.status;
    }
    s.changed.notify_all();
  }
  ::kill(server->pid, SIGKILL);  // a garbling one may still run
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
pid_t request(const std::shared_ptr<Server>& server, int channel, int log, int join_fd) {
  ForkMessage m;
  m.kind = runner::kForkSpawn;
  m.status = join_fd >= 0 ? 1 : 0;
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
    server->alive = false;
    return 0;
  }
  s.changed.wait(lock, [&] { return !server->replies.empty() || !server->alive; });
  if (server->replies.empty()) return 0;
  const ForkMessage reply = server->replies.front();
  server->replies.pop_front();
  return reply.pid;
}

}  // namespace

int run_on_spawn_thread(std::function<int()> job) {
  static SpawnThread* const thread = new SpawnThread;  // lives as long as the process
  return thread->run(std::move(job));
}

namespace fork_server {

pid_t spawn(const std::filesystem::path& runner_path, int channel, int log, int join_fd,
            int* error) {
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
    const pid_t pid = request(server, channel, log, join_fd);
    if (pid > 0) return pid;
    if (pid < 0) {
      *error = -pid;
      return -1;
    }
  }
  *error = ECHILD;
  return -1;
}

Ended wait(pid_t pid, int* status, bool block) {
  State& s = state();
  std::unique_lock lock(s.mutex);
  for (;;) {
    const auto it = s.children.find(pid);
    if (it == s.children.end()) return Ended::kLost;  // not ours, or released already
    if (it->second.exited) {
      *status = it->second.status;
      return Ended::kYes;
    }
    if (!it->second.server->alive) return Ended::kLost;
    if (!block) return Ended::kNo;
    s.changed.wait(lock);
  }
}

void release(pid_t pid) {
  State& s = state();
  std::shared_ptr<Server> server;
  {
    std::lock_guard lock(s.mutex);
    const auto it = s.children.find(pid);
    if (it == s.children.end()) return;
    if (it->second.exited && it->second.server->alive) server = it->second.server;
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
