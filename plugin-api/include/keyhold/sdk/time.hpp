// keyhold/sdk/time.hpp - UTC timestamps as keyhold writes them: ISO 8601 / RFC 3339 with
// whole seconds ("2026-11-29T21:45:30Z") for people and JSON, and the compact basic form
// ("20261129T214530Z") used in identifiers and by AWS SigV4 (x-amz-date).
// Thread-safe (gmtime_r); seconds since the Unix epoch, UTC, no leap seconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

namespace keyhold::sdk {

namespace detail {
inline std::string format_utc(std::int64_t unix_seconds, const char* format) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  const std::size_t n = std::strftime(buffer, sizeof buffer, format, &tm);
  return std::string(buffer, n);
}
inline std::int64_t to_unix_seconds(std::chrono::system_clock::time_point when) {
  return std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count();
}
}  // namespace detail

// "YYYY-MM-DDTHH:MM:SSZ" for the given second.
inline std::string iso8601_utc(std::int64_t unix_seconds) {
  return detail::format_utc(unix_seconds, "%Y-%m-%dT%H:%M:%SZ");
}
inline std::string iso8601_utc(std::chrono::system_clock::time_point when) {
  return iso8601_utc(detail::to_unix_seconds(when));
}

// "YYYYMMDDTHHMMSSZ" (ISO 8601 basic format) for the given second.
inline std::string iso8601_basic_utc(std::int64_t unix_seconds) {
  return detail::format_utc(unix_seconds, "%Y%m%dT%H%M%SZ");
}
inline std::string iso8601_basic_utc(std::chrono::system_clock::time_point when) {
  return iso8601_basic_utc(detail::to_unix_seconds(when));
}

}  // namespace keyhold::sdk
