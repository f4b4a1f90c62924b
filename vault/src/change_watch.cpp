#include "change_watch.hpp"

#include <linux/magic.h>
#include <sys/inotify.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace keyhold::vault {

namespace {

// Filesystems whose changes may come from another kernel (network, FUSE): inotify reports
// only what this machine's processes do there.
bool remote_filesystem(const std::filesystem::path& dir) {
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0) return true;  // cannot tell: do not trust events
  switch (static_cast<std::uint64_t>(fs.f_type)) {
    case NFS_SUPER_MAGIC:
    case SMB_SUPER_MAGIC:
    case 0xFF534D42u:  // CIFS
    case 0xFE534D42u:  // SMB2
    case 0x65735546u:  // FUSE
    case V9FS_MAGIC:
    case CEPH_SUPER_MAGIC:
    case AFS_SUPER_MAGIC:
    case CODA_SUPER_MAGIC:
    case 0x0BD00BD0u:  // Lustre
    case 0x47504653u:  // GPFS
      return true;
    default:
      return false;
  }
}

// The vault's own directory: any change to a file in it. The directories above it: a
// child created, removed or renamed (the path may now lead elsewhere).
constexpr std::uint32_t kMask = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE |
                                IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF;
constexpr std::uint32_t kAncestorMask =
    IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF;
// Events after which the watch no longer sees every change.
constexpr std::uint32_t kWatchLost =
    IN_IGNORED | IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT;

}  // namespace

ChangeWatch::ChangeWatch(const std::filesystem::path& vault_file) {
  std::error_code ec;
  const std::filesystem::path lexical =
      std::filesystem::absolute(vault_file, ec).lexically_normal();
  if (ec) return;
  const std::filesystem::path real = std::filesystem::canonical(vault_file, ec);
  if (ec || real != lexical) return;  // missing, or a symlink on the way
  const std::filesystem::path dir = real.parent_path();
  if (remote_filesystem(dir)) return;
  fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) return;
  if (::inotify_add_watch(fd_, dir.c_str(), kMask | IN_ONLYDIR) < 0) {
    turn_off();
    return;
  }
  for (std::filesystem::path up = dir; up.has_relative_path();) {
    up = up.parent_path();
    if (::inotify_add_watch(fd_, up.c_str(), kAncestorMask | IN_ONLYDIR) < 0) {
      turn_off();
      return;
    }
  }
}

ChangeWatch::~ChangeWatch() { turn_off(); }

void ChangeWatch::turn_off() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool ChangeWatch::maybe_changed() {
  if (fd_ < 0) return true;
  alignas(inotify_event) char buffer[4096];
  bool any = false;
  for (;;) {
    const ssize_t n = ::read(fd_, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return any;
      turn_off();
      return true;
    }
    if (n == 0) {
      turn_off();
      return true;
    }
    any = true;
    for (std::size_t at = 0; at + sizeof(inotify_event) <= static_cast<std::size_t>(n);) {
      inotify_event event;
      std::memcpy(&event, buffer + at, sizeof event);
      if (event.mask & kWatchLost) {
        turn_off();
        return true;
      }
      at += sizeof(inotify_event) + event.len;
    }
  }
}

}  // namespace keyhold::vault
