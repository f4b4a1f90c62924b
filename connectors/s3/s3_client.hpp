// s3_client.hpp - one signed S3 request over libcurl, with connect and total timeouts and
// retries (backoff with full jitter) on 5xx, throttling and connection resets.
//
// The client never sees the secret access key: each attempt asks `signing_key` for the
// SigV4 key of its date, and the plugin answers that from the host's sign service.
#pragma once

#include "retry_policy.hpp"
#include "s3_options.hpp"
#include "sigv4.hpp"

#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace keyhold::s3 {

// What one tool call may use to sign. access_key_id and session_token are not secret
// enough to need a handle each time, but they are wiped when the call ends.
struct CallCredentials {
  std::string access_key_id;
  std::string session_token;  // empty = none
  // Returns the 32-byte signing key for scope; throws std::runtime_error when the host
  // refuses (grant revoked, no grant).
  std::function<std::string(const SigningScope&)> signing_key;
  // True once the client cancelled the request.
  std::function<bool()> cancelled;
  ~CallCredentials();
};

struct S3Request {
  std::string method = "GET";
  std::string bucket;  // empty = service request (ListBuckets)
  std::string key;     // empty = bucket request
  Pairs query;
  Pairs headers;  // extra headers to send and sign (e.g. range, content-type)
  std::string body;
  // The response body is cut off (and the call fails) beyond this many bytes.
  std::uint64_t max_response_bytes = 64ull * 1024 * 1024;
};

struct S3Response {
  long status = 0;
  Pairs headers;  // lower-case names
  std::string body;
  int attempts = 0;
  std::string header(std::string_view name) const;
};

// Thrown when the server cannot be reached after every retry, or the body is too big.
struct S3TransportError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Thrown before anything is sent when a request cannot be sent as given: a header name or
// value with a control byte (< 0x20 or 0x7f; CR/LF would inject headers or a second request
// on a kept-alive connection).
struct S3RequestError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class S3Client {
 public:
  explicit S3Client(const S3Options& options);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // Sends request (signed, retried). Returns the final response, whatever its status;
  // throws S3RequestError when a header holds a control byte (before signing or sending),
  // S3TransportError when no response arrived, std::runtime_error when signing was
  // refused, keyhold::Cancelled when the client cancelled.
  S3Response send(const S3Request& request, const CallCredentials& credentials);

  // The URL and Host header request goes to (for tests and error messages).
  std::string url_for(const S3Request& request, std::string* host_header = nullptr) const;

 private:
  void* take_handle();
  void give_handle(void* handle);

  S3Options options_;
  std::string scheme_;     // "http" or "https"
  std::string authority_;  // host[:port]
  std::mutex mutex_;
  std::vector<void*> idle_;  // CURL* kept for connection reuse
  std::mt19937_64 random_;
};

}  // namespace keyhold::s3
