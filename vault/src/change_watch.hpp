#pragma once
// Tells whether anything in the vault's directory may have changed since the last look, with
// one system call and no lock: inotify on the directory. Vault::data_version() asks it before
// the full check (the files' identities and SQLite's data_version, five or six system calls),
// so a use of a cached grant or value stays cheap while nothing changes (issue 21) and a
// revoke still acts on the next use.
//
// Why that holds: every commit of any connection, in any process on this machine, writes the
// -wal file (a checkpoint writes vault.db; a restore renames; SQLite's cleanup unlinks -wal
// and -shm), and the kernel queues the event inside that system call, before the writer can
// report the change done. The caller drains the events before it reads the version, so a
// change after the read leaves an event for the next look.
//
// The path must lead to the same file tomorrow: the directory of the vault and every
// directory above it are watched for renames, creations and removals (an ancestor moved
// away and another put in its place is a "maybe changed" too). A vault path with a symlink
// anywhere in it is not watched (a symlink elsewhere could be retargeted unseen).
//
// Where inotify cannot see every writer (a network or FUSE filesystem: another machine's
// writes raise no event here; SQLite's WAL mode does not support those anyway), or once the
// watch is lost (the directory moved or removed, the event queue overflowed), the watch turns
// itself off and every look says "maybe changed": the full check on every use, as before.
#include <filesystem>

namespace keyhold::vault {

class ChangeWatch {
 public:
  // Watches the directory of vault_file and the directories above it; inactive when inotify
  // is unavailable, the path holds a symlink, or it is on a filesystem of the kind above.
  explicit ChangeWatch(const std::filesystem::path& vault_file);
  ~ChangeWatch();
  ChangeWatch(const ChangeWatch&) = delete;
  ChangeWatch& operator=(const ChangeWatch&) = delete;

  // False only when no event arrived since the previous call; drains what arrived.
  bool maybe_changed();
  bool active() const { return fd_ >= 0; }

 private:
  void turn_off();

  int fd_ = -1;
};

}  // namespace keyhold::vault
