// Resource limits. Each is set as both soft and hard limit, so the plugin cannot raise it
// again (that takes CAP_SYS_RESOURCE, which apply() has dropped by then). A limit already
// lower than asked is kept.

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include "sandbox/mechanisms.hpp"

namespace keyhold::sandbox::detail {
namespace {

// AddressSanitizer reserves terabytes of address space at startup; under any RLIMIT_AS its
// next mmap fails and it aborts the process ("ERROR: Failed to mmap").
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

Status set_limit(int resource, const char* name, std::uint64_t value, Report* report,
                 const std::string& shown) {
  rlimit current{};
  if (::getrlimit(resource, &current) != 0) {
    return Status::error(std::string("sandbox: getrlimit(") + name +
                         ") failed: " + std::strerror(errno));
  }
  rlim_t wanted = static_cast<rlim_t>(value);
  if (current.rlim_max != RLIM_INFINITY && current.rlim_max < wanted) wanted = current.rlim_max;
  rlimit next{wanted, wanted};
  if (::setrlimit(resource, &next) != 0) {
    return Status::error(std::string("sandbox: setrlimit(") + name +
                         ") failed: " + std::strerror(errno));
  }
  report->applied.push_back(
      std::string(name) + " = " +
      (wanted == static_cast<rlim_t>(value) ? shown : std::to_string(wanted) + " (already lower)"));
  return {};
}

}  // namespace

std::string format_bytes(unsigned long long bytes) {
  constexpr unsigned long long kMiB = 1ull << 20;
  if (bytes != 0 && bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
  return std::to_string(bytes) + " bytes";
}

Status apply_limits(const Policy& policy, Report* report) {
  Status status = set_limit(RLIMIT_CORE, "RLIMIT_CORE", 0, report, "0");
  if (kAddressSanitizer && policy.memory_bytes != 0) {
    // A test build only; listed as missing but not fatal, or no sanitizer run could sandbox.
    report->missing.push_back("RLIMIT_AS: not set in an AddressSanitizer build");
  } else if (status.ok() && policy.memory_bytes != 0) {
    status = set_limit(RLIMIT_AS, "RLIMIT_AS", policy.memory_bytes, report,
                       format_bytes(policy.memory_bytes));
  }
  if (status.ok() && policy.max_open_files != 0) {
    status = set_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", policy.max_open_files, report,
                       std::to_string(policy.max_open_files));
  }
  if (status.ok() && policy.max_processes != 0) {
    status = set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", policy.max_processes, report,
                       std::to_string(policy.max_processes) + " (per real uid, system-wide)");
  }
  return status;
}

}  // namespace keyhold::sandbox::detail
