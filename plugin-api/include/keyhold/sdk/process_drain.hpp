// keyhold/sdk/process_drain.hpp - reads a process the host started for the plugin
// (Context::spawn_process) until its output ends, stops it when the plugin says so, and
// reaps it.
//
//   auto outcome = keyhold::sdk::drain_process(ctx.host(), process,
//       [&](int stream, std::string_view chunk) { out[stream].append(chunk); return true; },
//       [&]() -> std::optional<std::chrono::milliseconds> {
//         if (ctx.cancelled()) return std::chrono::seconds(5);  // SIGTERM, SIGKILL after 5 s
//         return std::nullopt;                                  // go on
//       });
//
// Output is read from both streams without blocking, then by waiting on the stream that
// spoke last (a busy stdout never fills its pipe while a quiet stderr is waited on).
// Stopping: a grace of zero sends SIGKILL at once, otherwise SIGTERM and SIGKILL when the
// grace has passed; after SIGKILL, pipes a straggler still holds are waited on for at most
// `straggler_wait`. The process group is signalled (the host's kill_process), and every
// path ends with the process reaped (or gone), so its exit status is known.
#pragma once

#include <signal.h>
#include <keyhold/plugin.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace keyhold::sdk {

struct DrainOptions {
  int32_t poll_ms = 25;  // the longest wait inside one read
  std::chrono::milliseconds straggler_wait{std::chrono::seconds(5)};
};

struct DrainOutcome {
  int32_t status = 0;    // the wait status (WIFEXITED, WEXITSTATUS, ...) once reaped
  bool stopped = false;  // should_stop or on_output asked to stop it
  bool killed = false;   // SIGKILL was sent
};

// on_output(stream, chunk): 1 stdout, 2 stderr; returning false stops the process at once
// (e.g. past a size cap). should_stop(): nullopt to go on, or the grace before SIGKILL;
// asked before every round until it first answers, and while waiting for the exit status.
template <class OnOutput, class ShouldStop>
DrainOutcome drain_process(const Host& host, std::uint64_t process, OnOutput&& on_output,
                           ShouldStop&& should_stop, DrainOptions options = {}) {
  using Clock = std::chrono::steady_clock;
  DrainOutcome outcome;
  std::optional<Clock::time_point> kill_at;
  auto stop = [&](std::chrono::milliseconds grace) {
    outcome.stopped = true;
    kill_at = Clock::now() + grace;
    if (grace.count() > 0) host.kill_process(process, SIGTERM);
  };
  auto consume = [&](int32_t stream, const std::string& chunk) {
    if (!chunk.empty() && !on_output(static_cast<int>(stream), std::string_view(chunk)) &&
        !outcome.stopped)
      stop(std::chrono::milliseconds(0));
  };
  bool open[3] = {false, true, true};
  int32_t wait_stream = 1;
  while (open[1] || open[2]) {
    if (!outcome.stopped) {
      if (auto grace = should_stop()) stop(*grace);
    }
    const auto now = Clock::now();
    if (kill_at && !outcome.killed && now >= *kill_at) {
      host.kill_process(process, SIGKILL);
      outcome.killed = true;
    }
    if (outcome.killed && now >= *kill_at + options.straggler_wait) break;
    bool got = false;
    for (int32_t s : {1, 2}) {
      if (!open[s]) continue;
      std::string chunk;
      if (host.read_process(process, s, 0, &chunk) == KH_NOT_FOUND) open[s] = false;
      if (!chunk.empty()) {
        wait_stream = s;
        got = true;
      }
      consume(s, chunk);
    }
    if (got || !(open[1] || open[2])) continue;
    if (!open[wait_stream]) wait_stream = 3 - wait_stream;
    std::string chunk;
    if (host.read_process(process, wait_stream, options.poll_ms, &chunk) == KH_NOT_FOUND)
      open[wait_stream] = false;
    consume(wait_stream, chunk);
  }
  // The output has ended (or a straggler holds it). A stopped process's group is killed
  // before the leader is reaped: once reaped, the host no longer signals its group.
  if (outcome.stopped && !outcome.killed) {
    host.kill_process(process, SIGKILL);
    outcome.killed = true;
  }
  for (;;) {
    const int32_t waited = host.wait_process(process, 100, &outcome.status);
    if (waited == KH_OK || waited == KH_NOT_FOUND) break;
    if (!outcome.stopped && should_stop()) {
      // The output closed but the leader lives on: nothing is left to drain, kill at once.
      outcome.stopped = true;
      host.kill_process(process, SIGKILL);
      outcome.killed = true;
    }
  }
  return outcome;
}

}  // namespace keyhold::sdk
