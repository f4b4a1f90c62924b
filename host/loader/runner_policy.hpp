#pragma once
// The sandbox policy (host/sandbox/sandbox.hpp's JSON form) handed to a runner, or to the
// keyhold-runner wrapper that starts a mounted server or a child of the env service, for
// one instance. One place decides it for all three.
#include <nlohmann/json.hpp>

#include "config/config.hpp"

namespace keyhold {

// The instance's [sandbox] table, with best_effort from sandbox_mode. For a host run as
// root that set no max_processes: 0 (no RLIMIT_NPROC), because the kernel never enforces
// RLIMIT_NPROC for uid 0 and strict mode would refuse to start; the instance's pids cgroup
// (sandbox/task_group.hpp) caps the tree instead where the host can make one. With the
// seccomp filter for it compiled here (runner/sandbox_spec.hpp), or why none could be.
nlohmann::json runner_policy(const InstanceConfig& instance);

}  // namespace keyhold
