#include "mount/http_transport.hpp"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <utility>

#include "mount/sse_parser.hpp"
#include "oauth/www_authenticate.hpp"

namespace keyhold::mount {

namespace {

using Clock = std::chrono::steady_clock;

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

// Header lists may hold secret values: zeroed before they are freed.
void free_zeroed(curl_slist* list) {
  for (curl_slist* item = list; item != nullptr; item = item->next)
    if (item->data != nullptr) ::explicit_bzero(item->data, std::strlen(item->data));
  curl_slist_free_all(list);
}

std::size_t discard(char*, std::size_t size, std::size_t count, void*) { return size * count; }

}  // namespace

struct HttpTransport::Transfer {
  enum class Kind { kPost, kGet };
  explicit Transfer(std::size_t max_bytes) : events(max_bytes) {}
  ~Transfer() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    free_zeroed(headers);
  }

  Kind kind = Kind::kPost;
  HttpTransport* owner = nullptr;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;  // the request's (curl reads it in place)
  std::optional<std::int64_t> request_id;
  char error[CURL_ERROR_SIZE] = {};
  bool decided = false;  // status and content type read (at the first byte of the body)
  long status = 0;
  bool event_stream = false;
  std::string buffer;  // an application/json body, or the start of an error body
  SseParser events;
  bool answered = false;  // the response to request_id came
  bool too_long = false;
  HeaderLines sent;              // the lines and secret values it carried (for a 401)
  std::string www_authenticate;  // the first such header of the answer (capped)
};

std::string HttpTransport::origin_of(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto authority_start = scheme + 3;
  const auto authority_end = url.find_first_of("/?#", authority_start);
  std::string authority = url.substr(authority_start, authority_end == std::string::npos
                                                          ? std::string::npos
                                                          : authority_end - authority_start);
  if (const auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  return url.substr(0, authority_start) + authority;
}

HttpTransport::HttpTransport(HttpTransportOptions options)
    : options_(std::move(options)),
      origin_(origin_of(options_.url)),
      first_headers_(std::exchange(options_.first_headers, std::nullopt)) {}

Result<std::unique_ptr<HttpTransport>> HttpTransport::open(HttpTransportOptions options) {
  static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global != CURLE_OK)
    return internal_error(std::string("libcurl could not start: ") + curl_easy_strerror(global));
  std::unique_ptr<HttpTransport> transport(new HttpTransport(std::move(options)));
  transport->multi_ = curl_multi_init();
  if (transport->multi_ == nullptr) return internal_error("libcurl could not start (multi)");
  transport->thread_ = std::thread([t = transport.get()] { t->run(); });
  return transport;
}

HttpTransport::~HttpTransport() {
  close(std::chrono::milliseconds(200));
  if (multi_ != nullptr) curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

Result<curl_slist*> HttpTransport::request_headers(bool json_body, HeaderLines* used,
                                                   const std::string& client_request) {
  std::optional<HeaderLines> first;
  {
    std::lock_guard lock(mutex_);
    first.swap(first_headers_);
  }
  if (first) {
    *used = std::move(*first);
  } else if (options_.headers) {
    auto built = options_.headers->build(client_request);
    if (!built.is_ok()) return built.status();
    *used = std::move(built).value();
  }
  curl_slist* list = nullptr;
  auto add = [&](const std::string& line) {
    if (curl_slist* more = curl_slist_append(list, line.c_str())) list = more;
  };
  if (json_body) {
    add("Content-Type: application/json");
    add("Accept: application/json, text/event-stream");
  } else {
    add("Accept: text/event-stream");
  }
  {
    std::lock_guard lock(mutex_);
    if (!session_id_.empty()) add("Mcp-Session-Id: " + session_id_);
    if (!protocol_version_.empty()) add("MCP-Protocol-Version: " + protocol_version_);
  }
  for (const auto& line : used->lines)  // NUL-terminated by RequestHeaders
    if (curl_slist* more = curl_slist_append(list, reinterpret_cast<const char*>(line.data())))
      list = more;
  return list;
}

namespace {

// What every request of the transport shares: where, TLS, no redirects, no signals.
void configure(CURL* easy, const HttpTransportOptions& options) {
  curl_easy_setopt(easy, CURLOPT_URL, options.url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, options.ca_file.c_str());
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options.connect_timeout.count()));
}

}  // namespace

bool HttpTransport::send(std::string_view message, std::optional<std::int64_t> request_id,
                         std::chrono::milliseconds, const std::string& client_request) {
  {
    std::lock_guard lock(mutex_);
    if (ended_) return false;
  }
  auto t = std::make_unique<Transfer>(options_.max_message_bytes);
  t->kind = Transfer::Kind::kPost;
  t->owner = this;
  t->request_id = request_id;
  auto headers = request_headers(true, &t->sent, client_request);
  if (!headers.is_ok()) {  // nothing was sent: the transport stays for the next request
    const std::string why =
        "keyhold did not send it to " + origin_ + ": " + headers.status().message();
    if (request_id)
      deliver_error(*request_id, why);
    else
      spdlog::warn("instance '{}': a notification for its server was dropped: {}",
                   options_.instance, why);
    return true;
  }
  t->headers = headers.value();
  t->body = message;
  t->easy = curl_easy_init();
  if (t->easy == nullptr) {
    end("libcurl could not make a request");
    return false;
  }
  configure(t->easy, options_);
  curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->body.data());
  curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body.size()));
  start_transfer(std::move(t));
  bool open_stream;
  {
    std::lock_guard lock(mutex_);
    open_stream = std::exchange(stream_due_, false);
  }
  if (open_stream) open_server_stream();  // after notifications/initialized, not before
  return true;
}

void HttpTransport::open_server_stream() {
  auto t = std::make_unique<Transfer>(options_.max_message_bytes);
  t->kind = Transfer::Kind::kGet;
  t->owner = this;
  auto headers = request_headers(false, &t->sent, {});
  if (!headers.is_ok()) {
    spdlog::warn("instance '{}': its server's stream is not opened: {}", options_.instance,
                 headers.status().message());
    return;
  }
  t->headers = headers.value();
  t->easy = curl_easy_init();
  if (t->easy == nullptr) return;
  configure(t->easy, options_);
  curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(t->easy, CURLOPT_HTTPGET, 1L);
  start_transfer(std::move(t));
}

void HttpTransport::start_transfer(std::unique_ptr<Transfer> t) {
  CURL* easy = t->easy;
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->error);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &HttpTransport::on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &HttpTransport::on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, t.get());
  {
    std::lock_guard lock(mutex_);
    to_start_.push_back(std::move(t));
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

void HttpTransport::initialized(const std::string& protocol_version) {
  {
    std::lock_guard lock(mutex_);
    protocol_version_ = protocol_version;
    stream_due_ = true;
  }
}

bool HttpTransport::receive(std::string* message, std::optional<std::int64_t>* related) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (!incoming_.empty()) {
      *message = std::move(incoming_.front().first);
      *related = incoming_.front().second;
      incoming_.pop_front();
      return true;
    }
    if (ended_) return false;
    if (reopen_stream_at_ == Clock::time_point{}) {
      arrived_.wait(lock);
      continue;
    }
    if (Clock::now() < reopen_stream_at_) {
      arrived_.wait_until(lock, reopen_stream_at_);
      continue;
    }
    // The server's stream is reopened here, not on the transport's thread: its headers
    // may wait for an OAuth refresh, which must not stall the other transfers.
    reopen_stream_at_ = {};
    lock.unlock();
    open_server_stream();
    lock.lock();
  }
}

Status HttpTransport::credentials_refused(std::int64_t id, bool retried) {
  Refusal refusal;
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(refused_.begin(), refused_.end(),
                           [&](const auto& entry) { return entry.id == id; });
    if (it == refused_.end())
      return not_found("request " + std::to_string(id) + " was not refused");
    refusal = std::move(*it);
    refused_.erase(it);
  }
  const std::string prefix = "HTTP " + std::to_string(refusal.status) + " from " + origin_ + ": ";
  // What the server says it wants, for the administrator (its values, checked and capped).
  const oauth::BearerChallenge parsed = oauth::parse_bearer_challenge(refusal.www_authenticate);
  const std::string challenge = parsed.describe();
  if (refusal.status == 403) {  // insufficient_scope: no renewal helps
    if (!options_.headers)
      return Status(ErrorCode::kPermissionDenied,
                    prefix +
                        "the server wants credentials with more scope; set them in "
                        "server.headers" +
                        challenge);
    return Status(ErrorCode::kPermissionDenied,
                  prefix + options_.headers->lacks_scope(refusal.sent, parsed.scope).message());
  }
  if (!options_.headers)
    return Status(ErrorCode::kPermissionDenied,
                  prefix + "the server wants credentials; set them in server.headers" + challenge);
  const Status judged = options_.headers->refused(refusal.sent, retried);
  if (judged.is_ok() && !retried) return judged;
  return Status(ErrorCode::kPermissionDenied,
                prefix + (judged.is_ok() ? "refused again" : judged.message()) + challenge);
}

bool HttpTransport::session_lost() const {
  std::lock_guard lock(mutex_);
  return session_lost_;
}

void HttpTransport::abort() { end("keyhold ended the connection: the server broke the protocol"); }

std::string HttpTransport::close(std::chrono::milliseconds grace) {
  std::lock_guard close_lock(close_mutex_);
  if (closed_) {
    std::lock_guard lock(mutex_);
    return end_reason_;
  }
  closed_ = true;
  bool was_ended;
  std::string session;
  {
    std::lock_guard lock(mutex_);
    was_ended = ended_;
    session = session_id_;
  }
  if (!was_ended && !session.empty()) {  // the session ends with keyhold's side of it
    HeaderLines used;
    auto built = request_headers(false, &used, {});
    if (!built.is_ok())
      spdlog::warn("instance '{}': its session is not deleted on the server: {}", options_.instance,
                   built.status().message());
    curl_slist* headers = built.is_ok() ? built.value() : nullptr;
    if (CURL* easy = built.is_ok() ? curl_easy_init() : nullptr) {
      configure(easy, options_);
      curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "DELETE");
      curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &discard);
      curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(std::max<std::int64_t>(grace.count(), 200)));
      curl_easy_perform(easy);  // best effort: the server may be gone already
      curl_easy_cleanup(easy);
    }
    free_zeroed(headers);
  }
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    if (!ended_) {
      ended_ = true;
      end_reason_ = "closed by keyhold";
    }
    arrived_.notify_all();
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  return end_reason_;
}

void HttpTransport::run() {
  auto* multi = static_cast<CURLM*>(multi_);
  for (;;) {
    std::vector<std::unique_ptr<Transfer>> fresh;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
      fresh.swap(to_start_);
    }
    for (auto& t : fresh) {
      curl_multi_add_handle(multi, t->easy);
      active_.push_back(std::move(t));
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      auto it = std::find_if(active_.begin(), active_.end(),
                             [&](const auto& t) { return t->easy == m->easy_handle; });
      if (it == active_.end()) continue;
      std::unique_ptr<Transfer> done = std::move(*it);
      active_.erase(it);
      const CURLcode result = m->data.result;  // m is invalid after remove_handle
      curl_multi_remove_handle(multi, done->easy);
      finish(done.get(), result);
    }
    curl_multi_poll(multi, nullptr, 0, 200, nullptr);
  }
  for (auto& t : active_) curl_multi_remove_handle(multi, t->easy);
  active_.clear();
}

std::size_t HttpTransport::on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  std::string_view line(data, n);
  static constexpr std::string_view kSession = "mcp-session-id:";
  if (auto challenge = oauth::challenge_header_value(line)) {
    if (t->www_authenticate.empty()) t->www_authenticate = *challenge;
    return n;
  }
  if (t->kind == Transfer::Kind::kPost && starts_with_ci(line, kSession)) {
    line.remove_prefix(kSession.size());
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
      line.remove_suffix(1);
    // Visible ASCII only (the specification's rule): it goes back into a header line.
    const bool visible =
        !line.empty() && line.size() <= 1024 &&
        std::all_of(line.begin(), line.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
    if (visible) {
      std::lock_guard lock(t->owner->mutex_);
      t->owner->session_id_ = line;
    }
  }
  return n;
}

std::size_t HttpTransport::on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  if (!t->decided) {
    t->decided = true;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
    char* type = nullptr;
    curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &type);
    t->event_stream = type != nullptr && starts_with_ci(type, "text/event-stream");
  }
  if (t->status < 200 || t->status >= 300) {  // kept only to tell a lost session
    t->buffer.append(data,
                     std::min<std::size_t>(n, 512 - std::min<std::size_t>(t->buffer.size(), 512)));
    return n;
  }
  if (t->event_stream) {
    const bool ok = t->events.feed({data, n}, [t](SseEvent& event) {
      if (event.type.empty() || event.type == "message")
        t->owner->on_event_data(t, std::move(event.data));
    });
    if (!ok) t->too_long = true;
    return ok ? n : 0;
  }
  if (t->buffer.size() + n > t->owner->options_.max_message_bytes) {
    t->too_long = true;
    return 0;
  }
  t->buffer.append(data, n);
  return n;
}

void HttpTransport::on_event_data(Transfer* t, std::string data) {
  if (data.empty()) return;
  if (t->request_id && !t->answered) {
    const auto message = nlohmann::json::parse(data, nullptr, false);
    t->answered = message.is_object() && message.contains("id") &&
                  message["id"] == *t->request_id &&
                  (message.contains("result") || message.contains("error"));
  }
  deliver(std::move(data), t->request_id);
}

void HttpTransport::finish(Transfer* t, int code) {
  const auto result = static_cast<CURLcode>(code);
  if (!t->decided) curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
  if (t->too_long) {
    end("it sent a message over max_message_bytes (" + std::to_string(options_.max_message_bytes) +
        " bytes)");
    return;
  }
  if (t->kind == Transfer::Kind::kGet) {
    // The server's own stream: reopened when it ends; a server without one says 405.
    std::lock_guard lock(mutex_);
    if (t->status == 200 && result == CURLE_OK) stream_failures_ = 0;
    if (ended_ || (result == CURLE_OK && t->status != 200) || ++stream_failures_ > 5) {
      if (t->status == 401 || t->status == 403)
        spdlog::warn("instance '{}': its server refused the stream of keyhold's session (HTTP {})",
                     options_.instance, t->status);
      return;
    }
    reopen_stream_at_ = Clock::now() + std::chrono::seconds(1);
    arrived_.notify_all();  // the reader reopens it
    return;
  }
  if (result != CURLE_OK) {
    end("cannot reach " + origin_ + ": " +
        (t->error[0] != '\0' ? std::string(t->error) : std::string(curl_easy_strerror(result))));
    return;
  }
  bool had_session;
  {
    std::lock_guard lock(mutex_);
    had_session = !session_id_.empty();
  }
  // The specification says 404; servers built on the TypeScript SDK's examples (such as
  // server-everything) say 400 "No valid session ID" after they restarted.
  const bool lost =
      had_session &&
      (t->status == 404 || (t->status == 400 && t->buffer.find("ession") != std::string::npos));
  if (lost) {
    {
      std::lock_guard lock(mutex_);
      session_lost_ = true;
    }
    end("the server at " + origin_ + " no longer knows keyhold's session (HTTP " +
        std::to_string(t->status) + ")");
    return;
  }
  if (t->status >= 200 && t->status < 300) {
    if (!t->event_stream && !t->buffer.empty()) {
      t->answered = true;
      deliver(std::move(t->buffer), t->request_id);
    }
    if (t->request_id && !t->answered)
      deliver_error(*t->request_id, "the server at " + origin_ +
                                        " ended its answer to this request without a response");
    return;
  }
  std::string text = "HTTP " + std::to_string(t->status) + " from " + origin_;
  // credentials_refused() judges a 401, and a 403 whose challenge says insufficient_scope.
  const bool judged =
      t->status == 401 ||
      (t->status == 403 &&
       oauth::parse_bearer_challenge(t->www_authenticate).error == "insufficient_scope");
  if (judged && t->request_id) {
    std::lock_guard lock(mutex_);
    refused_.push_back(
        {*t->request_id, std::move(t->sent), std::move(t->www_authenticate), t->status});
    while (refused_.size() > kMaxRefusedKept) refused_.pop_front();
  }
  if (t->status == 401 || t->status == 403)
    text +=
        " (the server refused keyhold's credentials: check server.headers and the secrets "
        "and grants behind them)";
  if (t->request_id)
    deliver_error(*t->request_id, text);
  else
    spdlog::warn("instance '{}': a message to its server was refused: {}", options_.instance, text);
}

void HttpTransport::deliver(std::string message, std::optional<std::int64_t> related) {
  std::lock_guard lock(mutex_);
  incoming_.emplace_back(std::move(message), related);
  arrived_.notify_one();
}

void HttpTransport::deliver_error(std::int64_t id, const std::string& message) {
  deliver(nlohmann::json{
      {"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", -32603}, {"message", message}}}}
              .dump());
}

void HttpTransport::end(const std::string& reason) {
  std::lock_guard lock(mutex_);
  if (!ended_) {
    ended_ = true;
    end_reason_ = reason;
  }
  arrived_.notify_all();
}

}  // namespace keyhold::mount
