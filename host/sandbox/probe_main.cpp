// keyhold-sandbox-probe: prints what this kernel offers the plugin sandbox, one mechanism a
// line, and exits 0 when nothing is missing, 1 otherwise.

#include <cstdio>

#include "sandbox/sandbox.hpp"
#include "sandbox/seccomp_compile.hpp"

int main() {
  keyhold::sandbox::Report report = keyhold::sandbox::probe();
  for (const std::string& line : report.applied) std::printf("available: %s\n", line.c_str());
  for (const std::string& line : report.missing) std::printf("missing:   %s\n", line.c_str());
  // The filter is compiled in the host (keyhold serve), which links libseccomp.
  std::printf("seccomp compiler: %s\n", keyhold::sandbox::seccomp_compiler().c_str());
  std::printf("default read paths:");
  for (const std::string& path : keyhold::sandbox::default_read_paths()) {
    std::printf(" %s", path.c_str());
  }
  std::printf("\n");
  return report.missing.empty() ? 0 : 1;
}
