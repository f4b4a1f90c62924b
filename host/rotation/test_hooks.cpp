#include "rotation/test_hooks.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace keyhold::rotation {

void pause_at(std::string_view step) {
#ifdef KEYHOLD_TEST_HOOKS
  const char* wanted = std::getenv("KEYHOLD_TEST_ROTATION_PAUSE");
  if (wanted == nullptr || step != wanted) return;
  const std::string line = "keyhold: test hook: paused at " + std::string(step) + "\n";
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  for (;;) ::pause();
#else
  (void)step;
#endif
}

}  // namespace keyhold::rotation
