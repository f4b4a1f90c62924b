#pragma once
// A pids cgroup for one isolated instance: its runner and everything the runner starts.
//
// Two gaps of process groups and RLIMIT_NPROC close with it:
// - the whole tree is counted against one task cap (pids.max, threads included), which
//   binds for uid 0 too (the kernel never enforces RLIMIT_NPROC for root);
// - the whole tree is killed as one: a child that left the runner's process group with
//   setsid() (a daemonizing double fork) stays in the cgroup and dies with it.
//
// The group lives under the host's own cgroup in whichever pids hierarchy the host may
// write: cgroup v2 (when the host's cgroup offers the pids controller to its children) or
// the v1 pids hierarchy. Usually that needs root or a delegated subtree (systemd
// `Delegate=yes`); where neither is writable, create() fails with the reason and the caller
// reports the mechanism as missing. Directories are named keyhold-<host pid>-<instance>-<n>;
// remove_stale() removes those a host that died without cleaning up left behind.
//
// Nothing the group is for may run outside it: keyhold-runner joins it itself as the first
// thing it does, before a second thread exists, before a plugin runner reads its init frame
// and before `keyhold-runner --exec-policy` (a mounted server, a child of the env service)
// applies its sandbox and runs its program (open_for_child).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.hpp"

namespace keyhold {

class TaskGroup {
 public:
  // Creates the group with pids.max = max_tasks (0: no cap, the group only kills).
  static Result<std::unique_ptr<TaskGroup>> create(std::string_view instance,
                                                   std::uint64_t max_tasks);
  // Kills whatever is left and removes the directory.
  ~TaskGroup();
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  // A descriptor (close-on-exec) through which a child joins the group itself, before it
  // runs anything else and while it has one thread: it writes "0" (keyhold-runner does,
  // given join_argument; a plugin runner and `--exec-policy=JSON --cgroup-fd=N -- PROGRAM`
  // alike). The group's `tasks` file in v1, which moves the writing thread without the
  // lock a whole-process move takes (milliseconds; see the .cpp), and cgroup.procs in v2.
  // The caller closes it.
  Result<int> open_for_child() const;
  // The wrapper argument that makes keyhold-runner join through descriptor fd.
  static std::string join_argument(int fd) { return "--cgroup-fd=" + std::to_string(fd); }
  // SIGKILLs every process in the group until it is empty (bounded: about two seconds).
  // Safe from any thread; a no-op on an empty group.
  void kill_all() const;
  // One pass of SIGKILL to every process in the group now, without waiting; returns how
  // many there were.
  std::size_t signal_all() const;
  // The processes in the group now.
  std::size_t size() const;
  // One line for `plugins list` and the startup log.
  std::string describe() const;

  // A group for a program started through the keyhold-runner wrapper, argv = {runner,
  // "--exec-policy=...", "--", program, ...}: the join argument goes into argv and the
  // child must find `fd` as descriptor kChildFd (posix_spawn_file_actions_adddup2); the
  // caller keeps `group` for the child's lifetime (its destruction kills what is left).
  // No group, argv unchanged, where argv is not such a wrapper or no group can be made
  // here (the runners' own groups report why in `plugins list`).
  static constexpr int kChildFd = 3;
  struct ChildJoin {
    std::unique_ptr<TaskGroup> group;
    int fd = -1;  // closed with the ChildJoin
    ChildJoin() = default;
    ChildJoin(ChildJoin&& other) noexcept
        : group(std::move(other.group)), fd(std::exchange(other.fd, -1)) {}
    ChildJoin& operator=(ChildJoin&& other) noexcept;
    ~ChildJoin();
  };
  static ChildJoin prepare_child(std::string_view instance, std::uint64_t max_tasks,
                                 std::vector<std::string>& argv);

  // Kills the members of, and removes, keyhold-<pid>-* groups whose host pid is no longer
  // running, under the hierarchy create() would use. Best effort; never fails.
  static void remove_stale();

 private:
  TaskGroup(std::string path, std::string hierarchy, std::uint64_t max_tasks)
      : path_(std::move(path)), hierarchy_(std::move(hierarchy)), max_tasks_(max_tasks) {}
  std::string path_;       // the group's directory
  std::string hierarchy_;  // "v1" or "v2"
  std::uint64_t max_tasks_;
};

}  // namespace keyhold
