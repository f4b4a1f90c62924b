#pragma once
// The mechanisms apply() combines, one file each. Internal to host/sandbox/.

#include <string>
#include <vector>

#include "sandbox/sandbox.hpp"

namespace keyhold::sandbox::detail {

// Landlock (landlock.cpp). abi is 0 when the kernel has no Landlock or it is disabled.
struct LandlockSupport {
  int abi = 0;
  int errata = 0;
  std::string unavailable_reason;  // set when abi == 0
};
LandlockSupport landlock_support();
// The Landlock features `policy` needs that ABI `abi` lacks, one line each.
std::vector<std::string> landlock_missing(const Policy& policy, int abi);
// The features `abi` provides for `policy`, one line each (for Report::applied).
std::vector<std::string> landlock_features(const Policy& policy, int abi);
// Restricts the calling thread (and its future children) to policy's paths, ports and
// scopes, using what `abi` offers. Requires no_new_privs.
Status apply_landlock(const Policy& policy, int abi);

// seccomp (seccomp_load.cpp). Empty when the kernel can load a filter that kills the
// process and returns errno values; otherwise why not.
std::string seccomp_unavailable_reason();
// Loads a compiled filter (compile_seccomp(), seccomp_compile.cpp). Requires no_new_privs.
Status load_seccomp(const SeccompProgram& program);

// Resource limits (limits.cpp): RLIMIT_CORE 0, then AS, NOFILE, NPROC per policy. Each
// applied limit is appended to report->applied.
Status apply_limits(const Policy& policy, Report* report);

// Formats bytes as "512 MiB" (or exact bytes when not a whole MiB).
std::string format_bytes(unsigned long long bytes);

}  // namespace keyhold::sandbox::detail
