#include "auth/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace keyhold::auth {

bool RateLimiter::try_acquire(const std::string& key, Clock::time_point now,
                              std::chrono::seconds* retry_after) {
  std::lock_guard lock(mutex_);
  auto [it, inserted] = buckets_.try_emplace(key, Bucket{limit_.burst, now});
  Bucket& bucket = it->second;
  if (!inserted && now > bucket.updated) {
    const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
    bucket.level = std::min(limit_.burst, bucket.level + elapsed * limit_.rate);
    bucket.updated = now;
  }
  if (bucket.level >= 1.0) {
    bucket.level -= 1.0;
    return true;
  }
  const double wait = (1.0 - bucket.level) / limit_.rate;
  *retry_after = std::chrono::seconds(std::max<std::int64_t>(1, std::llround(std::ceil(wait))));
  return false;
}

}  // namespace keyhold::auth
