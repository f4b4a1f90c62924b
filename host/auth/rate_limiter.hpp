#pragma once
// Token-bucket rate limiting per client: each key (an HTTP token) owns a bucket that holds
// at most `burst` requests and refills at `rate` requests per second. Thread-safe.
#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace keyhold::auth {

struct RateLimit {
  double rate = 20;   // requests per second, sustained
  double burst = 40;  // requests allowed at once after an idle period
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RateLimiter(RateLimit limit) : limit_(limit) {}

  // Takes one request from key's bucket. Returns true when allowed; otherwise false and
  // *retry_after, the whole seconds (>= 1) until the next request would be allowed.
  bool try_acquire(const std::string& key, Clock::time_point now,
                   std::chrono::seconds* retry_after);

 private:
  struct Bucket {
    double level = 0;
    Clock::time_point updated;
  };
  RateLimit limit_;
  std::mutex mutex_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace keyhold::auth
