#include "secrets/child_processes.hpp"

#include "runner/child_env.hpp"
#include "sandbox/task_group.hpp"
#include "secrets/env_entry.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>
#include <thread>
#include <vector>

namespace keyhold::secrets {

namespace {
constexpr std::size_t kMaxPending = 64 * 1024;  // flush a line longer than this anyway
constexpr std::size_t kMaxChildren = 32;        // an instance's children not yet forgotten
constexpr const char* kInheritedVariables[] = {"PATH", "HOME", "LANG", "TMPDIR", "USER"};

// Variables that would let whoever sets them run other code inside an allowed command
// (loader preloads, interpreter start-up hooks, the command search path). A plugin may
// not set them for a child that gets secrets; the child inherits the host's PATH.
bool changes_what_runs(std::string_view name) {
  static constexpr std::string_view kExact[] = {"PATH",
                                                "NODE_OPTIONS",
                                                "NODE_PATH",
                                                "BASH_ENV",
                                                "ENV",
                                                "PYTHONSTARTUP",
                                                "PYTHONPATH",
                                                "PYTHONHOME",
                                                "PERL5OPT",
                                                "PERL5LIB",
                                                "RUBYOPT",
                                                "RUBYLIB",
                                                "JAVA_TOOL_OPTIONS",
                                                "_JAVA_OPTIONS",
                                                "GCONV_PATH",
                                                "IFS",
                                                "SHELLOPTS",
                                                "PS4"};
  if (name.starts_with("LD_") || name.starts_with("DYLD_") || name.starts_with("GIT_")) return true;
  return std::find(std::begin(kExact), std::end(kExact), name) != std::end(kExact);
}
}  // namespace

struct ChildProcesses::Child {
  std::string instance;
  pid_t pid = -1;

  // Output: one lock per stream, held while a read polls, so a read never delays a wait
  // or a kill. The pipe is closed as soon as it reports end of stream.
  struct Stream {
    std::mutex mutex;
    int fd = -1;
    std::string pending;
    bool eof = false;
  };
  Stream streams[3];                                     // [1] stdout, [2] stderr (read ends)
  std::atomic<bool> drained[3] = {false, false, false};  // end of stream told to the plugin

  // The process.
  std::mutex mutex;
  bool reaped = false;
  int status = 0;
  std::atomic<bool> status_reported = false;  // wait told the plugin the exit status

  // Once the plugin has seen both ends of stream and the exit status it can want nothing
  // more: the entry is forgotten.
  bool finished() const { return drained[1] && drained[2] && status_reported; }

  // The pids cgroup of the child's tree where one could be made: destroyed with the entry,
  // which kills what the child left behind, also outside its process group (setsid()).
  std::unique_ptr<TaskGroup> group;

  ~Child() {
    for (auto& s : streams)
      if (s.fd >= 0) ::close(s.fd);
  }
};

ChildProcesses::ChildProcesses(HandleBroker& broker, std::shared_ptr<const Redactor> redactor)
    : broker_(broker), redactor_(std::move(redactor)) {}

ChildProcesses::~ChildProcesses() {
  std::map<std::uint64_t, std::shared_ptr<Child>> all;
  {
    std::lock_guard lock(mutex_);
    all.swap(children_);
  }
  for (auto& [id, child] : all) {
    std::lock_guard lock(child->mutex);
    if (!child->reaped) {
      ::kill(-child->pid, SIGKILL);
      ::waitpid(child->pid, &child->status, 0);
      child->reaped = true;
    }
  }
}

Result<std::uint64_t> ChildProcesses::spawn(const std::string& instance,
                                            const std::string& request_id,
                                            std::string_view spec_json, OAuthUser* client) {
  {
    // Each child holds two pipes in the host until the plugin has read them to their end
    // and waited for it: without a cap a plugin could take every descriptor the host has.
    // Spawns under way count too (their place is reserved here, given back below).
    std::lock_guard lock(mutex_);
    if (closed_.contains(instance))
      return unavailable("instance '" + instance + "' is shutting down: no new child processes");
    const auto mine = std::count_if(children_.begin(), children_.end(),
                                    [&](const auto& c) { return c.second->instance == instance; });
    if (static_cast<std::size_t>(mine) + starting_[instance] >= kMaxChildren)
      return unavailable("instance '" + instance + "' already has " + std::to_string(kMaxChildren) +
                         " child processes: wait for one (or kill it) first");
    ++starting_[instance];
  }
  struct Reservation {
    ChildProcesses& self;
    const std::string& instance;
    ~Reservation() {
      std::lock_guard lock(self.mutex_);
      if (--self.starting_[instance] == 0) self.starting_.erase(instance);
    }
  } reservation{*this, instance};
  auto spec = nlohmann::json::parse(spec_json, nullptr, false);
  if (spec.is_discarded() || !spec.is_object() || !spec.contains("argv") ||
      !spec["argv"].is_array() || spec["argv"].empty()) {
    return invalid_argument("spawn spec needs \"argv\": a non-empty array of strings");
  }
  std::vector<std::string> argv;
  for (const auto& a : spec["argv"]) {
    if (!a.is_string()) {
      return invalid_argument("argv entries must be strings");
    }
    argv.push_back(a.get<std::string>());
  }
  // An isolated instance's child starts through its sandbox wrapper, which gets every
  // variable under a prefix (runner/child_env.hpp): none takes effect before the sandbox.
  std::vector<std::string> wrapper;
  {
    std::lock_guard lock(mutex_);
    if (auto found = wrappers_.find(instance); found != wrappers_.end()) wrapper = found->second;
  }
  const std::string_view prefix = wrapper.empty() ? std::string_view() : runner::kChildEnvPrefix;
  // Environment: a few host variables, the plain env, then values from handles. Entries
  // holding secrets live in guarded memory and are zeroed after the spawn.
  std::vector<vault::SecretBuffer> entries;
  auto add = [&](std::string_view name, std::string_view value) {
    entries.push_back(env_entry(prefix, name, value));
  };
  // A name with '=' or NUL would read as another variable (or end the entry early).
  auto bad_name = [](std::string_view name) {
    return name.empty() || name.find_first_of(std::string_view("=\0", 2)) != std::string_view::npos;
  };
  for (const char* name : kInheritedVariables)
    if (const char* value = std::getenv(name)) add(name, value);
  const auto secret_env = spec.find("secret_env");
  const bool gets_secrets =
      secret_env != spec.end() && secret_env->is_object() && !secret_env->empty();
  if (auto env = spec.find("env"); env != spec.end() && env->is_object()) {
    for (const auto& [name, value] : env->items()) {
      if (!value.is_string()) continue;
      if (bad_name(name))
        return invalid_argument("env variable names may not be empty or hold '='");
      if (gets_secrets && changes_what_runs(name)) {
        return invalid_argument(
            "env variable " + name +
            " may not be set for a child that receives secrets (it changes what runs)");
      }
      add(name, value.get_ref<const std::string&>());
    }
  }
  if (gets_secrets) {
    for (const auto& [name, alias] : secret_env->items()) {
      if (!alias.is_string()) {
        return invalid_argument("secret_env values must be alias strings");
      }
      if (bad_name(name))
        return invalid_argument("secret_env variable names may not be empty or hold '='");
      auto value =
          broker_.value_for_env(instance, alias.get<std::string>(), argv, request_id, client);
      if (!value.is_ok()) return value.status();
      add(name, value->view());
    }
  }
  std::vector<char*> envp;
  for (auto& e : entries) envp.push_back(reinterpret_cast<char*>(e.data()));
  envp.push_back(nullptr);
  argv.insert(argv.begin(), wrapper.begin(), wrapper.end());
  // Started through the instance's sandbox wrapper: the child joins a pids cgroup of its own
  // before its program runs (no task cap: the wrapper's sandbox caps processes).
  TaskGroup::ChildJoin join = TaskGroup::prepare_child(instance + "-child", 0, argv);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0)
    return io_error(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    Status failed = io_error(std::string("pipe: ") + std::strerror(errno));
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return failed;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  if (join.fd >= 0) posix_spawn_file_actions_adddup2(&actions, join.fd, TaskGroup::kChildFd);
  std::string cwd = spec.value("cwd", std::string());
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);  // the child leads a new process group
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGHUP);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &none);  // the host blocks SIGTERM; the child must not
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  entries.clear();  // zeroes every environment entry
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return io_error("cannot start '" + argv[0] + "': " + std::strerror(rc));
  }
  auto child = std::make_shared<Child>();
  child->instance = instance;
  child->pid = pid;
  child->group = std::move(join.group);
  child->streams[1].fd = out_pipe[0];
  child->streams[2].fd = err_pipe[0];
  std::unique_lock lock(mutex_);
  if (closed_.contains(instance)) {  // kill_all ran while this one started: it goes too
    lock.unlock();
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, &child->status, 0);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return unavailable("instance '" + instance + "' is shutting down: no new child processes");
  }
  const std::uint64_t id = next_id_++;
  children_[id] = std::move(child);
  return id;
}

std::shared_ptr<ChildProcesses::Child> ChildProcesses::find(const std::string& instance,
                                                            std::uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it = children_.find(id);
  if (it == children_.end() || it->second->instance != instance) return nullptr;
  return it->second;
}

void ChildProcesses::forget_if_finished(std::uint64_t id, const std::shared_ptr<Child>& child) {
  if (!child->finished()) return;
  std::lock_guard lock(mutex_);
  if (auto it = children_.find(id); it != children_.end() && it->second == child)
    children_.erase(it);
}

Status ChildProcesses::read(const std::string& instance, std::uint64_t id, int32_t stream,
                            int32_t timeout_ms, std::string* out) {
  if (stream != 1 && stream != 2)
    return invalid_argument("stream must be 1 (stdout) or 2 (stderr)");
  auto child = find(instance, id);
  if (!child) return not_found("no such process");
  Child::Stream& out_stream = child->streams[stream];
  std::unique_lock lock(out_stream.mutex);
  std::string& pending = out_stream.pending;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(0, timeout_ms));
  for (;;) {
    // Whole lines (or everything at end of stream) leave, redacted.
    std::size_t cut = out_stream.eof ? pending.size() : pending.rfind('\n');
    if (cut != std::string::npos && cut > 0 && !out_stream.eof) ++cut;
    if (!out_stream.eof && pending.size() >= kMaxPending &&
        (cut == std::string::npos || cut == 0)) {
      // A very long line leaves in pieces, each redacted alone. A value must never be split
      // across two (the plugin would join them): the tail that may begin a value still to
      // come is held back, and the cut moves to the start of a value found across it.
      const std::size_t hold = std::min(pending.size() - 1, redactor_->longest_secret_pattern());
      cut = redactor_->cut_outside_findings(pending, pending.size() - hold);
    }
    if (cut != std::string::npos && cut > 0) {
      std::string ready = pending.substr(0, cut);
      pending.erase(0, cut);
      redactor_->redact(ready);
      *out += ready;
      return Status::ok();
    }
    if (out_stream.eof) {
      child->drained[stream] = true;
      lock.unlock();
      forget_if_finished(id, child);
      return not_found("end of stream");
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left < 0) return Status::ok();  // nothing whole yet
    pollfd p{out_stream.fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return Status::ok();
    char buffer[16 * 1024];
    const ssize_t n = ::read(out_stream.fd, buffer, sizeof buffer);
    if (n <= 0) {
      out_stream.eof = true;
      ::close(out_stream.fd);
      out_stream.fd = -1;
      continue;
    }
    pending.append(buffer, static_cast<std::size_t>(n));
  }
}

Status ChildProcesses::wait(const std::string& instance, std::uint64_t id, int32_t timeout_ms,
                            int32_t* exit_status) {
  auto child = find(instance, id);
  if (!child) return not_found("no such process");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    {
      std::lock_guard lock(child->mutex);
      if (!child->reaped && ::waitpid(child->pid, &child->status, WNOHANG) == child->pid)
        child->reaped = true;
      if (child->reaped) {
        *exit_status = child->status;
        child->status_reported = true;
      }
    }
    if (child->status_reported) {
      forget_if_finished(id, child);
      return Status::ok();
    }
    if (timeout_ms >= 0 && std::chrono::steady_clock::now() >= deadline)
      return unavailable("still running");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Status ChildProcesses::kill(const std::string& instance, std::uint64_t id, int32_t signal_number) {
  auto child = find(instance, id);
  if (!child) return not_found("no such process");
  std::lock_guard lock(child->mutex);
  if (child->reaped) return Status::ok();
  if (::kill(-child->pid, signal_number) != 0)
    return io_error(std::string("kill: ") + std::strerror(errno));
  return Status::ok();
}

void ChildProcesses::kill_all(const std::string& instance) {
  std::vector<std::shared_ptr<Child>> doomed;
  {
    std::lock_guard lock(mutex_);
    closed_.insert(instance);  // no new child from here on (a waiting plugin would start one)
    for (auto it = children_.begin(); it != children_.end();) {
      if (it->second->instance == instance) {
        doomed.push_back(it->second);
        it = children_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& child : doomed) {
    std::lock_guard lock(child->mutex);
    if (child->reaped) continue;
    ::kill(-child->pid, SIGKILL);
    ::waitpid(child->pid, &child->status, 0);
    child->reaped = true;
  }
}

void ChildProcesses::set_wrapper(const std::string& instance, std::vector<std::string> wrapper) {
  std::lock_guard lock(mutex_);
  wrappers_[instance] = std::move(wrapper);
  closed_.erase(instance);  // an instance loaded (again) under this name
}

}  // namespace keyhold::secrets
