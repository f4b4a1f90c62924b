#include "oauth/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "oauth/url_text.hpp"
#include "oauth/www_authenticate.hpp"

namespace keyhold::oauth {

namespace {

constexpr std::size_t kMaxBody = 1u << 20;  // metadata and token answers are small

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t n = size * count;
  if (body->size() + n > kMaxBody) return 0;  // aborts the transfer
  if (body->capacity() < body->size() + n) {
    // Grow by hand so that no unwiped copy of a token is left behind by a reallocation.
    std::string bigger;
    bigger.reserve(std::max(body->capacity() * 2, body->size() + n + 4096));
    bigger.append(*body);
    sodium_memzero(body->data(), body->size());
    body->swap(bigger);
  }
  body->append(data, n);
  return n;
}

// Keeps the first WWW-Authenticate header (RFC 9728 5.1 names the resource metadata there).
size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* challenge = static_cast<std::string*>(user);
  const size_t n = size * count;
  if (challenge->empty())
    if (auto value = challenge_header_value(std::string_view(data, n))) *challenge = *value;
  return n;
}

}  // namespace

Result<HttpResponse> send(const HttpRequest& request) {
  if (!secure_or_loopback(request.url))
    return invalid_argument("refusing " + request.url +
                            ": OAuth endpoints must be https:// (http:// only on a loopback host)");
  static std::once_flag init_once;
  std::call_once(init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return internal_error("cannot start an HTTP request (curl_easy_init failed)");
  HttpResponse response;
  response.body.text().reserve(16384);
  const std::string accept = "Accept: " + request.accept;
  curl_slist* headers = curl_slist_append(nullptr, accept.c_str());
  if (request.json && !request.form)
    headers = curl_slist_append(headers, "Content-Type: application/json");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(headers,
                                                                          &curl_slist_free_all);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, request.timeout_ms);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "keyhold");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body.text());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &response.www_authenticate);
  if (request.form) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.form->text().c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.form->text().size()));
  } else if (request.json) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.json->c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.json->size()));
  }
  if (request.basic_user) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, request.basic_user->text().c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD,
                     request.basic_password ? request.basic_password->text().c_str() : "");
  }
  const CURLcode code = curl_easy_perform(c);
  if (code != CURLE_OK)
    return unavailable("no answer from " + request.url + ": " + curl_easy_strerror(code));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  char* type = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type != nullptr)
    response.content_type = type;
  return response;
}

}  // namespace keyhold::oauth
