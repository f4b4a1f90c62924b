#include "s3_client.hpp"

#include <keyhold/sdk/percent.hpp>
#include <keyhold/sdk/time.hpp>

#include <curl/curl.h>
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace keyhold::s3 {

namespace {
constexpr const char* kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr long kBackoffCapMs = 5000;

void wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

std::once_flag curl_init_once;

struct Transfer {
  S3Response* response;
  std::uint64_t limit;
  bool too_big = false;
  const std::function<bool()>* cancelled;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->response->body.size() + n > t->limit) {
    t->too_big = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  t->response->body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {  // a new response (after 100 Continue or a retry)
    t->response->headers.clear();
    return n;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string name(line.substr(0, colon));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  t->response->headers.emplace_back(std::move(name), std::string(value));
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return (*t->cancelled && (*t->cancelled)()) ? 1 : 0;  // non-zero aborts
}

bool has_control_byte(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7f;
  });
}

// Refuses a header a line of which libcurl would send as is: a CR or LF (or any other
// control byte) in a name or value would add headers or a whole second request. The
// message names the header, never its value (it may be the session token).
void check_headers(const Pairs& headers) {
  for (const auto& [name, value] : headers) {
    if (name.empty() || has_control_byte(name) || name.find_first_of(": ") != std::string::npos)
      throw S3RequestError(
          "refused: a request header name is empty or holds a control character (bytes below "
          "0x20 or 0x7f), ':' or a space");
    if (has_control_byte(value))
      throw S3RequestError("refused: the value of the request header '" + name +
                           "' holds a control character (bytes below 0x20 or 0x7f, such as CR "
                           "or LF); nothing was sent");
  }
}

std::string now_amz_date() { return sdk::iso8601_basic_utc(std::chrono::system_clock::now()); }
}  // namespace

CallCredentials::~CallCredentials() {
  wipe(access_key_id);
  wipe(session_token);
}

std::string S3Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

S3Client::S3Client(const S3Options& options) : options_(options), random_(std::random_device{}()) {
  std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  const auto sep = options_.endpoint.find("://");
  scheme_ = options_.endpoint.substr(0, sep);
  authority_ = options_.endpoint.substr(sep + 3);
}

S3Client::~S3Client() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* S3Client::take_handle() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void S3Client::give_handle(void* handle) {
  curl_easy_reset(static_cast<CURL*>(handle));  // keeps the connection cache
  std::lock_guard lock(mutex_);
  idle_.push_back(handle);
}

std::string S3Client::url_for(const S3Request& request, std::string* host_header) const {
  std::string host = authority_;
  std::string path = "/";
  if (!request.bucket.empty()) {
    if (options_.path_style) {
      path = "/" + request.bucket + (request.key.empty() ? "" : "/" + request.key);
    } else {
      host = request.bucket + "." + authority_;
      path = "/" + request.key;
    }
  }
  if (host_header != nullptr) *host_header = host;
  std::string url = scheme_ + "://" + host + sdk::percent_encode(path, "/");
  const std::string query = canonical_query(request.query);
  if (!query.empty()) url += "?" + query;
  return url;
}

S3Response S3Client::send(const S3Request& request, const CallCredentials& credentials) {
  std::string host;
  const std::string url = url_for(request, &host);
  std::string decoded_path = "/";
  if (!request.bucket.empty())
    decoded_path = options_.path_style
                       ? "/" + request.bucket + (request.key.empty() ? "" : "/" + request.key)
                       : "/" + request.key;
  const std::string payload_hash = request.body.empty() ? kEmptySha256 : sha256_hex(request.body);

  std::string last_error;
  const int attempts = 1 + options_.max_retries;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (credentials.cancelled && credentials.cancelled()) throw Cancelled();
    if (attempt > 0) {
      long delay = 0;
      {
        std::lock_guard lock(mutex_);
        delay = backoff_delay_ms(attempt - 1, options_.retry_base_ms, kBackoffCapMs, random_);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    }
    SignableRequest signable;
    signable.method = request.method;
    signable.path = decoded_path;
    signable.query = request.query;
    signable.payload_hash = payload_hash;
    const SigningScope scope{now_amz_date(), options_.region, "s3"};
    signable.headers = {
        {"host", host}, {"x-amz-content-sha256", payload_hash}, {"x-amz-date", scope.amz_date}};
    if (!credentials.session_token.empty())
      signable.headers.emplace_back("x-amz-security-token", credentials.session_token);
    for (const auto& h : request.headers) signable.headers.push_back(h);
    check_headers(signable.headers);  // every header sent, before signing
    std::string signed_headers;
    const std::string creq = canonical_request(signable, CanonicalOptions{}, &signed_headers);
    std::string key = credentials.signing_key(scope);
    const std::string sig = signature(key, string_to_sign(scope, creq));
    wipe(key);
    const std::string authorization =
        authorization_header(credentials.access_key_id, scope, signed_headers, sig);

    CURL* curl = static_cast<CURL*>(take_handle());
    if (curl == nullptr)
      throw S3TransportError("cannot start an HTTP transfer (curl_easy_init failed)");
    curl_slist* list = nullptr;
    std::string auth_line = "Authorization: " + authorization;
    for (const auto& [name, value] : signable.headers) {
      const std::string line = name + ": " + value;
      list = curl_slist_append(list, line.c_str());
    }
    list = curl_slist_append(list, auth_line.c_str());
    list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
    wipe(auth_line);

    S3Response response;
    Transfer transfer{&response, request.max_response_bytes, false, &credentials.cancelled};
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);  // sign and send the same path
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, options_.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    if (request.method == "HEAD") {
      curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (request.method == "PUT") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    } else if (request.method != "GET") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    const CURLcode code = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(list);  // libcurl does not keep a copy; the lines held the signature only
    give_handle(curl);
    response.attempts = attempt + 1;

    if (code == CURLE_ABORTED_BY_CALLBACK) throw Cancelled();
    if (transfer.too_big)
      throw S3TransportError("the response is larger than " +
                             std::to_string(request.max_response_bytes) +
                             " bytes; the transfer was stopped");
    AttemptOutcome outcome{static_cast<int>(code), code == CURLE_OK ? response.status : 0, false};
    if (code == CURLE_OK && response.status >= 400) {
      const std::string& b = response.body;
      outcome.throttled_body = b.find("<Code>SlowDown</Code>") != std::string::npos ||
                               b.find("<Code>Throttling</Code>") != std::string::npos ||
                               b.find("<Code>RequestTimeout</Code>") != std::string::npos;
    }
    if (!is_retryable(outcome) || attempt + 1 == attempts) {
      if (code != CURLE_OK)
        throw S3TransportError("cannot reach " + scheme_ + "://" + host + " after " +
                               std::to_string(attempt + 1) +
                               " attempt(s): " + curl_easy_strerror(code));
      return response;
    }
    last_error =
        code != CURLE_OK ? curl_easy_strerror(code) : "HTTP " + std::to_string(response.status);
  }
  throw S3TransportError("giving up after retries: " + last_error);  // not reached
}

}  // namespace keyhold::s3
