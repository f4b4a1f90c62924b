// suite_run.hpp - one run of one suite through the host's env service: the process is
// started by the host (argv only, no shell, secrets injected by the host from secret_env),
// its redacted output is read line by line into a bounded log, TAP/ctest output is
// followed for progress, and cancellation or the timeout end the whole process group
// (SIGTERM, then SIGKILL after the grace period). The plugin never holds a secret value:
// even the JUnit report is read through the host (`cat` as a child), so it arrives
// redacted.
#pragma once

#include "ci_options.hpp"
#include "run_log.hpp"

#include <keyhold/plugin.hpp>

#include <mutex>
#include <string>

namespace keyhold::ci {

// What other requests may see of a run while it is queued or running.
struct LiveRun {
  explicit LiveRun(std::size_t log_bytes) : log(log_bytes) {}
  std::mutex mutex;
  json state;  // the result so far (status queued/running, counts so far)
  RunLog log;
};

// Runs suite (with filter, already validated; empty = none) and returns the run_suite
// structuredContent. live.state must hold run_id, suite, filter, started_at and
// queue_position; it is kept current while the run goes.
json run_suite_process(Context& ctx, const Suite& suite, const std::string& filter,
                       const CiOptions& options, LiveRun& live);

}  // namespace keyhold::ci
