#include "sandboxed_child.hpp"

#include "sandbox/seccomp_compile.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

namespace keyhold::sandbox::testing {

Policy base_policy() {
  Policy policy;
  policy.read_paths = default_read_paths();
  policy.write_paths = default_write_paths();
  policy.max_processes = 0;
  return policy;
}

ChildOutcome run_sandboxed(Policy policy, const std::function<std::string()>& body) {
  // As the host does: the filter is compiled before the sandboxed process starts.
  if (policy.seccomp.code.empty()) {
    if (Status compiled = compile_seccomp(policy, &policy.seccomp); !compiled.ok())
      return {-1, 0, "compile_seccomp: " + compiled.message()};
  }
  return run_applied(std::move(policy), body);
}

ChildOutcome run_applied(Policy policy, const std::function<std::string()>& body) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {-1, 0, "pipe2 failed"};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    policy.keep_fds.push_back(fds[1]);
    Status status = apply(policy, nullptr);
    std::string text = status.ok() ? body() : "apply: " + status.message();
    ssize_t written = ::write(fds[1], text.data(), text.size());
    ::_exit(status.ok() && written == static_cast<ssize_t>(text.size()) ? 0 : 3);
  }
  ::close(fds[1]);
  ChildOutcome result;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0) result.output.append(buffer, n);
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

std::string errno_name(int error) {
  static const std::map<int, std::string> kNames = {
      {0, "ok"},
      {EACCES, "EACCES"},
      {EPERM, "EPERM"},
      {ENOSYS, "ENOSYS"},
      {EXDEV, "EXDEV"},
      {EBADF, "EBADF"},
      {ENOMEM, "ENOMEM"},
      {EAGAIN, "EAGAIN"},
      {EMFILE, "EMFILE"},
      {EINVAL, "EINVAL"},
      {ENOENT, "ENOENT"},
      {ECONNREFUSED, "ECONNREFUSED"},
      {EAFNOSUPPORT, "EAFNOSUPPORT"},
      {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
      {ESRCH, "ESRCH"},
  };
  auto it = kNames.find(error);
  return it != kNames.end() ? it->second : "errno " + std::to_string(error);
}

std::string outcome(long result) { return result < 0 ? errno_name(errno) : "ok"; }

TempDir::TempDir() {
  char name[] = "/tmp/keyhold-sandbox-test-XXXXXX";
  if (::mkdtemp(name) == nullptr) std::abort();
  path_ = name;
  ::chmod(name, 0755);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::make_dir(const std::string& name, unsigned mode) const {
  std::string path = path_ + "/" + name;
  ::mkdir(path.c_str(), mode);
  ::chmod(path.c_str(), mode);  // past the umask
  return path;
}

std::string TempDir::make_file(const std::string& name, const std::string& content) const {
  std::string path = path_ + "/" + name;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 ||
      ::write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    std::abort();
  }
  ::fchmod(fd, 0644);
  ::close(fd);
  return path;
}

}  // namespace keyhold::sandbox::testing
