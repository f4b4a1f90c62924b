#pragma once
// Runs an administrator's program for the `command` strategy: argv exactly as given (execvp,
// no shell), the given bytes on stdin, stdout captured into guarded memory, stderr passed
// through, killed (SIGKILL, whole process group) when the timeout passes.
#include <chrono>
#include <span>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "keyhold/vault/secret_buffer.hpp"

namespace keyhold::rotation {

struct ProgramRun {
  vault::SecretBuffer stdout_bytes;  // at most 64 KiB
};

// Runs argv with input on stdin; OK only when it exits 0 within timeout. Errors name the
// program and how it ended, never what it printed.
Result<ProgramRun> run_program(const std::vector<std::string>& argv,
                               std::span<const std::uint8_t> input, std::chrono::seconds timeout);

}  // namespace keyhold::rotation
