#include "mount/server_process.hpp"

#include <sys/uio.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "loader/restart_budget.hpp"

namespace keyhold::mount {

Result<std::unique_ptr<ServerProcess>> ServerProcess::start(const std::vector<std::string>& argv,
                                                            std::vector<vault::SecretBuffer> env,
                                                            std::string_view instance) {
  if (argv.empty()) return invalid_argument("no command");
  int in[2], out[2], err[2];
  // Closes the pipes made so far and says why the next one failed (errno read first).
  const auto pipe_failed = [](std::initializer_list<int> opened) {
    Status failed = io_error(std::string("pipe: ") + std::strerror(errno));
    for (int fd : opened) ::close(fd);
    return failed;
  };
  if (::pipe2(in, O_CLOEXEC) != 0) return pipe_failed({});
  if (::pipe2(out, O_CLOEXEC) != 0) return pipe_failed({in[0], in[1]});
  if (::pipe2(err, O_CLOEXEC) != 0) return pipe_failed({in[0], in[1], out[0], out[1]});
  std::vector<std::string> args_storage = argv;
  // No task cap (0): runtimes such as Node start threads freely; the group kills the tree.
  TaskGroup::ChildJoin join;
  if (!instance.empty()) join = TaskGroup::prepare_child(instance, 0, args_storage);
  std::vector<char*> args;
  for (auto& a : args_storage) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(reinterpret_cast<char*>(e.data()));
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  if (join.fd >= 0) posix_spawn_file_actions_adddup2(&actions, join.fd, TaskGroup::kChildFd);
  posix_spawn_file_actions_addclosefrom_np(&actions, join.fd >= 0 ? TaskGroup::kChildFd + 1 : 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);  // leads its own group: terminate() reaches the tree
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);  // the host blocks SIGTERM; the child must not
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  env.clear();  // zeroes every entry
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    for (int fd : {in[1], out[0], err[0]}) ::close(fd);
    return io_error("cannot start '" + argv[0] + "': " + std::strerror(rc));
  }
  std::unique_ptr<ServerProcess> process(new ServerProcess);
  process->pid_ = pid;
  process->group_ = std::move(join.group);
  process->in_fd_ = in[1];
  process->out_fd_ = out[0];
  process->err_fd_ = err[0];
  ::fcntl(process->in_fd_, F_SETFL, O_NONBLOCK);  // a server that stops reading cannot block us
  return process;
}

ServerProcess::~ServerProcess() {
  terminate(std::chrono::milliseconds(500));
  for (int fd : {out_fd_, err_fd_})
    if (fd >= 0) ::close(fd);
}

namespace {

// Moves past `done` bytes of the `count` parts at `next`.
void advance(iovec*& next, int& count, std::size_t done) {
  while (count > 0 && done >= next->iov_len) {
    done -= next->iov_len;
    ++next;
    --count;
  }
  if (count > 0) {
    next->iov_base = static_cast<char*>(next->iov_base) + done;
    next->iov_len -= done;
  }
}

// Writes what parts still hold to fd (non-blocking), polling while the pipe is full;
// false when fd failed (EPIPE: the server is gone), nothing could be written for
// idle_limit, or the whole took longer than idle_limit plus a second per min_rate bytes (a
// reader that keeps reading at a sane rate is waited for).
bool write_parts(int fd, iovec* next, int count, std::chrono::milliseconds idle_limit,
                 std::size_t min_rate, std::atomic<bool>* waiting) {
  const auto start = std::chrono::steady_clock::now();
  std::size_t total = 0;
  for (int i = 0; i < count; ++i) total += next[i].iov_len;
  const auto overall = start + idle_limit + std::chrono::milliseconds(total * 1000 / min_rate);
  auto deadline = std::min(start + idle_limit, overall);
  while (count > 0) {
    const ssize_t n = ::writev(fd, next, count);
    if (n > 0) {
      advance(next, count, static_cast<std::size_t>(n));
      deadline = std::min(std::chrono::steady_clock::now() + idle_limit, overall);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return false;
    pollfd p{fd, POLLOUT, 0};
    *waiting = true;  // terminate() may kill the server now: the pipe then breaks
    ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    *waiting = false;
  }
  return true;
}

constexpr char kNewline = '\n';

}  // namespace

bool ServerProcess::write_line(std::string_view text, std::chrono::milliseconds timeout,
                               std::size_t min_read_rate) {
  bool written = false;
  {
    std::lock_guard lock(write_mutex_);
    flush_wanted_ = false;  // the queue goes first
    if (in_fd_ < 0 || !take_urgent()) return false;
    // The queue, the line and its '\n' in one writev(): a server that reads per event
    // (Node) otherwise wakes once per part.
    iovec parts[3] = {{queued_.data(), queued_.size()},
                      {const_cast<char*>(text.data()), text.size()},
                      {const_cast<char*>(&kNewline), 1}};
    written = write_parts(in_fd_, parts, 3, timeout, std::max<std::size_t>(min_read_rate, 1),
                          &writer_waiting_);
    queued_.clear();  // written, or the server is treated as gone
    stalled_ = false;
    // Urgent lines that came while this wrote go behind the line, as far as the pipe takes
    // them now (the rest is stalled: the reader's tick writes it).
    if (written) written = take_urgent() && write_queued_now();
  }
  if (written && flush_wanted_) flush_queued();  // a flush handed over while this wrote
  return written;
}

bool ServerProcess::take_urgent() {
  std::lock_guard lock(urgent_mutex_);
  queued_ += urgent_;
  urgent_.clear();
  return queued_.size() <= kMaxUnreadBytes;
}

ServerProcess::AtOnce ServerProcess::queue_urgent(std::string_view text) {
  {
    std::lock_guard lock(urgent_mutex_);
    // Checked again with the queue when they join it (take_urgent); here for the lines
    // that pile up while a writer holds stdin.
    if (urgent_.size() + text.size() + 1 > kMaxUnreadBytes)
      return AtOnce::kGone;  // the caller's transport ends the server
    urgent_.append(text);
    urgent_ += kNewline;
  }
  return flush_queued();  // or the holder of stdin writes it before it lets go
}

bool ServerProcess::write_queued_now() {
  std::size_t written = 0;
  bool ok = true;
  while (written < queued_.size()) {
    const ssize_t n = ::write(in_fd_, queued_.data() + written, queued_.size() - written);
    if (n > 0) {
      written += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    ok = n >= 0 || errno == EAGAIN;  // EPIPE: the server is gone
    break;                           // full: the rest waits
  }
  queued_.erase(0, written);
  stalled_ = !queued_.empty();
  return ok;
}

ServerProcess::AtOnce ServerProcess::queue_line(std::string_view text, bool* flush_due) {
  {
    std::unique_lock lock(write_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return AtOnce::kLater;
    if (in_fd_ < 0) return AtOnce::kGone;
    if (queued_.size() + text.size() + 1 > kMaxQueuedBytes) return AtOnce::kLater;
    *flush_due = queued_.empty();
    queued_.append(text);
    queued_ += kNewline;
  }
  // A flush that found the lock taken (by this call) is done now.
  if (flush_wanted_) return flush_queued();
  return AtOnce::kSent;
}

ServerProcess::AtOnce ServerProcess::flush_queued() {
  // A holder of stdin that finds flush_wanted_ after it lets go flushes in turn, so a
  // flush is never lost to a race for the lock (only handed to whoever holds it).
  for (;;) {
    std::unique_lock lock(write_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) {
      flush_wanted_ = true;  // the holder flushes once it lets go
      return AtOnce::kSent;
    }
    if (flush_locked() == AtOnce::kGone) return AtOnce::kGone;
    lock.unlock();
    if (!flush_wanted_) return AtOnce::kSent;
  }
}

ServerProcess::AtOnce ServerProcess::flush_locked() {
  flush_wanted_ = false;
  const bool within_bound = take_urgent();
  if (in_fd_ < 0) {  // terminate() closed stdin: the server is being ended already
    queued_.clear();
    return AtOnce::kSent;
  }
  return within_bound && write_queued_now() ? AtOnce::kSent : AtOnce::kGone;
}

ServerProcess::AtOnce ServerProcess::flush_stalled() {
  std::unique_lock lock(write_mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return AtOnce::kSent;  // busy: the next tick looks again
  if (!stalled_ && !flush_wanted_) return AtOnce::kSent;
  if (flush_locked() == AtOnce::kGone) return AtOnce::kGone;
  lock.unlock();
  return flush_wanted_ ? flush_queued() : AtOnce::kSent;  // handed over while this wrote
}

void ServerProcess::kill_group() {
  // Held by terminate() while it ends the server (for up to its grace): nothing to add,
  // and a caller that must not wait (the stdio reader flushing a queue) does not.
  std::unique_lock lock(end_mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return;
  if (!reaped_) ::kill(-pid_, SIGKILL);
  if (group_) group_->signal_all();
}

std::string ServerProcess::terminate(std::chrono::milliseconds grace) {
  {
    // A writer may hold stdin waiting for a server that does not read: then the server is
    // killed first (the writer lets go at the broken pipe). One that only holds it for a
    // moment (a flush, a write in progress) is waited for, and the server ends gracefully.
    std::unique_lock lock(write_mutex_, std::defer_lock);
    while (!lock.try_lock_for(std::chrono::milliseconds(20)))
      if (writer_waiting_) kill_group();
    if (in_fd_ >= 0) ::close(in_fd_);  // stdin's end: a well-behaved server exits now
    in_fd_ = -1;
  }
  std::lock_guard lock(end_mutex_);
  if (reaped_) return ended_;
  int status = 0;
  auto reaped = [&] {
    pid_t r;
    do {
      r = ::waitpid(pid_, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    return r == pid_ || r < 0;
  };
  const auto poll_until = [&](std::chrono::steady_clock::time_point deadline) {
    while (std::chrono::steady_clock::now() < deadline) {
      if (reaped()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return reaped();
  };
  bool done = poll_until(std::chrono::steady_clock::now() + grace / 4);
  if (!done) {
    ::kill(-pid_, SIGTERM);
    done = poll_until(std::chrono::steady_clock::now() + grace);
  }
  ::kill(-pid_, SIGKILL);  // the rest of the group, and the leader if it ignored SIGTERM
  if (!done) {
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (group_) group_->kill_all();  // what left the process group with setsid()
  reaped_ = true;
  ended_ = describe_exit_status(status);
  return ended_;
}

}  // namespace keyhold::mount
