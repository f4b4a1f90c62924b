// The seccomp filter: allow by default, refuse with EPERM what lets a process reach past its
// own sandbox (other processes' memory, the kernel's keyrings and modules, mounts and
// namespaces, io_uring which bypasses seccomp), and kill the process on a foreign syscall
// ABI (i386 int 0x80, x32) whose numbers the filter would otherwise misread.
//
// Arguments the kernel reads as 32-bit int are compared under the mask 0xffffffff: seccomp
// sees the whole 64-bit register, and a comparison of all 64 bits could be dodged by setting
// the upper half, which the kernel ignores.
//
// compile_seccomp() exports the filter as BPF; sandbox::apply() loads it (seccomp_load.cpp).

#include "sandbox/seccomp_compile.hpp"

#include <linux/filter.h>
#include <netinet/in.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace keyhold::sandbox {
namespace {

constexpr scmp_datum_t kInt = 0xffffffff;

// Refused outright. Grouped by what they would give a hostile plugin.
constexpr const char* kRefused[] = {
    // another process's memory or descriptors
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "pidfd_getfd",
    "kcmp",
    "migrate_pages",
    "move_pages",
    // kernel attack surface a plugin has no use for
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    // io_uring performs file and socket operations the filter never sees
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    // mounts and namespaces (clone and unshare: only their namespace flags, below)
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "open_tree",
    "mount_setattr",
    "setns",
    // the kernel itself
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "quotactl_fd",
    "syslog",
    "vhangup",
    "iopl",
    "ioperm",
    "uselib",
    "lookup_dcookie",
    "settimeofday",
    "clock_settime",
    "sethostname",
    "setdomainname",
    // file handles bypass path-based checks (the "shocker" escape); fanotify watches others
    "open_by_handle_at",
    "name_to_handle_at",
    "fanotify_init",
};

constexpr scmp_datum_t kNamespaceFlags[] = {
    CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
    CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
};
constexpr scmp_datum_t kCloneNewTime = 0x00000080;  // unshare only; in clone() it is CSIGNAL

constexpr int kMaxFamily = 64;  // above AF_MAX (46 in Linux 6.x): larger values are EAFNOSUPPORT

struct FilterDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Filter = std::unique_ptr<void, FilterDeleter>;

std::string describe(int rc) { return std::strerror(-rc); }

class Builder {
 public:
  explicit Builder(scmp_filter_ctx ctx) : ctx_(ctx) {}

  void refuse(int syscall, std::initializer_list<scmp_arg_cmp> args, int error = EPERM) {
    if (rc_ != 0) return;
    int rc = seccomp_rule_add_array(ctx_, SCMP_ACT_ERRNO(error), syscall,
                                    static_cast<unsigned>(args.size()), args.begin());
    if (rc != 0) {
      rc_ = rc;
      char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, syscall);
      what_ = name != nullptr ? name : "syscall " + std::to_string(syscall);
      std::free(name);
    }
  }
  void refuse(const char* name, std::initializer_list<scmp_arg_cmp> args = {}, int error = EPERM) {
    int syscall = seccomp_syscall_resolve_name(name);
    if (syscall == __NR_SCMP_ERROR) {
      unknown_.push_back(name);  // older libseccomp: the "unknown syscalls" rule covers it
      return;
    }
    refuse(syscall, args, error);
  }

  Status status() const {
    if (rc_ == 0) return {};
    return Status::error("sandbox: seccomp rule for " + what_ + " refused: " + describe(rc_));
  }
  const std::vector<std::string>& unknown() const { return unknown_; }

 private:
  scmp_filter_ctx ctx_;
  int rc_ = 0;
  std::string what_;  // the syscall whose rule failed
  std::vector<std::string> unknown_;
};

// personality() may only query (0xffffffff) or keep the default persona (0). libseccomp
// cannot compare one argument twice in a rule, so each rule tests a pair of bits: some bit
// set while bit 31 is clear (not 0, not the query), or bit 31 set while some bit is clear
// (not the query).
void refuse_personality_changes(Builder& b) {
  for (int bit = 0; bit < 31; ++bit) {
    scmp_datum_t low = scmp_datum_t{1} << bit;
    scmp_datum_t high = scmp_datum_t{1} << 31;
    b.refuse("personality", {SCMP_A0(SCMP_CMP_MASKED_EQ, low | high, low)});
    b.refuse("personality", {SCMP_A0(SCMP_CMP_MASKED_EQ, low | high, high)});
  }
}

void refuse_namespaces(Builder& b) {
  for (scmp_datum_t flag : kNamespaceFlags) {
    b.refuse("clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)});
    b.refuse("unshare", {SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)});
  }
  // Nor a sibling: a child of the process that started this one (a runner's fork server,
  // which reaps only the runners it forked).
  b.refuse("clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_PARENT, CLONE_PARENT)});
  b.refuse("unshare", {SCMP_A0(SCMP_CMP_MASKED_EQ, kCloneNewTime, kCloneNewTime)});
  // clone3 passes its flags in memory the filter cannot read. ENOSYS makes glibc (2.34+)
  // fall back to clone(), whose flags it can.
  b.refuse("clone3", {}, ENOSYS);
}

// Limits, priorities and CPU placement only of the calling process or thread (pid or who
// 0). Another process of the same user (the host, another runner) is out of reach: Landlock
// scopes signals, not these. setpriority and ioprio_set also take a process group or a
// user, which would reach the host too: only "this process" (which 0, resp. 1) passes.
// A thread naming itself by its tid is refused as well (pthread_setschedparam,
// pthread_setaffinity_np on another thread); the filter cannot tell a tid of this process.
void refuse_other_processes(Builder& b) {
  for (const char* call :
       {"prlimit64", "sched_setscheduler", "sched_setparam", "sched_setattr", "sched_setaffinity"})
    b.refuse(call, {SCMP_A0(SCMP_CMP_NE, 0, 0)});
  constexpr scmp_datum_t kPrioProcess = 0, kIoprioWhoProcess = 1;
  b.refuse("setpriority", {SCMP_A0(SCMP_CMP_NE, kPrioProcess, 0)});
  b.refuse("setpriority", {SCMP_A1(SCMP_CMP_NE, 0, 0)});
  b.refuse("ioprio_set", {SCMP_A0(SCMP_CMP_NE, kIoprioWhoProcess, 0)});
  b.refuse("ioprio_set", {SCMP_A1(SCMP_CMP_NE, 0, 0)});
}

bool allowed_family(const Policy& policy, int family) {
  switch (policy.network) {
    case Network::kAny:
      return true;
    case Network::kNone:
      return family == AF_UNIX;
    case Network::kAllowlist:
      // AF_NETLINK: getaddrinfo(AI_ADDRCONFIG) asks the kernel for local addresses.
      return family == AF_UNIX || family == AF_INET || family == AF_INET6 || family == AF_NETLINK;
  }
  return false;
}

// kAllowlist: IP sockets may only be TCP (Landlock's rules bind TCP alone; SCTP, MPTCP,
// raw and ICMP sockets would pass around them), and UDP when the policy allows it.
void refuse_non_tcp(Builder& b, const Policy& policy, int family) {
  scmp_datum_t fam = static_cast<scmp_datum_t>(family);
  for (scmp_datum_t type = 0; type < 16; ++type) {
    if (type == SOCK_STREAM || (policy.allow_udp && type == SOCK_DGRAM)) continue;
    b.refuse("socket",
             {SCMP_A0(SCMP_CMP_MASKED_EQ, kInt, fam), SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, type)});
  }
  scmp_datum_t highest = policy.allow_udp ? IPPROTO_UDP : IPPROTO_TCP;
  for (scmp_datum_t protocol = 1; protocol < highest; ++protocol) {
    if (protocol == IPPROTO_TCP) continue;
    b.refuse("socket",
             {SCMP_A0(SCMP_CMP_MASKED_EQ, kInt, fam), SCMP_A2(SCMP_CMP_MASKED_EQ, kInt, protocol)});
  }
  b.refuse("socket", {SCMP_A0(SCMP_CMP_MASKED_EQ, kInt, fam), SCMP_A2(SCMP_CMP_GT, highest, 0)});
}

void refuse_sockets(Builder& b, const Policy& policy) {
  if (!policy.unix_sockets) {
    // Landlock (up to ABI 7) does not check connect() or sendto() to a socket file.
    b.refuse("socket", {SCMP_A0(SCMP_CMP_MASKED_EQ, kInt, AF_UNIX)});
    b.refuse("socketpair", {SCMP_A0(SCMP_CMP_MASKED_EQ, kInt, AF_UNIX),
                            SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_DGRAM)});
  }
  if (policy.network == Network::kAny) return;
  for (int family = 0; family < kMaxFamily; ++family) {
    if (family == AF_UNIX || allowed_family(policy, family)) continue;
    b.refuse("socket", {SCMP_A0(SCMP_CMP_MASKED_EQ, kInt, static_cast<scmp_datum_t>(family))});
  }
  if (policy.network == Network::kAllowlist) {
    refuse_non_tcp(b, policy, AF_INET);
    refuse_non_tcp(b, policy, AF_INET6);
    // listen() on an unbound TCP socket binds an ephemeral port without the bind() that
    // Landlock checks, and would accept connections from anywhere. A connector is a client.
    b.refuse("listen");
  }
}

// Syscalls newer than this libseccomp's table get ENOSYS: a new kernel interface (as
// io_uring once was) is refused until someone has looked at it. libc falls back on ENOSYS.
int refuse_unknown_syscalls(Builder& b) {
  int highest_known = 0;
  for (int nr = 0; nr < 512; ++nr) {
    char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (name != nullptr) highest_known = nr;
    std::free(name);
  }
  for (int nr = highest_known + 1; nr < 512; ++nr) b.refuse(nr, {}, ENOSYS);
  return highest_known;
}

// libseccomp below 2.5 lacks syscalls and attributes the rules above rely on.
std::string compiler_too_old() {
  const scmp_version* version = seccomp_version();
  if (version->major < 2 || (version->major == 2 && version->minor < 5)) {
    return "libseccomp " + std::to_string(version->major) + "." + std::to_string(version->minor) +
           " is older than 2.5";
  }
  return {};
}

// The filter as the kernel takes it: libseccomp 2.5 exports only to a descriptor.
Status export_bpf(scmp_filter_ctx ctx, std::vector<sock_filter>* code) {
  const int fd = ::memfd_create("keyhold-seccomp", MFD_CLOEXEC);
  if (fd < 0) return Status::error(std::string("sandbox: memfd_create: ") + std::strerror(errno));
  Status status;
  struct stat st {};
  if (int rc = seccomp_export_bpf(ctx, fd); rc != 0) {
    status = Status::error("sandbox: seccomp_export_bpf failed: " + describe(rc));
  } else if (::fstat(fd, &st) != 0 || st.st_size <= 0 ||
             st.st_size % static_cast<off_t>(sizeof(sock_filter)) != 0) {
    status = Status::error("sandbox: libseccomp exported a malformed filter");
  } else {
    code->resize(static_cast<std::size_t>(st.st_size) / sizeof(sock_filter));
    const ssize_t n = ::pread(fd, code->data(), static_cast<std::size_t>(st.st_size), 0);
    if (n != st.st_size) status = Status::error("sandbox: reading the exported filter failed");
  }
  ::close(fd);
  return status;
}

}  // namespace

std::string seccomp_compiler() {
  if (std::string old = compiler_too_old(); !old.empty()) return old;
  const scmp_version* v = seccomp_version();
  return "libseccomp " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->micro);
}

Status compile_seccomp(const Policy& policy, SeccompProgram* program) {
  if (std::string old = compiler_too_old(); !old.empty()) return Status::error("sandbox: " + old);
  Filter filter(seccomp_init(SCMP_ACT_ALLOW));
  if (!filter) return Status::error("sandbox: seccomp_init failed (out of memory?)");
  scmp_filter_ctx ctx = filter.get();
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc == 0) rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);  // binary search tree
  if (rc != 0) return Status::error("sandbox: seccomp_attr_set failed: " + describe(rc));

  Builder b(ctx);
  for (const char* name : kRefused) b.refuse(name);
  refuse_namespaces(b);
  refuse_personality_changes(b);
  refuse_other_processes(b);
  // Not dumpable must stay so; TIOCSTI and TIOCLINUX inject input into a terminal.
  b.refuse("prctl", {SCMP_A0(SCMP_CMP_MASKED_EQ, kInt, PR_SET_DUMPABLE)});
  b.refuse("ioctl", {SCMP_A1(SCMP_CMP_MASKED_EQ, kInt, TIOCSTI)});
  b.refuse("ioctl", {SCMP_A1(SCMP_CMP_MASKED_EQ, kInt, TIOCLINUX)});
  refuse_sockets(b, policy);
  int highest_known = refuse_unknown_syscalls(b);
  if (Status status = b.status(); !status.ok()) return status;

  std::vector<sock_filter> code;
  if (Status exported = export_bpf(ctx, &code); !exported.ok()) return exported;

  std::string summary =
      "seccomp: EPERM for " + std::to_string(std::size(kRefused)) +
      " syscalls, namespace flags of clone/unshare, CLONE_PARENT, personality changes";
  if (!policy.unix_sockets) summary += ", unix sockets other than stream socketpairs";
  switch (policy.network) {
    case Network::kNone:
      summary += ", every other socket family";
      break;
    case Network::kAllowlist:
      summary += policy.allow_udp ? ", IP sockets other than TCP and UDP, listen"
                                  : ", IP sockets other than TCP, listen";
      break;
    case Network::kAny:
      break;
  }
  summary += "; ENOSYS for clone3 and syscalls above " + std::to_string(highest_known) +
             "; kill on a foreign syscall ABI";
  for (const std::string& name : b.unknown()) summary += "; " + name + " unknown to libseccomp";
  program->code = std::move(code);
  program->summary = std::move(summary);
  program->unavailable_reason.clear();
  return {};
}

}  // namespace keyhold::sandbox
