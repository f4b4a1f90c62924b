#pragma once
// The host's side of the runners' fork server (keyhold-runner --fork-server=3,
// runner/fork_protocol.hpp). Started once, on first use, from the host's long-lived spawn
// thread (so PR_SET_PDEATHSIG ties it to the host, not to a loader's thread); restarted
// when it has ended. Every runner is forked by it: the runners are its children, so it
// reaps them and this side learns how each ended from its reports.
//
// Why: an exec of keyhold-runner and the dynamic loading of the C++ runtime is about
// 0.9 ms of CPU, half of what a runner costs to start (bench/README.md, "Where an isolated
// instance's start goes"); a fork of the idle fork server costs a tenth of it. The fork
// server runs no plugin code and holds no secret; each child applies its own sandbox
// before the plugin loads, exactly as an exec'd runner does.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>

namespace keyhold::fork_server {

enum class Ended { kNo, kYes, kLost };

// Forks a runner of `runner_path` (the fork server of that program, started if none
// runs) with `channel` as its fd 3, `log` as its fds 1 and 2 and, if >= 0, `join_fd` as
// its fd 4. The descriptors stay the caller's. The runner's pid; or -1, and *error an errno
// value (ENOENT, EACCES, ENOEXEC: the program cannot run; others: why there is no runner).
// *serial names this start: wait(), kill_group() and release() take it with the pid, so a
// pid that comes back for a later runner is never taken for this one.
pid_t spawn(const std::filesystem::path& runner_path, int channel, int log, int join_fd, int* error,
            std::uint64_t* serial);

// Whether `pid` (a runner from spawn()) has ended; with `block`, waits until it has (a
// fork server that does not report it within 30 s is taken for stuck: ended, kLost).
// kYes: *status is its wait status. kLost: it ended with its fork server (which a
// runner never outlives) and how is not known. An ended runner stays a zombie until
// release(), so its pid, and the process group id the caller signals, are not reused.
Ended wait(pid_t pid, std::uint64_t serial, int* status, bool block);

// SIGKILL to the runner `pid` and its process group, unless released already; never to a
// pid that may have been reused (see kill_group in fork_server.cpp).
void kill_group(pid_t pid, std::uint64_t serial);

// The caller is done with `pid` and signals it no more: the fork server reaps it. Only
// for a runner wait() said has ended (or lost); one released while it runs stays a
// zombie once it ends, until its fork server ends.
void release(pid_t pid, std::uint64_t serial);

}  // namespace keyhold::fork_server
