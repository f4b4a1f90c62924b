#include "keyhold/vault/status.hpp"

#include <charconv>
#include <optional>
#include <string_view>

#include "keyhold/vault/vault.hpp"

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
  }
  return "unknown";
}

std::optional<std::int64_t> parse_duration(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  std::int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    case 'w':
      unit = 7 * 86400;
      break;
    default:
      return std::nullopt;
  }
  std::int64_t n = 0;
  const char* end = text.data() + text.size() - 1;
  auto [ptr, ec] = std::from_chars(text.data(), end, n);
  if (ec != std::errc() || ptr != end || n <= 0 || n > (std::int64_t{1} << 40)) return std::nullopt;
  return n * unit;
}

}  // namespace keyhold::vault
