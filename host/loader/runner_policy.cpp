#include "loader/runner_policy.hpp"

#include <unistd.h>

namespace keyhold {

nlohmann::json runner_policy(const InstanceConfig& instance) {
  nlohmann::json policy = instance.sandbox;
  policy["best_effort"] = instance.sandbox_mode == "best-effort";
  if (::geteuid() == 0 && !policy.contains("max_processes")) policy["max_processes"] = 0;
  return policy;
}

}  // namespace keyhold
