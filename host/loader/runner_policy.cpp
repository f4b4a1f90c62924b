#include "loader/runner_policy.hpp"

#include <unistd.h>

#include <map>
#include <mutex>
#include <tuple>

#include "runner/sandbox_spec.hpp"
#include "sandbox/seccomp_compile.hpp"

namespace keyhold {
namespace {

// The compiled filter for `policy`, as the spec's "seccomp" member. Only network, allow_udp
// and unix_sockets shape a filter, so a host compiles a few at most, once each: compiling
// is about a millisecond of libseccomp, which every runner's start used to pay.
nlohmann::json seccomp_for(const sandbox::Policy& policy) {
  static std::mutex mutex;
  static std::map<std::tuple<sandbox::Network, bool, bool>, nlohmann::json> compiled;
  const auto key = std::make_tuple(policy.network, policy.allow_udp, policy.unix_sockets);
  std::lock_guard lock(mutex);
  if (auto it = compiled.find(key); it != compiled.end()) return it->second;
  sandbox::SeccompProgram program;
  if (sandbox::Status status = sandbox::compile_seccomp(policy, &program); !status.ok())
    program.unavailable_reason = "the host could not compile it: " + status.message();
  return compiled.emplace(key, runner::seccomp_to_spec(program)).first->second;
}

}  // namespace

nlohmann::json runner_policy(const InstanceConfig& instance) {
  nlohmann::json policy = instance.sandbox;
  policy["best_effort"] = instance.sandbox_mode == "best-effort";
  if (::geteuid() == 0 && !policy.contains("max_processes")) policy["max_processes"] = 0;
  policy["seccomp"] = seccomp_for(runner::policy_from_spec(policy));
  return policy;
}

}  // namespace keyhold
