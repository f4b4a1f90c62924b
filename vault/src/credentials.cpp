#include "keyhold/vault/credentials.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "file_permissions.hpp"

namespace keyhold::vault {
namespace {

Status io_error(const std::filesystem::path& path, const char* what, int err) {
  return Status(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                std::string("cannot ") + what + " " + path.string() + ": " + std::strerror(err));
}

}  // namespace

KdfParams KdfParams::moderate() noexcept {
  return {crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
}

KdfParams KdfParams::minimum_for_tests() noexcept {
  return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
}

bool KdfParams::within_bounds() const noexcept {
  const KdfParams low = minimum_for_tests(), high = moderate();
  return opslimit >= low.opslimit && opslimit <= high.opslimit && memlimit >= low.memlimit &&
         memlimit <= high.memlimit;
}

namespace {

// Reads a whole file into guarded memory; when private_as is set, the file must also pass
// check_private_file (checked on the open descriptor, so it is the file that is read).
Result<SecretBuffer> read_file_into_buffer(const std::filesystem::path& path,
                                           const char* private_as) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error(path, "open", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status(ErrorCode::kInvalidArgument, "not a regular file: " + path.string());
  }
  if (private_as != nullptr) {
    if (auto s = check_private_file(path, st, private_as); !s.is_ok()) {
      ::close(fd);
      return s;
    }
  }
  SecretBuffer buffer(static_cast<std::size_t>(st.st_size) + 1);
  std::size_t used = 0;
  for (;;) {
    if (used == buffer.size()) {  // the file grew while we read it: take a bigger buffer
      SecretBuffer bigger(buffer.size() * 2);
      std::memcpy(bigger.data(), buffer.data(), used);
      buffer = std::move(bigger);
    }
    const ssize_t n = ::read(fd, buffer.data() + used, buffer.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return io_error(path, "read", err);
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  ::close(fd);
  buffer.truncate(used);
  return buffer;
}

}  // namespace

Result<SecretBuffer> read_file_secret(const std::filesystem::path& path) {
  return read_file_into_buffer(path, nullptr);
}

Credentials Credentials::passphrase(SecretBuffer passphrase) {
  return Credentials(Kind::kPassphrase, std::move(passphrase));
}

Result<Credentials> Credentials::from_keyfile(const std::filesystem::path& path) {
  auto bytes = read_file_into_buffer(path, "keyfile");
  if (!bytes.is_ok()) return bytes.status();
  if (bytes->size() != kKeyfileSize) {
    return Status(ErrorCode::kInvalidArgument,
                  "keyfile " + path.string() +
                      " is not a keyhold keyfile (it must hold exactly 32 "
                      "bytes; create one with `keyhold vault init --keyfile PATH`)");
  }
  return Credentials(Kind::kKeyfile, std::move(bytes).value());
}

Result<Credentials> Credentials::from_passphrase_file(const std::filesystem::path& path) {
  auto bytes = read_file_into_buffer(path, "passphrase file");
  if (!bytes.is_ok()) return bytes.status();
  SecretBuffer pass = std::move(bytes).value();
  std::size_t n = pass.size();
  if (n > 0 && pass.data()[n - 1] == '\n') --n;
  if (n > 0 && pass.data()[n - 1] == '\r') --n;
  pass.truncate(n);
  if (pass.empty()) {
    return Status(ErrorCode::kInvalidArgument, "passphrase file " + path.string() + " is empty");
  }
  return Credentials(Kind::kPassphrase, std::move(pass));
}

Result<Credentials> Credentials::create_keyfile(const std::filesystem::path& path) {
  if (sodium_init() < 0) return Status(ErrorCode::kInternal, "libsodium failed to initialise");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return Status(ErrorCode::kAlreadyExists,
                    "keyfile " + path.string() + " already exists; it is never overwritten");
    }
    return io_error(path, "create", errno);
  }
  SecretBuffer key(kKeyfileSize);
  randombytes_buf(key.data(), key.size());
  std::size_t done = 0;
  while (done < key.size()) {
    const ssize_t n = ::write(fd, key.data() + done, key.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return io_error(path, "write", err);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return io_error(path, "sync", errno);
  return Credentials(Kind::kKeyfile, std::move(key));
}

}  // namespace keyhold::vault
