#pragma once
// Test-only pause points of a rotation. In a build with KEYHOLD_TEST_HOOKS, when
// KEYHOLD_TEST_ROTATION_PAUSE names step, pause_at(step) prints
// "keyhold: test hook: paused at STEP" on stderr and waits for a signal forever (the kill -9
// tests kill it there). Otherwise it does nothing. Steps: pending, applied, tested, promoted.
#include <string_view>

namespace keyhold::rotation {

void pause_at(std::string_view step);

}  // namespace keyhold::rotation
