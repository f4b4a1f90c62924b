#include "retry_policy.hpp"

#include <curl/curl.h>

#include <algorithm>

namespace keyhold::s3 {

bool is_retryable(const AttemptOutcome& outcome) {
  switch (outcome.curl_code) {
    case CURLE_OK:
      break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;  // bad URL, TLS failure, DNS failure: repeating would not help
  }
  if (outcome.http_status >= 500 || outcome.http_status == 429) return true;
  return outcome.throttled_body;
}

long backoff_delay_ms(int retry, long base_ms, long cap_ms, std::mt19937_64& random) {
  long ceiling = base_ms;
  for (int i = 0; i < retry && ceiling < cap_ms; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap_ms);
  std::uniform_int_distribution<long> pick(0, ceiling);
  return pick(random);
}

}  // namespace keyhold::s3
