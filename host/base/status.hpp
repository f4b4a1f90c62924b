#pragma once
// The host's one error type: the vault's Status / Result<T> (keyhold/vault/status.hpp),
// used by every room of the host. A function that can fail returns Status (no value) or
// Result<T>; both are [[nodiscard]]. Messages are written for a person and never hold a
// secret value. Conversions happen once at each edge: to kh_status at the plugin ABI
// (loader/abi_status.hpp) and to a JSON-RPC error in the session.
#include <keyhold/vault/status.hpp>
#include <string>
#include <utility>

namespace keyhold {

using vault::ErrorCode;
using vault::Result;
using vault::Status;

// Shorthands for the common failures, so a call site reads as the sentence it returns.
inline Status invalid_argument(std::string message) {
  return Status(ErrorCode::kInvalidArgument, std::move(message));
}
inline Status not_found(std::string message) {
  return Status(ErrorCode::kNotFound, std::move(message));
}
inline Status io_error(std::string message) { return Status(ErrorCode::kIo, std::move(message)); }
inline Status internal_error(std::string message) {
  return Status(ErrorCode::kInternal, std::move(message));
}
inline Status unavailable(std::string message) {
  return Status(ErrorCode::kUnavailable, std::move(message));
}

}  // namespace keyhold
