// retry_policy.hpp - which failed attempts are worth repeating, and how long to wait.
// Pure; tests/s3/retry_policy_test.cpp covers it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>

namespace keyhold::s3 {

// What one HTTP attempt ended with: a transport error (curl code != 0) or a status.
struct AttemptOutcome {
  int curl_code = 0;  // CURLcode; 0 = a response arrived
  long http_status = 0;
  bool throttled_body = false;  // the error body named SlowDown / Throttling / RequestTimeout
};

// True for 5xx, 429, throttling codes, connection resets / refused / timeouts.
bool is_retryable(const AttemptOutcome& outcome);

// "Full jitter" (AWS architecture blog): a uniform delay in [0, min(cap, base * 2^retry)]
// milliseconds; retry counts from 0.
long backoff_delay_ms(int retry, long base_ms, long cap_ms, std::mt19937_64& random);

// When to ask the host again for an optional secret (the session token) it refused.
// KH_NOT_GRANTED from acquire means "alias not mapped" or "not granted (yet, or any
// more)": the plugin cannot tell which, so after a refusal it does not ask on every call
// (each ask is a denied row in the audit log) but again once kInterval has passed, so a
// grant added later is picked up. Thread-safe.
class OptionalSecretRetry {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kInterval{60};
  bool should_ask(Clock::time_point now = Clock::now()) const {
    const std::int64_t at = refused_at_ms_.load();
    return at == kNever || ms(now) - at >= static_cast<std::int64_t>(kInterval.count()) * 1000;
  }
  void refused(Clock::time_point now = Clock::now()) { refused_at_ms_.store(ms(now)); }
  void granted() { refused_at_ms_.store(kNever); }

 private:
  static constexpr std::int64_t kNever = INT64_MIN;
  static std::int64_t ms(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  }
  std::atomic<std::int64_t> refused_at_ms_{kNever};
};

}  // namespace keyhold::s3
