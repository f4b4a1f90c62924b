#pragma once
// Errors as values for the vault library. A Status carries a code and a message written
// for a person; messages never contain a secret value (only names, versions and terms).
#include <optional>
#include <string>
#include <utility>

namespace keyhold::vault {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,   // the caller passed something malformed (bad name, bad option)
  kNotFound,          // no such secret, version, grant or file
  kAlreadyExists,     // the thing to create is already there
  kUnlockFailed,      // wrong passphrase/keyfile, or the vault header was modified
  kIntegrity,         // a record, audit entry or backup failed authentication
  kUnsupported,       // format or schema version this build does not understand
  kIo,                // the file system or SQLite failed
  kPermissionDenied,  // a grant check said no
  kInternal,          // a bug or an unexpected library failure
  // A key file, passphrase file, vault file, its -wal/-shm or its directory can be read or
  // written by another user (override: KEYHOLD_INSECURE_PERMISSIONS=1).
  kInsecurePermissions,
  // Host-side outcomes (the vault itself never returns them): a client cancelled the
  // request, or a peer that must answer (a client, a plugin runner, a mounted server)
  // cannot do so right now.
  kCancelled,
  kUnavailable,
};

// Returns a short stable name for code ("integrity", "not-found", ...), for JSON output.
const char* error_code_name(ErrorCode code) noexcept;

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  bool is_ok() const noexcept { return code_ == ErrorCode::kOk; }
  ErrorCode code() const noexcept { return code_; }
  // A sentence for a person: what failed, why, and what to do. Never a secret value.
  const std::string& message() const noexcept { return message_; }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// Either a value or a non-OK Status. Accessing value() on an error is a programming error
// (checked by assert in debug builds).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT: implicit by design

  bool is_ok() const noexcept { return value_.has_value(); }
  const Status& status() const noexcept { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  // On an rvalue the value is moved out by value, so `for (x : f().value())` is safe.
  T value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace keyhold::vault
