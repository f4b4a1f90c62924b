// Loading a compiled seccomp filter (SeccompProgram) and telling whether the kernel can:
// the half of seccomp a runner needs, with no libseccomp.

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "sandbox/mechanisms.hpp"

namespace keyhold::sandbox::detail {

std::string seccomp_unavailable_reason() {
  if (::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL) {
    return "the kernel has no seccomp (CONFIG_SECCOMP)";
  }
  for (std::uint32_t action : {SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_ERRNO}) {
    if (::syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0) {
      return "the kernel has no seccomp filter action " + std::to_string(action) +
             " (Linux 4.14 or later with CONFIG_SECCOMP_FILTER): " + std::strerror(errno);
    }
  }
  return {};
}

Status load_seccomp(const SeccompProgram& program) {
  // BPF_MAXINSNS is what the kernel accepts in one filter.
  if (program.code.empty() || program.code.size() > BPF_MAXINSNS) {
    return Status::error("sandbox: the seccomp filter has " + std::to_string(program.code.size()) +
                         " instructions (1 to " + std::to_string(BPF_MAXINSNS) + " load)");
  }
  sock_fprog fprog{};
  fprog.len = static_cast<unsigned short>(program.code.size());
  fprog.filter = const_cast<sock_filter*>(program.code.data());
  // No flags, as libseccomp's own seccomp_load() with its default attributes: no_new_privs
  // is already set, and the process has one thread (no TSYNC needed).
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
    return Status::error(std::string("sandbox: loading the seccomp filter failed: ") +
                         std::strerror(errno));
  }
  return {};
}

}  // namespace keyhold::sandbox::detail
