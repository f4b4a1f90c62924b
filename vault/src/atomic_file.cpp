#include "atomic_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "crypto.hpp"

namespace keyhold::vault {
namespace {

constexpr std::string_view kTempTag = ".keyhold-tmp-";

std::filesystem::path directory_of(const std::filesystem::path& path) {
  return path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
}

Status io_error(const std::string& what, const std::filesystem::path& path, int err) {
  return Status(ErrorCode::kIo, "cannot " + what + " " + path.string() + ": " + std::strerror(err));
}

// Closes fd on scope exit.
struct FileDescriptor {
  int fd = -1;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

Status write_all(int fd, std::span<const std::uint8_t> data, const std::filesystem::path& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return io_error("write", path, n < 0 ? errno : EIO);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return io_error("sync", path, errno);
  return Status::ok();
}

// Makes the new name durable.
void sync_directory(const std::filesystem::path& dir) {
  FileDescriptor d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd >= 0) ::fsync(d.fd);
}

Status linked(int rc, const std::filesystem::path& path) {
  if (rc == 0) return Status::ok();
  if (errno == EEXIST) {
    return Status(ErrorCode::kAlreadyExists,
                  "a file already exists at " + path.string() + "; it is never overwritten");
  }
  return io_error("create", path, errno);
}

}  // namespace

Status write_new_file_atomically(const std::filesystem::path& path,
                                 std::span<const std::uint8_t> data) {
  const std::filesystem::path dir = directory_of(path);
  FileDescriptor file{::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600)};
  if (file.fd >= 0) {
    if (auto s = write_all(file.fd, data, path); !s.is_ok()) return s;
    const std::string self = "/proc/self/fd/" + std::to_string(file.fd);
    if (auto s = linked(::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW),
                        path);
        !s.is_ok()) {
      return s;
    }
    sync_directory(dir);
    return Status::ok();
  }
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    return io_error("create a temporary file in", dir, errno);
  }
  // No O_TMPFILE here: a named temporary, locked so a later run knows whether it is stale.
  const std::filesystem::path temp = dir / ("." + path.filename().string() + std::string(kTempTag) +
                                            crypto::to_hex(crypto::random_bytes(6)));
  FileDescriptor named{::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
  if (named.fd < 0) return io_error("create", temp, errno);
  ::flock(named.fd, LOCK_EX);
  Status status = write_all(named.fd, data, temp);
  if (status.is_ok()) status = linked(::link(temp.c_str(), path.c_str()), path);
  ::unlink(temp.c_str());
  if (status.is_ok()) sync_directory(dir);
  return status;
}

int remove_stale_temporaries(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  if (name.empty()) return 0;
  const std::string temp_prefix = "." + name + std::string(kTempTag);
  // Old keyhold: NAME.snapshot-<12 hex> (backup) and NAME.restore-<12 hex>[-wal|-shm].
  const auto old_plain_copy = [&](const std::string& entry) {
    for (const std::string tag : {".snapshot-", ".restore-"}) {
      const std::string prefix = name + tag;
      if (!entry.starts_with(prefix)) continue;
      std::string rest = entry.substr(prefix.size());
      for (const char* suffix : {"-wal", "-shm"}) {
        if (rest.ends_with(suffix)) rest.resize(rest.size() - 4);
      }
      return rest.size() == 12 && rest.find_first_not_of("0123456789abcdef") == std::string::npos;
    }
    return false;
  };
  int removed = 0;
  std::error_code ec;
  for (const auto& item : std::filesystem::directory_iterator(directory_of(path), ec)) {
    const std::string entry = item.path().filename().string();
    if (entry.starts_with(temp_prefix)) {
      FileDescriptor f{::open(item.path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
      // A writer that is alive holds the lock; a killed one released it when it died.
      if (f.fd < 0 || ::flock(f.fd, LOCK_EX | LOCK_NB) != 0) continue;
    } else if (!old_plain_copy(entry)) {
      continue;
    }
    if (std::filesystem::remove(item.path(), ec)) ++removed;
  }
  return removed;
}

}  // namespace keyhold::vault
