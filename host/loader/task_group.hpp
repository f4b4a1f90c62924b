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
// The caller moves the runner into the group before the runner loads the plugin (the runner
// waits for its init frame), so no plugin code runs outside it.
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

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

  // Moves the process `pid` (all its threads) into the group.
  Status add(pid_t pid) const;
  // SIGKILLs every process in the group until it is empty (bounded: about two seconds).
  // Safe from any thread; a no-op on an empty group.
  void kill_all() const;
  // One pass of SIGKILL to every process in the group now, without waiting.
  void signal_all() const;
  // The processes in the group now.
  std::size_t size() const;
  // One line for `plugins list` and the startup log.
  std::string describe() const;

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
