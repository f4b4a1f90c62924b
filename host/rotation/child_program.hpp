#pragma once
// Runs an administrator's program for the `command` strategy: argv exactly as given (execvp,
// no shell), the given bytes on stdin, stdout captured into guarded memory, stderr passed
// through (or handed to a sink), killed (SIGKILL, whole process group) when the timeout passes.
#include <chrono>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "keyhold/vault/secret_buffer.hpp"

namespace keyhold::rotation {

struct ProgramRun {
  vault::SecretBuffer stdout_bytes;  // at most 64 KiB
};

// Receives what the program writes on stderr, chunk by chunk as it arrives (at most 64 KiB
// in all), on the calling thread. Empty: stderr is the host's own.
using StderrSink = std::function<void(std::string_view chunk)>;

// Runs argv with input on stdin; OK only when it exits 0 within timeout. Errors name the
// program and how it ended, never what it printed.
Result<ProgramRun> run_program(const std::vector<std::string>& argv,
                               std::span<const std::uint8_t> input, std::chrono::seconds timeout,
                               const StderrSink& stderr_sink = {});

}  // namespace keyhold::rotation
