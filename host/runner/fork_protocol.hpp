#pragma once
// The fork server's protocol (keyhold-runner --fork-server=3, loader/fork_server.hpp): one
// SOCK_SEQPACKET socketpair between the host and the fork server, one fixed-size message
// per packet.
//
// host -> fork server: kForkSpawn, with the new runner's descriptors attached
//   (SCM_RIGHTS): its channel and its log pipe, then the pids cgroup join descriptor when
//   `status` is 1. The fork server forks; the child moves them to 3, 1 and 2, and 4, and
//   goes on as a runner started with --channel-fd=3 [--cgroup-fd=4] does.
// host -> fork server: kForkReap, `pid` a runner whose kForkExited the host has had and
//   that it will signal no more. Until then the ended runner stays a zombie, so its pid
//   (and process group id) cannot be reused under the host's kill(-pid). No reply; nor
//   to anything else but a kForkSpawn.
// fork server -> host: kForkSpawned for every kForkSpawn, in order (`pid` is the runner's,
//   or -errno); kForkExited when a runner it forked has ended (`pid`, and its wait status
//   in `status`). The host learns how each runner ended from these reports only.
#include <cstdint>

namespace keyhold::runner {

enum : std::uint32_t { kForkSpawn = 1, kForkSpawned = 2, kForkExited = 3, kForkReap = 4 };

struct ForkMessage {
  std::uint32_t kind = 0;
  std::int32_t pid = 0;
  std::int32_t status = 0;
  // kForkSpawn: a number the host chose; its kForkSpawned carries it back (a reply that
  // does not is a broken fork server).
  std::uint32_t sequence = 0;
};

// Descriptors a kForkSpawn carries: channel, log, and the cgroup join descriptor.
constexpr int kForkMaxFds = 3;

}  // namespace keyhold::runner
