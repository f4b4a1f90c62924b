#pragma once
// The one conversion from the host's Status to the plugin ABI's kh_status. Everything
// inside the host (the broker, child processes, mounted servers) returns Status; the
// functions of the kh_host_api table call to_kh_status once as they hand a result back.
#include <keyhold/plugin.h>

#include "base/status.hpp"

namespace keyhold {

// Returns the KH_* code a plugin sees for status (its message travels separately, in a
// sink, where the call has one): each KH_ code has one ErrorCode
// (kOk, kInvalidArgument, kNotFound, kPermissionDenied = KH_NOT_GRANTED, kCancelled,
// kUnsupported, kUnavailable); every other code is a plain failure, KH_ERROR.
inline kh_status to_kh_status(const Status& status) noexcept {
  switch (status.code()) {
    case ErrorCode::kOk:
      return KH_OK;
    case ErrorCode::kInvalidArgument:
      return KH_INVALID_ARGUMENT;
    case ErrorCode::kNotFound:
      return KH_NOT_FOUND;
    case ErrorCode::kPermissionDenied:
      return KH_NOT_GRANTED;
    case ErrorCode::kCancelled:
      return KH_CANCELLED;
    case ErrorCode::kUnsupported:
      return KH_UNSUPPORTED;
    case ErrorCode::kUnavailable:
      return KH_UNAVAILABLE;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kUnlockFailed:
    case ErrorCode::kIntegrity:
    case ErrorCode::kIo:
    case ErrorCode::kInternal:
    case ErrorCode::kInsecurePermissions:
      return KH_ERROR;
  }
  return KH_ERROR;
}

}  // namespace keyhold
