#pragma once
// The JSON form of a sandbox policy (what runner_policy() makes, and the runner's init
// frame and --exec-policy carry), read into a sandbox::Policy in one place: the host reads
// it to compile the seccomp filter, the runner to apply everything.
//
//   read, write: [path...]; network: "none" | "any" | "allowlist"; ports: [port...];
//   udp, unix_sockets, run_as_nobody, best_effort: bool; memory, max_open_files,
//   max_processes: number; seccomp: {"bpf": hex of struct sock_filter[], "summary": text}
//   or {"unavailable": why the host compiled none}.
#include <nlohmann/json.hpp>

#include "sandbox/sandbox.hpp"

namespace keyhold::runner {

// The policy `spec` describes, its own paths only (the runner adds the defaults: reading
// the JSON touches no file). Unknown members are ignored; malformed values fall back to the
// defaults, and a malformed "seccomp" leaves no filter (which apply() then reports as
// missing).
sandbox::Policy policy_from_spec(const nlohmann::json& spec);

// The "seccomp" member for a compiled program.
nlohmann::json seccomp_to_spec(const sandbox::SeccompProgram& program);

}  // namespace keyhold::runner
