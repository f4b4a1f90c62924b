// retry_policy.hpp - which failed attempts are worth repeating, and how long to wait.
// Pure; tests/s3/retry_policy_test.cpp covers it.
#pragma once

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

}  // namespace keyhold::s3
