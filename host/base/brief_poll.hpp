#pragma once
// Polling a descriptor for a moment before sleeping on it. On a paravirtualized VM a
// thread woken from poll(2) or read(2) pays about 20 us; in a stream of sequential calls
// the next message usually arrives well within a client round trip, so a reader that
// polls for a short while instead of sleeping answers one wake-up sooner. The stdio
// server polls only after a lone message (a batch means a pipelining peer, where polling
// would take the CPU the peer needs), so an idle reader polls once, then sleeps. A mounted
// server's reader (mount/line_reader.cpp) polls after every line: measured, it keeps a
// pipelined mount faster than sleeping does (bench/README, 2026-12-02).
#include <poll.h>
#include <sched.h>

#include <chrono>

namespace keyhold {

// True when this process may run on more than one CPU (its affinity: taskset, cpusets;
// CPU quotas are not seen). On one CPU polling only delays the peer it waits for.
inline bool several_cpus() {
  static const bool several = [] {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    return ::sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) > 1;
  }();
  return several;
}

// How long a reader polls before it sleeps: 150 us, none on one CPU.
inline std::chrono::microseconds brief_poll_span() {
  return std::chrono::microseconds(several_cpus() ? 150 : 0);
}

// Polls fds (poll(2) with a zero timeout, yielding the CPU between tries) until one has an
// event or `span` has passed. True when one has an event (then poll(2) or a read returns
// at once); false when the time ran out or poll failed.
inline bool poll_briefly(pollfd* fds, nfds_t count,
                         std::chrono::microseconds span = brief_poll_span()) {
  if (span.count() <= 0) return false;
  const auto until = std::chrono::steady_clock::now() + span;
  do {
    const int ready = ::poll(fds, count, 0);
    if (ready != 0) return ready > 0;
    ::sched_yield();
  } while (std::chrono::steady_clock::now() < until);
  return false;
}

}  // namespace keyhold
