#include "keyhold/vault/status.hpp"

#include <optional>
#include <string_view>

#include "keyhold/vault/vault.hpp"

#include <keyhold/sdk/duration.hpp>

namespace keyhold::vault {

const char* error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kOk:
      return "ok";
    case ErrorCode::kInvalidArgument:
      return "invalid-argument";
    case ErrorCode::kNotFound:
      return "not-found";
    case ErrorCode::kAlreadyExists:
      return "already-exists";
    case ErrorCode::kUnlockFailed:
      return "unlock-failed";
    case ErrorCode::kIntegrity:
      return "integrity";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kIo:
      return "io";
    case ErrorCode::kPermissionDenied:
      return "permission-denied";
    case ErrorCode::kInternal:
      return "internal";
    case ErrorCode::kInsecurePermissions:
      return "insecure-permissions";
    case ErrorCode::kCancelled:
      return "cancelled";
    case ErrorCode::kUnavailable:
      return "unavailable";
  }
  return "unknown";
}

std::optional<std::int64_t> parse_duration(std::string_view text) {
  const auto parsed = sdk::parse_duration(text);
  if (!parsed || parsed->count() <= 0 || parsed->count() % 1000 != 0) return std::nullopt;
  return parsed->count() / 1000;
}

}  // namespace keyhold::vault
