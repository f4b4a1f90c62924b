#pragma once
// Runs code in a forked child after it applied a sandbox policy, and brings back what the
// code saw, so a test can check each escape attempt's exact error from the parent.

#include <functional>
#include <string>

#include "sandbox/sandbox.hpp"

namespace keyhold::sandbox::testing {

// True in an AddressSanitizer build: ASan reserves terabytes of address space at startup,
// so apply() leaves RLIMIT_AS alone there and the memory cap cannot be tested.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

inline constexpr Identity kNobody{65534, 65534};

struct ChildOutcome {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string output;  // "apply: <message>" when apply() failed, else what body returned
};

// The default read and write sets and no process cap (a root test run keeps uid 0).
Policy base_policy();

// Forks a child that applies `policy` (plus a kept pipe to the parent) and returns body()'s
// text through the pipe; waits for it. Compiles the policy's seccomp filter first when it
// has none, as the host does.
ChildOutcome run_sandboxed(Policy policy, const std::function<std::string()>& body);
// The same with the policy's seccomp member as it is (none, or a hand-made program).
ChildOutcome run_applied(Policy policy, const std::function<std::string()>& body);

// "ok" for 0, else the errno's symbolic name ("EACCES").
std::string errno_name(int error);
// Calls result < 0 ? errno_name(errno) : "ok".
std::string outcome(long result);

// Collects "label: result" lines in the order the attempts run (the operands of a chain of
// + are evaluated in an unspecified order, and attempts that change files must not be).
class Transcript {
 public:
  Transcript& add(const std::string& label, const std::string& result) {
    text_ += (text_.empty() ? "" : "; ") + label + ": " + result;
    return *this;
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// A fresh directory under /tmp, world-traversable, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Creates a subdirectory with `mode` and returns its path.
  std::string make_dir(const std::string& name, unsigned mode) const;
  // Creates a file with `content` and mode 0644 and returns its path.
  std::string make_file(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

}  // namespace keyhold::sandbox::testing
