#include "rotation/child_program.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace keyhold::rotation {
namespace {

constexpr std::size_t kMaxOutput = 64 * 1024;

struct Fd {
  int fd = -1;
  ~Fd() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// Ignores SIGPIPE while alive (a program that closes its stdin early must not kill keyhold)
// and restores what was there.
class IgnoreSigpipe {
 public:
  IgnoreSigpipe() {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, &saved_);
  }
  ~IgnoreSigpipe() { ::sigaction(SIGPIPE, &saved_, nullptr); }
  IgnoreSigpipe(const IgnoreSigpipe&) = delete;
  IgnoreSigpipe& operator=(const IgnoreSigpipe&) = delete;

 private:
  struct sigaction saved_ {};
};

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "ended abnormally";
}

}  // namespace

Result<ProgramRun> run_program(const std::vector<std::string>& argv,
                               std::span<const std::uint8_t> input, std::chrono::seconds timeout,
                               const StderrSink& stderr_sink) {
  if (argv.empty()) return invalid_argument("the command strategy needs an argv");
  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0)
    return io_error("pipe: " + std::string(std::strerror(errno)));
  Fd in_read{in_pipe[0]}, in_write{in_pipe[1]};
  if (::pipe2(out_pipe, O_CLOEXEC) != 0)
    return io_error("pipe: " + std::string(std::strerror(errno)));
  Fd out_read{out_pipe[0]}, out_write{out_pipe[1]};
  Fd err_read, err_write;
  if (stderr_sink) {
    int err_pipe[2];
    if (::pipe2(err_pipe, O_CLOEXEC) != 0)
      return io_error("pipe: " + std::string(std::strerror(errno)));
    err_read.fd = err_pipe[0];
    err_write.fd = err_pipe[1];
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const IgnoreSigpipe no_sigpipe;
  const pid_t pid = ::fork();
  if (pid < 0) return io_error("fork: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::signal(SIGPIPE, SIG_DFL);
    ::dup2(in_read.fd, STDIN_FILENO);
    ::dup2(out_write.fd, STDOUT_FILENO);
    if (err_write.fd >= 0) ::dup2(err_write.fd, STDERR_FILENO);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  in_read.close();
  out_write.close();
  err_write.close();
  ::fcntl(in_write.fd, F_SETFL, O_NONBLOCK);
  ::fcntl(out_read.fd, F_SETFL, O_NONBLOCK);
  if (err_read.fd >= 0) ::fcntl(err_read.fd, F_SETFL, O_NONBLOCK);
  std::size_t stderr_left = kMaxOutput;
  // Hands what stderr holds now to the sink (closing it at its end or past 64 KiB).
  const auto drain_stderr = [&] {
    char chunk[4096];
    while (err_read.fd >= 0) {
      const ssize_t r = ::read(err_read.fd, chunk, sizeof chunk);
      if (r <= 0) {
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) err_read.close();
        return;
      }
      const auto n = std::min(static_cast<std::size_t>(r), stderr_left);
      if (n > 0) stderr_sink(std::string_view(chunk, n));
      stderr_left -= n;
    }
  };
  if (input.empty()) in_write.close();

  ProgramRun run;
  run.stdout_bytes = vault::SecretBuffer(kMaxOutput);
  std::size_t received = 0, sent = 0;
  bool too_much = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out_read.fd >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    // A closed fd (-1) is ignored by poll.
    pollfd fds[3] = {{out_read.fd, POLLIN, 0}, {err_read.fd, POLLIN, 0}, {in_write.fd, POLLOUT, 0}};
    const int n = ::poll(fds, 3, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) drain_stderr();
    if (in_write.fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const ssize_t w = ::write(in_write.fd, input.data() + sent, input.size() - sent);
      if (w > 0) sent += static_cast<std::size_t>(w);
      if (w < 0 && errno != EAGAIN) in_write.close();
      if (sent == input.size()) in_write.close();
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      if (received == kMaxOutput) {
        too_much = true;
        break;
      }
      const ssize_t r =
          ::read(out_read.fd, run.stdout_bytes.data() + received, kMaxOutput - received);
      if (r == 0) out_read.close();
      if (r > 0) received += static_cast<std::size_t>(r);
      if (r < 0 && errno != EAGAIN && errno != EINTR) out_read.close();
    }
  }
  int status = 0;
  if (out_read.fd >= 0) {
    ::kill(-pid, SIGKILL);
  } else {
    // stdout closed: wait for the exit within what is left of the timeout.
    while (true) {
      drain_stderr();
      const pid_t done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        return unavailable("'" + argv[0] + "' did not finish within " +
                           std::to_string(timeout.count()) + "s and was killed");
      }
      ::poll(nullptr, 0, 10);
    }
    drain_stderr();  // what it wrote just before exiting
    run.stdout_bytes.truncate(received);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return unavailable("'" + argv[0] + "' " + describe(status));
    }
    return run;
  }
  ::waitpid(pid, &status, 0);
  if (too_much) return invalid_argument("'" + argv[0] + "' printed more than 64 KiB");
  return unavailable("'" + argv[0] + "' did not finish within " + std::to_string(timeout.count()) +
                     "s and was killed");
}

}  // namespace keyhold::rotation
