#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>

#include "sandbox/sandbox.hpp"

using namespace keyhold::sandbox;

namespace {
bool mentions(const std::vector<std::string>& lines, const std::string& word) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& line) { return line.find(word) != std::string::npos; });
}
}  // namespace

TEST_CASE("probe names each mechanism as available or missing, once", "[sandbox][probe]") {
  Report report = probe();
  for (const char* mechanism : {"close_range", "Landlock", "seccomp", "RLIMIT_NPROC"}) {
    CAPTURE(mechanism);
    CHECK((mentions(report.applied, mechanism) || mentions(report.missing, mechanism)));
  }
  CHECK(mentions(report.applied, "Landlock ABI") != mentions(report.missing, "Landlock: "));
  CHECK(mentions(report.missing, "RLIMIT_NPROC for uid 0") == (::getuid() == 0));
  for (const std::string& line : report.applied) UNSCOPED_INFO("available: " << line);
  for (const std::string& line : report.missing) UNSCOPED_INFO("missing: " << line);
  SUCCEED();
}

TEST_CASE("default read paths exist and include the system libraries", "[sandbox][probe]") {
  std::vector<std::string> paths = default_read_paths();
  CHECK(std::find(paths.begin(), paths.end(), "/usr/lib") != paths.end());
  CHECK(std::find(paths.begin(), paths.end(), "/proc/self") != paths.end());
  for (const std::string& path : paths) {
    struct stat st {};
    CAPTURE(path);
    CHECK(::stat(path.c_str(), &st) == 0);
  }
  CHECK(default_write_paths() == std::vector<std::string>{"/dev/null"});
}
