// Landlock through raw system calls: the installed <linux/landlock.h> may be older than the
// running kernel (Debian 12's knows ABI 2), so the constants of later ABIs are defined here
// from the kernel's UAPI, and the ruleset attribute is sized for the ABI in use.

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "sandbox/mechanisms.hpp"

namespace keyhold::sandbox::detail {
namespace {

// UAPI constants by the ABI that introduced them (include/uapi/linux/landlock.h).
// ABI 1: LANDLOCK_ACCESS_FS_EXECUTE .. LANDLOCK_ACCESS_FS_MAKE_SYM (bits 0..12).
// ABI 2: LANDLOCK_ACCESS_FS_REFER (bit 13).
constexpr std::uint64_t kFsTruncate = 1ull << 14;  // ABI 3
constexpr std::uint64_t kFsIoctlDev = 1ull << 15;  // ABI 5
constexpr std::uint64_t kNetBindTcp = 1ull << 0;   // ABI 4
constexpr std::uint64_t kNetConnectTcp = 1ull << 1;
constexpr int kRuleNetPort = 2;                                // LANDLOCK_RULE_NET_PORT, ABI 4
constexpr std::uint64_t kScopeAbstractUnixSocket = 1ull << 0;  // ABI 6
constexpr std::uint64_t kScopeSignal = 1ull << 1;
constexpr unsigned kCreateRulesetVersion = 1u << 0;
constexpr unsigned kCreateRulesetErrata = 1u << 1;  // ABI 7 kernels (6.15)

// The attribute as of ABI 6; the kernel reads only the size it is given.
struct RulesetAttr {
  std::uint64_t handled_access_fs;
  std::uint64_t handled_access_net;
  std::uint64_t scoped;
};
struct NetPortAttr {
  std::uint64_t allowed_access;
  std::uint64_t port;
};

constexpr std::uint64_t kFsAbi1 = (1ull << 13) - 1;
constexpr std::uint64_t kFsRefer = LANDLOCK_ACCESS_FS_REFER;

// The rights that make sense on a file that is not a directory.
constexpr std::uint64_t kFsFileRights = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                        LANDLOCK_ACCESS_FS_READ_FILE | kFsTruncate | kFsIoctlDev;
constexpr std::uint64_t kFsReadRights =
    LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
// Writable paths: everything but device nodes (MAKE_CHAR, MAKE_BLOCK) and device ioctls.
constexpr std::uint64_t kFsWriteRights =
    kFsReadRights | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
    LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
    LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_SYM |
    kFsRefer | kFsTruncate;

std::uint64_t handled_fs(int abi) {
  std::uint64_t rights = kFsAbi1;
  if (abi >= 2) rights |= kFsRefer;
  if (abi >= 3) rights |= kFsTruncate;
  if (abi >= 5) rights |= kFsIoctlDev;
  return rights;
}

bool restricts_tcp(const Policy& policy) { return policy.network != Network::kAny; }

std::string errno_text(int error) { return std::strerror(error); }

// Closes a descriptor on every return path.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Status add_path_rule(int ruleset_fd, const std::string& path, std::uint64_t rights,
                     std::uint64_t handled, const char* kind) {
  FdGuard fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (fd.get() < 0) {
    return Status::error("sandbox: cannot open " + std::string(kind) + " path " + path + ": " +
                         errno_text(errno) + " (every listed path must exist)");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return Status::error("sandbox: cannot stat " + path + ": " + errno_text(errno));
  }
  if (!S_ISDIR(st.st_mode)) rights &= kFsFileRights;
  landlock_path_beneath_attr rule{};
  rule.allowed_access = rights & handled;
  rule.parent_fd = fd.get();
  if (::syscall(SYS_landlock_add_rule, ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0) {
    return Status::error("sandbox: Landlock rule for " + path + " refused: " + errno_text(errno));
  }
  return {};
}

}  // namespace

LandlockSupport landlock_support() {
  LandlockSupport support;
  long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, kCreateRulesetVersion);
  if (abi < 0) {
    support.unavailable_reason =
        errno == EOPNOTSUPP ? "Landlock is built in but disabled (boot with lsm=...,landlock)"
        : errno == ENOSYS   ? "the kernel has no Landlock (Linux 5.13 or later with "
                              "CONFIG_SECURITY_LANDLOCK)"
                            : "landlock_create_ruleset: " + errno_text(errno);
    return support;
  }
  support.abi = static_cast<int>(abi);
  long errata = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, kCreateRulesetErrata);
  support.errata = errata < 0 ? 0 : static_cast<int>(errata);
  return support;
}

std::vector<std::string> landlock_missing(const Policy& policy, int abi) {
  std::vector<std::string> missing;
  if (abi < 1) {
    missing.push_back("Landlock filesystem rules (Landlock ABI 1)");
  } else {
    if (abi < 3) missing.push_back("Landlock truncate right (ABI 3, Linux 6.2)");
    if (abi < 5) missing.push_back("Landlock device ioctl right (ABI 5, Linux 6.10)");
  }
  if (restricts_tcp(policy) && abi < 4) {
    missing.push_back("Landlock TCP bind/connect rules (ABI 4, Linux 6.7)");
  }
  if (abi < 6) {
    missing.push_back("Landlock scoping of abstract unix sockets and signals (ABI 6, Linux 6.12)");
  }
  return missing;
}

std::vector<std::string> landlock_features(const Policy& policy, int abi) {
  std::vector<std::string> features;
  if (abi < 1) return features;
  std::string fs = "Landlock ABI " + std::to_string(abi) + ": filesystem: read " +
                   std::to_string(policy.read_paths.size()) + " path(s), write " +
                   std::to_string(policy.write_paths.size()) + " path(s)";
  fs += abi >= 2 ? ", refer" : " (ABI 1: every cross-directory rename or link refused)";
  if (abi >= 3) fs += ", truncate";
  if (abi >= 5) fs += ", ioctl_dev";
  features.push_back(fs);
  if (restricts_tcp(policy) && abi >= 4) {
    std::string net = "Landlock TCP: no bind; connect ";
    if (policy.network == Network::kNone || policy.connect_ports.empty()) {
      net += "to no port";
    } else {
      net += "only to port(s)";
      for (std::uint16_t port : policy.connect_ports) net += " " + std::to_string(port);
    }
    features.push_back(net);
  }
  if (abi >= 6)
    features.push_back(
        "Landlock scope: no signals outside the sandbox, no abstract unix sockets outside it");
  return features;
}

Status apply_landlock(const Policy& policy, int abi) {
  if (abi < 1) return Status::error("sandbox: Landlock is not available");
  RulesetAttr attr{};
  attr.handled_access_fs = handled_fs(abi);
  std::size_t attr_size = sizeof(std::uint64_t);
  if (abi >= 4) {
    attr_size = 2 * sizeof(std::uint64_t);
    if (restricts_tcp(policy)) attr.handled_access_net = kNetBindTcp | kNetConnectTcp;
  }
  if (abi >= 6) {
    attr_size = sizeof(RulesetAttr);
    attr.scoped = kScopeAbstractUnixSocket | kScopeSignal;
  }
  FdGuard ruleset(static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0)));
  if (ruleset.get() < 0) {
    return Status::error("sandbox: landlock_create_ruleset failed: " + errno_text(errno));
  }

  for (const std::string& path : policy.read_paths) {
    Status status =
        add_path_rule(ruleset.get(), path, kFsReadRights, attr.handled_access_fs, "read");
    if (!status.ok()) return status;
  }
  for (const std::string& path : policy.write_paths) {
    Status status =
        add_path_rule(ruleset.get(), path, kFsWriteRights, attr.handled_access_fs, "write");
    if (!status.ok()) return status;
  }
  if (policy.network == Network::kAllowlist && attr.handled_access_net != 0) {
    for (std::uint16_t port : policy.connect_ports) {
      NetPortAttr rule{kNetConnectTcp, port};
      if (::syscall(SYS_landlock_add_rule, ruleset.get(), kRuleNetPort, &rule, 0) != 0) {
        return Status::error("sandbox: Landlock rule for TCP port " + std::to_string(port) +
                             " refused: " + errno_text(errno));
      }
    }
  }
  if (::syscall(SYS_landlock_restrict_self, ruleset.get(), 0) != 0) {
    return Status::error("sandbox: landlock_restrict_self failed: " + errno_text(errno));
  }
  return {};
}

}  // namespace keyhold::sandbox::detail
