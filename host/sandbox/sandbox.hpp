#pragma once
// The sandbox a plugin runner applies to itself before the plugin's code runs: closes
// inherited descriptors, drops privileges, caps resources, confines the filesystem and TCP
// with Landlock, and refuses dangerous system calls with seccomp. Everything applied here
// is inherited by every thread and child the process creates later and cannot be undone.
// What each mechanism does and does not guarantee: host/sandbox/README.md.
//
// Self-contained: depends on libc and kernel headers only; no exceptions. The seccomp filter
// is compiled ahead by compile_seccomp() (seccomp_compile.hpp, libseccomp), in the host:
// apply() only loads it, so a runner neither links libseccomp nor spends a millisecond of
// every start building the same filter.

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace keyhold::sandbox {

// The outcome of apply(): ok, or a message that names what failed and what to do.
class Status {
 public:
  Status() = default;
  static Status error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !message_.has_value(); }
  // Empty when ok().
  const std::string& message() const {
    static const std::string kEmpty;
    return message_ ? *message_ : kEmpty;
  }

 private:
  explicit Status(std::string message) : message_(std::move(message)) {}
  std::optional<std::string> message_;
};

enum class Network {
  kNone,       // no IP or other sockets (seccomp) and no TCP bind/connect (Landlock)
  kAny,        // no network restriction
  kAllowlist,  // TCP connect only to connect_ports; no TCP bind or listen, no other IP protocol
};

// An unprivileged identity to switch to when the caller runs as root.
struct Identity {
  uid_t uid = 65534;  // nobody
  gid_t gid = 65534;  // nogroup
};

// A seccomp filter (classic BPF, as the kernel takes it) compiled for one policy.
struct SeccompProgram {
  std::vector<sock_filter> code;  // empty: none was compiled
  std::string summary;            // what it refuses, one line for Report::applied
  // Why none was compiled (code empty); apply() counts seccomp as missing with it.
  std::string unavailable_reason = "no seccomp filter was compiled for this policy";
};

struct Policy {
  // Descriptors that stay open; every other one is closed. Usually stdio and the channel.
  std::vector<int> keep_fds = {0, 1, 2};

  // Files or directories (and everything beneath them) readable and executable.
  std::vector<std::string> read_paths;
  // Files or directories (and everything beneath them) readable, writable, creatable,
  // removable. Every listed path must exist.
  std::vector<std::string> write_paths;

  Network network = Network::kNone;
  // kAllowlist: the TCP ports connect() may reach, on any address (Landlock rules know
  // ports, not addresses).
  std::vector<std::uint16_t> connect_ports;
  // kAllowlist: also allow UDP sockets, which the system resolver (DNS) needs. Neither
  // Landlock nor seccomp can restrict where a datagram goes: this opens UDP to anywhere.
  bool allow_udp = false;

  // socket(AF_UNIX), to connect to named unix sockets (a local PostgreSQL, say). Landlock
  // cannot restrict which: every socket file whose permissions allow it becomes reachable,
  // such as the Docker or D-Bus socket. Without it only socketpair(AF_UNIX, SOCK_STREAM or
  // SOCK_SEQPACKET) remains: a datagram pair could sendto() any named socket.
  bool unix_sockets = false;

  // RLIMIT_AS in bytes (address space, not resident memory); 0 leaves it unchanged. An
  // AddressSanitizer build never sets it (listed in Report::missing, not an error).
  std::uint64_t memory_bytes = 512ull << 20;
  // RLIMIT_NOFILE; 0 leaves it unchanged.
  std::uint64_t max_open_files = 256;
  // RLIMIT_NPROC; 0 leaves it unchanged. The kernel counts every process and thread of the
  // real uid, system-wide, not of this process tree, and never enforces it for uid 0.
  std::uint64_t max_processes = 64;

  // When the caller's real or effective uid is 0: switch to this identity (supplementary
  // groups dropped). Ignored for an unprivileged caller. Without it a root caller keeps
  // uid 0 (with every capability dropped), and RLIMIT_NPROC does not bind.
  std::optional<Identity> run_as;

  // The filter compile_seccomp() made for this policy's network, allow_udp and
  // unix_sockets. Where the kernel offers seccomp, apply() loads it; without one, seccomp
  // is a missing mechanism (an error unless best_effort).
  SeccompProgram seccomp;

  // false: a mechanism the kernel cannot provide is an error and nothing is applied.
  // true: apply what exists and list the rest in Report::missing.
  bool best_effort = false;
};

// What apply() did, or what probe() found, one line per mechanism, in the order applied.
struct Report {
  std::vector<std::string> applied;
  std::vector<std::string> missing;
};

// Applies policy to the calling process, irreversibly. Must run before the process starts
// a second thread (Landlock binds only the calling thread): with more than one thread it
// fails and applies nothing. Fills *report when it is not null. Without best_effort, a
// missing kernel feature fails before anything is applied, with a message naming it; a
// failure while applying leaves the process partly sandboxed: the caller must exit then.
Status apply(const Policy& policy, Report* report);

// What this kernel offers, without applying anything. Cheap; safe to call from any thread.
Report probe();

// Paths a dynamically linked plugin needs to load and run, those that exist on this system:
// the system libraries and loader cache, TLS roots, time zones, resolver configuration,
// /dev/null, /dev/zero, /dev/urandom, /proc/self (of the process that applies, not of
// its children: a child sees only its parent's entry) and CPU topology under /sys. Not the
// plugin's own .so nor the runner binary: the caller adds those.
std::vector<std::string> default_read_paths();

// Paths every plugin may write: /dev/null only.
std::vector<std::string> default_write_paths();

}  // namespace keyhold::sandbox
