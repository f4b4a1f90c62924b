// apply(): the order matters. Descriptors go first (nothing after may leak through them);
// the identity switch comes before PR_SET_DUMPABLE (a uid change resets dumpability);
// capabilities go before the limits (CAP_SYS_RESOURCE could raise them again); Landlock and
// seccomp come last because both need no_new_privs, and seccomp last of all so that the
// syscalls the earlier steps use are not yet filtered.

#include "sandbox/sandbox.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sandbox/mechanisms.hpp"

namespace keyhold::sandbox {
namespace {

std::string errno_text() { return std::strerror(errno); }

// Number of threads of this process, or -1 when /proc cannot tell. Plain read(2), not an
// ifstream: a stream initialises the C++ locale machinery, which in a runner was the only
// user of it (measured: the runner's resident libstdc++ pages 1528 -> 1144 KiB).
int thread_count() {
  const int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  std::string text;
  char chunk[4096];
  ssize_t n;
  while ((n = ::read(fd, chunk, sizeof chunk)) > 0) text.append(chunk, static_cast<std::size_t>(n));
  ::close(fd);
  const auto at = text.find("\nThreads:");
  return at == std::string::npos ? -1 : std::atoi(text.c_str() + at + 9);
}

bool is_root() { return ::getuid() == 0 || ::geteuid() == 0; }

bool close_range_available() {
  // Closing the empty range [~0, ~0] does nothing where close_range exists (Linux 5.9).
  return ::close_range(~0U, ~0U, 0) == 0;
}

Status close_other_fds(const std::vector<int>& keep, Report* report) {
  std::vector<int> fds;
  for (int fd : keep) {
    if (fd >= 0) fds.push_back(fd);
  }
  std::sort(fds.begin(), fds.end());
  fds.erase(std::unique(fds.begin(), fds.end()), fds.end());

  unsigned next = 0;  // the lowest fd not yet dealt with
  for (int fd : fds) {
    if (static_cast<unsigned>(fd) > next && ::close_range(next, fd - 1, 0) != 0) {
      return Status::error("sandbox: close_range failed: " + errno_text());
    }
    next = static_cast<unsigned>(fd) + 1;
  }
  if (::close_range(next, ~0U, 0) != 0) {
    return Status::error("sandbox: close_range failed: " + errno_text());
  }
  std::string kept;
  for (int fd : fds) kept += (kept.empty() ? "" : ",") + std::to_string(fd);
  report->applied.push_back("descriptors: all closed but " + (kept.empty() ? "none" : kept));
  return {};
}

Status switch_identity(const Identity& identity, Report* report) {
  // The kernel clears the parent-death signal on a change of credentials: kept, so a
  // runner still ends with the process that started it.
  int death_signal = 0;
  ::prctl(PR_GET_PDEATHSIG, &death_signal, 0, 0, 0);
  if (::setgroups(0, nullptr) != 0 || ::setresgid(identity.gid, identity.gid, identity.gid) != 0 ||
      ::setresuid(identity.uid, identity.uid, identity.uid) != 0) {
    return Status::error("sandbox: cannot switch to uid " + std::to_string(identity.uid) + " gid " +
                         std::to_string(identity.gid) + ": " + errno_text());
  }
  if (death_signal != 0 && ::prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0) != 0)
    return Status::error("sandbox: cannot keep the parent-death signal: " + errno_text());
  report->applied.push_back("identity: uid " + std::to_string(identity.uid) + ", gid " +
                            std::to_string(identity.gid) + ", no supplementary groups");
  return {};
}

// Empties the ambient, bounding (when allowed), inheritable, permitted and effective sets.
// A root process keeps uid 0 but loses what makes root powerful: raising rlimits, raw
// sockets, overriding file permissions; with no_new_privs, exec cannot give any back.
Status drop_capabilities(Report* report) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) {
    return Status::error("sandbox: capget failed: " + errno_text());
  }
  bool had_any = false;
  for (const auto& word : data) had_any = had_any || word.permitted != 0 || word.effective != 0;
  bool can_drop_bounding = (data[0].effective & (1u << CAP_SETPCAP)) != 0;

  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);  // EINVAL before Linux 4.3
  if (can_drop_bounding) {
    for (int cap = 0; ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; ++cap) {
      if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
        return Status::error("sandbox: cannot drop capability " + std::to_string(cap) +
                             " from the bounding set: " + errno_text());
      }
    }
  }
  __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capset, &header, none) != 0) {
    return Status::error("sandbox: capset failed: " + errno_text());
  }
  report->applied.push_back(had_any
                                ? "capabilities: all dropped" +
                                      std::string(can_drop_bounding ? ", bounding set emptied" : "")
                                : "capabilities: none held");
  return {};
}

// What `policy` needs that this kernel (or this identity) cannot give.
std::vector<std::string> missing_features(const Policy& policy,
                                          const detail::LandlockSupport& landlock,
                                          const std::string& seccomp_reason) {
  std::vector<std::string> missing;
  if (!close_range_available()) missing.push_back("close_range (Linux 5.9)");
  if (landlock.abi == 0) missing.push_back("Landlock: " + landlock.unavailable_reason);
  for (std::string& item : detail::landlock_missing(policy, landlock.abi)) {
    if (landlock.abi > 0) missing.push_back(std::move(item));
  }
  if (!seccomp_reason.empty()) missing.push_back("seccomp: " + seccomp_reason);
  if (policy.max_processes != 0 && is_root() && !policy.run_as) {
    missing.push_back(
        "RLIMIT_NPROC: the process stays uid 0, for which the kernel never enforces it "
        "(set run_as to an unprivileged uid, or max_processes = 0)");
  }
  return missing;
}

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) text += (text.empty() ? "" : "; ") + item;
  return text;
}

}  // namespace

Status apply(const Policy& policy, Report* report) {
  Report local;
  Report& out = report != nullptr ? *report : local;

  int threads = thread_count();
  if (threads != 1) {
    return Status::error(
        threads < 0
            ? "sandbox: cannot count this process's threads (is /proc mounted?)"
            : "sandbox: apply() must run before any other thread starts: this process has " +
                  std::to_string(threads) + " threads");
  }
  detail::LandlockSupport landlock = detail::landlock_support();
  std::string seccomp_reason = detail::seccomp_unavailable_reason();
  if (seccomp_reason.empty() && policy.seccomp.code.empty())
    seccomp_reason = policy.seccomp.unavailable_reason;
  out.missing = missing_features(policy, landlock, seccomp_reason);
  if (!policy.best_effort && !out.missing.empty()) {
    return Status::error("sandbox: this system lacks what the sandbox needs: " + join(out.missing) +
                         ". Nothing was applied; an administrator may accept less with "
                         "sandbox = \"best-effort\"");
  }

  Status status;
  if (close_range_available()) {
    status = close_other_fds(policy.keep_fds, &out);
    if (!status.ok()) return status;
  }
  if (is_root() && policy.run_as) {
    status = switch_identity(*policy.run_as, &out);
    if (!status.ok()) return status;
  }
  status = drop_capabilities(&out);
  if (!status.ok()) return status;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return Status::error("sandbox: PR_SET_NO_NEW_PRIVS failed: " + errno_text());
  }
  out.applied.push_back("no_new_privs");
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return Status::error("sandbox: PR_SET_DUMPABLE failed: " + errno_text());
  }
  out.applied.push_back("not dumpable (no ptrace attach, no /proc/<pid>/mem for others)");
  status = detail::apply_limits(policy, &out);
  if (!status.ok()) return status;

  if (landlock.abi > 0) {
    status = detail::apply_landlock(policy, landlock.abi);
    if (!status.ok()) return status;
    for (std::string& line : detail::landlock_features(policy, landlock.abi)) {
      out.applied.push_back(std::move(line));
    }
  }
  if (seccomp_reason.empty()) {
    status = detail::load_seccomp(policy.seccomp);
    if (!status.ok()) return status;
    out.applied.push_back(policy.seccomp.summary);
  }
  return {};
}

Report probe() {
  Report report;
  (close_range_available() ? report.applied : report.missing).push_back("close_range");
  detail::LandlockSupport landlock = detail::landlock_support();
  if (landlock.abi == 0) {
    report.missing.push_back("Landlock: " + landlock.unavailable_reason);
  } else {
    char errata[16];
    std::snprintf(errata, sizeof errata, "%#x", static_cast<unsigned>(landlock.errata));
    report.applied.push_back("Landlock ABI " + std::to_string(landlock.abi) + " (errata " + errata +
                             ")");
    Policy everything;
    everything.network = Network::kAllowlist;
    for (std::string& line : detail::landlock_missing(everything, landlock.abi)) {
      report.missing.push_back(std::move(line));
    }
  }
  std::string seccomp_reason = detail::seccomp_unavailable_reason();
  if (seccomp_reason.empty()) {
    report.applied.push_back("seccomp filter (kernel)");
  } else {
    report.missing.push_back("seccomp: " + seccomp_reason);
  }
  if (is_root()) {
    report.missing.push_back(
        "RLIMIT_NPROC for uid 0: not enforced by the kernel (binds once run_as switches to an "
        "unprivileged uid)");
  } else {
    report.applied.push_back("RLIMIT_NPROC (uid " + std::to_string(::getuid()) + ")");
  }
  return report;
}

std::vector<std::string> default_read_paths() {
  static const char* const kCandidates[] = {
      // the dynamic loader, system libraries and their data (/usr/lib/ssl, /usr/lib/locale)
      "/usr/lib", "/lib", "/lib64", "/usr/lib64", "/usr/local/lib", "/etc/ld.so.cache",
      // TLS roots (the /etc/ssl/certs links point into /usr/share/ca-certificates)
      "/etc/ssl", "/usr/share/ca-certificates", "/etc/pki",
      // time zones
      "/etc/localtime", "/etc/timezone", "/usr/share/zoneinfo",
      // name resolution configuration (not /etc/passwd: user names are none of its business)
      "/etc/nsswitch.conf", "/etc/hosts", "/etc/host.conf", "/etc/resolv.conf", "/etc/gai.conf",
      "/etc/services", "/etc/protocols",
      // devices every runtime expects
      "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random",
      // this process's own /proc entry, and CPU topology (get_nprocs, thread pools)
      "/proc/self", "/sys/devices/system/cpu"};
  std::vector<std::string> paths;
  for (const char* path : kCandidates) {
    struct stat st {};
    if (::stat(path, &st) == 0) paths.emplace_back(path);
  }
  return paths;
}

std::vector<std::string> default_write_paths() { return {"/dev/null"}; }

}  // namespace keyhold::sandbox
