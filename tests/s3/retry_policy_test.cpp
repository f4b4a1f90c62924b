// Which failed attempts are retried, and the backoff delays (full jitter, capped).
#include "retry_policy.hpp"

#include <curl/curl.h>
#include <catch2/catch.hpp>

using namespace keyhold::s3;

TEST_CASE("5xx, 429, throttling and connection failures are retried; 4xx are not", "[s3]") {
  CHECK(is_retryable({0, 500, false}));
  CHECK(is_retryable({0, 503, false}));
  CHECK(is_retryable({0, 429, false}));
  CHECK(is_retryable({0, 400, true}));
  CHECK(is_retryable({CURLE_COULDNT_CONNECT, 0, false}));
  CHECK(is_retryable({CURLE_RECV_ERROR, 0, false}));
  CHECK(is_retryable({CURLE_OPERATION_TIMEDOUT, 0, false}));
  CHECK_FALSE(is_retryable({0, 200, false}));
  CHECK_FALSE(is_retryable({0, 403, false}));
  CHECK_FALSE(is_retryable({0, 404, false}));
  CHECK_FALSE(is_retryable({CURLE_URL_MALFORMAT, 0, false}));
}

TEST_CASE("backoff grows by doubling under a cap, with jitter below the ceiling", "[s3]") {
  std::mt19937_64 random(42);
  long max_seen[6] = {0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 2000; ++i)
    for (int retry = 0; retry < 6; ++retry) {
      const long d = backoff_delay_ms(retry, 100, 1000, random);
      REQUIRE(d >= 0);
      REQUIRE(d <= std::min(1000L, 100L << retry));
      max_seen[retry] = std::max(max_seen[retry], d);
    }
  CHECK(max_seen[0] > 80);   // jitter covers the range
  CHECK(max_seen[2] > 320);  // ceiling 400
  CHECK(max_seen[5] > 800);  // capped at 1000
}

TEST_CASE("the optional session token is asked for again a minute after a refusal", "[s3]") {
  using namespace std::chrono_literals;
  OptionalSecretRetry retry;
  const auto t0 = OptionalSecretRetry::Clock::now();
  CHECK(retry.should_ask(t0));  // never refused
  retry.refused(t0);
  CHECK_FALSE(retry.should_ask(t0));
  CHECK_FALSE(retry.should_ask(t0 + 59s));  // not on every call: no denied row each time
  CHECK(retry.should_ask(t0 + 60s));        // a grant added later is picked up
  retry.refused(t0 + 60s);
  CHECK_FALSE(retry.should_ask(t0 + 61s));
  retry.granted();
  CHECK(retry.should_ask(t0 + 61s));
}
