#include "transport/http_server.hpp"

#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <thread>
#include <typeinfo>

#include "base/html_text.hpp"
#include "protocol/json_rpc.hpp"
#include "protocol/params.hpp"
#include "protocol/versions.hpp"
#include "transport/request_headers.hpp"

namespace keyhold {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;

namespace {

constexpr std::string_view kEndpoint = "/mcp";
constexpr std::string_view kOAuthCallback = "/oauth/callback";

constexpr auto kKeepAliveEvery = std::chrono::seconds(10);
// How often a quiet stream looks whether its client is still there: closing the stream is
// how an HTTP client cancels its request (and ends a subscriptions/listen stream).
constexpr auto kStreamPoll = std::chrono::milliseconds(200);
// How long stop() lets listen streams deliver their graceful end before cutting them.
constexpr auto kListenDrain = std::chrono::seconds(2);
constexpr std::size_t kReadChunk = 16 * 1024;

// The answer to a connection over max_connections, written without blocking.
const std::string& busy_response() {
  static const std::string text = [] {
    const std::string body = rpc::serialize(
        rpc::make_error(nullptr, -32000, "Service Unavailable: too many connections"));
    return "HTTP/1.1 503 Service Unavailable\r\nServer: keyhold\r\nRetry-After: 1\r\n"
           "Content-Type: application/json\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  return text;
}

void set_socket_timeouts(int fd, std::chrono::seconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count());
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

std::string random_session_id() {
  unsigned char bytes[24];
  randombytes_buf(bytes, sizeof bytes);
  char hex[sizeof bytes * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, bytes, sizeof bytes);
  return hex;
}

bool header_lists(std::string_view header, std::string_view wanted) {
  return header.find(wanted) != std::string_view::npos;
}

// Hostname of a Host header value ("localhost:8080", "[::1]:80", "127.0.0.1").
std::string_view host_part(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

// The HTTP status of a 2026-07-28 JSON-RPC error response (streamable-http "Server
// Validation"): unknown methods are 404, malformed requests 400, the rest 200.
http::status stateless_status(const json& response) {
  auto error = response.find("error");
  if (error == response.end() || !error->is_object()) return http::status::ok;
  switch (error->value("code", 0)) {
    case rpc::kMethodNotFound:
      return http::status::not_found;
    case rpc::kInvalidRequest:
    case rpc::kInvalidParams:
    case rpc::kHeaderMismatch:
    case rpc::kMissingRequiredClientCapability:
    case rpc::kUnsupportedProtocolVersion:
      return http::status::bad_request;
    default:
      return http::status::ok;
  }
}

// True when a POST without a session speaks a stateless revision: its MCP-Protocol-Version
// header or its _meta names one that needs no initialize (or one nobody knows, which the
// stateless path answers with UnsupportedProtocolVersion).
bool is_stateless_post(std::string_view version_header, const json& message) {
  if (!version_header.empty() && !mcp::is_supported_version(version_header)) return true;
  auto version = mcp::requested_version(message.value("params", json::object()));
  return version && !mcp::is_supported_version(*version);
}

}  // namespace

bool HttpServer::is_loopback_host(std::string_view host) {
  host = host_part(host);
  if (host == "localhost" || host == "[::1]" || host == "::1") return true;
  return host.starts_with("127.") &&
         host.find_first_not_of("0123456789.") == std::string_view::npos;
}

bool HttpServer::host_allowed(std::string_view host) const {
  if (is_loopback_host(host)) return true;
  const std::string_view name = host_part(host);
  if (name == options_.bind_address) return true;
  for (const auto& origin : options_.allowed_origins) {
    auto scheme = origin.find("://");
    std::string_view allowed = scheme == std::string::npos
                                   ? std::string_view(origin)
                                   : std::string_view(origin).substr(scheme + 3);
    if (host_part(allowed) == name) return true;
  }
  return false;
}

bool HttpServer::origin_allowed(std::string_view origin) const {
  for (const auto& allowed : options_.allowed_origins)
    if (origin == allowed) return true;
  const auto scheme = origin.find("://");
  if (scheme == std::string_view::npos) return false;
  const std::string_view proto = origin.substr(0, scheme);
  return (proto == "http" || proto == "https") && is_loopback_host(origin.substr(scheme + 3));
}

// One client connection, served on its own thread with blocking I/O.
class HttpServer::Connection {
 public:
  Connection(HttpServer& server, tcp::socket socket)
      : server_(server), socket_(std::move(socket)) {}

  void run() {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(server_.options_.max_header_bytes));
      // Two bytes of slack for a CRLF after a message of exactly the limit; the message
      // itself is held to the limit by parse_message.
      parser.body_limit(server_.options_.max_body_bytes + 2);
      const beast::error_code ec = read_request(buffer, parser);
      if (ec == http::error::body_limit) {
        // Refused from the Content-Length alone: the rest of the body is never read.
        reply_error(
            http::status::payload_too_large, false,
            "request body exceeds " + std::to_string(server_.options_.max_body_bytes) + " bytes");
        linger_close();
        return;
      }
      if (ec == http::error::header_limit) {
        reply_error(http::status::request_header_fields_too_large, false,
                    "request headers too large");
        linger_close();
        return;
      }
      if (ec.category() == http::make_error_code(http::error::bad_target).category() ||
          ec == kMalformed) {
        reply_error(http::status::bad_request, false, "Bad Request: malformed HTTP request");
        linger_close();
        return;
      }
      if (ec) return;  // closed, or too slow: drop the connection
      request_ = parser.release();
      bool keep = false;
      try {
        keep = handle();
      } catch (const std::exception& e) {
        // A bug: nothing a client sends may make a handler throw. The client still gets
        // an answer it can read; the connection closes (its state is unknown).
        spdlog::error("internal error handling an HTTP request ({})", typeid(e).name());
        reply_internal_error();
        return;
      } catch (...) {
        spdlog::error("internal error handling an HTTP request (unknown exception)");
        reply_internal_error();
        return;
      }
      if (!keep || !request_.keep_alive() || server_.stopping_) return;
    }
  }

 private:
  using Request = http::request<http::string_body>;
  static constexpr beast::errc::errc_t kMalformed = beast::errc::bad_message;

  // Reads one request into parser, feeding it from buffer (which keeps what belongs to a
  // pipelined next request). The whole request must arrive within read_timeout of the
  // call; a client that trickles bytes is cut off at the deadline. Returns timed_out then,
  // eof when the client closed between requests, a beast http error for a bad request.
  beast::error_code read_request(beast::flat_buffer& buffer,
                                 http::request_parser<http::string_body>& parser) {
    const auto deadline = std::chrono::steady_clock::now() + server_.options_.read_timeout;
    beast::error_code ec;
    for (;;) {
      if (buffer.size() > 0) {
        const std::size_t used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (parser.is_done()) return {};
        if (ec == http::error::need_more) {
          ec = {};
        } else if (ec) {
          return ec;
        } else if (used > 0) {
          continue;  // a header was parsed; the body may already be buffered
        }
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return beast::errc::make_error_code(beast::errc::timed_out);
      pollfd pfd{socket_.native_handle(), POLLIN, 0};
      const int ready =
          ::poll(&pfd, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
      if (ready < 0 && errno != EINTR) return beast::errc::make_error_code(beast::errc::io_error);
      if (server_.stopping_) return beast::errc::make_error_code(beast::errc::operation_canceled);
      if (ready <= 0) continue;
      const std::size_t n = socket_.read_some(buffer.prepare(kReadChunk), ec);
      buffer.commit(n);
      if (ec == net::error::eof) {
        if (!parser.got_some() && buffer.size() == 0) return ec;  // closed between requests
        return beast::errc::make_error_code(kMalformed);          // truncated request
      }
      if (ec) return ec;
    }
  }

  // Ends the connection after an error reply without reading what the client still sends:
  // shut down our side and discard a little of the input, so the reply is not lost to a
  // TCP reset. The socket is closed by the caller (its descriptor is tracked until then).
  void linger_close() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    std::size_t discarded = 0;
    char scratch[16 * 1024];
    while (discarded < (1u << 20) && std::chrono::steady_clock::now() < until) {
      pollfd pfd{socket_.native_handle(), POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      const std::size_t n = socket_.read_some(net::buffer(scratch), ec);
      if (ec) break;
      discarded += n;
    }
  }

  void write(http::response<http::string_body>& res) {
    res.set(http::field::server, "keyhold");
    if (res.keep_alive()) res.set(http::field::keep_alive, keep_alive_hint());
    res.prepare_payload();
    beast::error_code ec;
    http::write(socket_, res, ec);
  }

  bool reply(http::status status, bool keep_alive, std::string body, std::string_view content_type,
             const std::vector<std::pair<http::field, std::string>>& extra = {}) {
    http::response<http::string_body> res{status, request_.version()};
    if (!body.empty()) res.set(http::field::content_type, std::string(content_type));
    for (const auto& [field, value] : extra) res.set(field, value);
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    write(res);
    return keep_alive;
  }

  // An HTTP-level error with a JSON-RPC error body, as the TypeScript SDK answers.
  bool reply_error(http::status status, bool keep_alive, const std::string& message,
                   const std::vector<std::pair<http::field, std::string>>& extra = {}) {
    return reply(status, keep_alive, rpc::serialize(rpc::make_error(nullptr, -32000, message)),
                 "application/json", extra);
  }

  void reply_internal_error() noexcept {
    try {
      reply(http::status::internal_server_error, false,
            rpc::serialize(rpc::make_error(nullptr, rpc::kInternalError, "internal error")),
            "application/json");
    } catch (...) {
    }
  }

  // Tells the client how long an idle connection stays open, so it does not reuse one
  // that the server is about to close.
  std::string keep_alive_hint() const {
    return "timeout=" + std::to_string(server_.options_.read_timeout.count());
  }

  std::string header(http::field field) const {
    auto it = request_.find(field);
    return it == request_.end() ? std::string() : std::string(it->value());
  }
  std::string header(std::string_view name) const {
    auto it = request_.find(beast::string_view(name.data(), name.size()));
    return it == request_.end() ? std::string() : std::string(it->value());
  }

  bool handle() {
    const bool keep = request_.keep_alive();
    std::string target(request_.target());
    if (auto q = target.find('?'); q != std::string::npos) target.erase(q);
    if (!server_.host_allowed(header(http::field::host)))
      return reply_error(http::status::forbidden, false, "Forbidden: Host header not allowed");
    if (auto origin = header(http::field::origin);
        !origin.empty() && !server_.origin_allowed(origin))
      return reply_error(http::status::forbidden, false, "Forbidden: Origin not allowed");
    if (target == kOAuthCallback && server_.options_.oauth_callback)
      return handle_oauth_callback(keep);
    if (target != kEndpoint)
      return reply_error(http::status::not_found, keep, "Not Found: use /mcp");
    client_ = AuthDecision{AuthDecision::Kind::kAllow, {}, {}, {}, {}, {}};
    if (server_.options_.auth) {
      client_ = authenticate();
      if (client_.kind == AuthDecision::Kind::kDeny)
        return reply_error(
            http::status::unauthorized, keep,
            "Unauthorized: send Authorization: Bearer <token> (keyhold token create)",
            {{http::field::www_authenticate, "Bearer realm=\"keyhold\", error=\"invalid_token\""}});
      if (client_.kind == AuthDecision::Kind::kRateLimited)
        return reply_error(
            http::status::too_many_requests, keep,
            "Too Many Requests: this token's rate limit is exhausted",
            {{http::field::retry_after, std::to_string(client_.retry_after.count())}});
    }
    switch (request_.method()) {
      case http::verb::post:
        return handle_post(keep);
      case http::verb::get:
        return handle_get(keep);
      case http::verb::delete_:
        return handle_delete(keep);
      default:
        return reply_error(http::status::method_not_allowed, keep, "Method Not Allowed",
                           {{http::field::allow, "GET, POST, DELETE"}});
    }
  }

  // GET /oauth/callback: the browser bringing back a per-user authorization. No bearer
  // authentication (a browser has none): the single-use state it carries is the
  // capability, judged by options_.oauth_callback. Answers a short HTML page.
  bool handle_oauth_callback(bool keep) {
    if (request_.method() != http::verb::get)
      return reply_error(http::status::method_not_allowed, keep, "Method Not Allowed",
                         {{http::field::allow, "GET"}});
    const std::string target(request_.target());
    const auto question = target.find('?');
    const OAuthCallbackAnswer answer = server_.options_.oauth_callback(
        question == std::string::npos ? std::string_view()
                                      : std::string_view(target).substr(question + 1));
    if (answer.accepted)
      server_.notify_elicitation_complete(answer.client_id, answer.elicitation_id);
    return reply(answer.accepted ? http::status::ok : http::status::bad_request, keep,
                 "<!doctype html><title>keyhold</title><p>" + html_escape(answer.text) + "</p>\n",
                 "text/html; charset=utf-8", {{http::field::cache_control, "no-store"}});
  }

  AuthDecision authenticate() const {
    if (!server_.token_check_) return {};
    beast::error_code ec;
    const auto peer = socket_.remote_endpoint(ec);
    return server_.token_check_(header(http::field::authorization),
                                ec ? std::string("?") : peer.address().to_string());
  }

  // Resolves the session named by the request; answers 400/404 itself when it fails.
  std::shared_ptr<HttpSession> session_of_request(bool keep, bool* answered) {
    *answered = true;
    const std::string id = header("mcp-session-id");
    if (id.empty()) {
      reply_error(http::status::bad_request, keep,
                  "Bad Request: Mcp-Session-Id header is required");
      return nullptr;
    }
    auto session = server_.find_session(id);
    if (session && session->owner() != client_.client_id) {
      // Another client's session: answered as if it did not exist, so a token holder
      // cannot probe for the sessions of other tokens.
      spdlog::warn("HTTP client '{}' used a session of another client; answered 404",
                   client_.client_name);
      session = nullptr;
    }
    if (!session) {
      reply_error(http::status::not_found, keep, "Not Found: unknown or ended session");
      return nullptr;
    }
    const std::string version = header("mcp-protocol-version");
    if (!version.empty() && !mcp::is_supported_version(version)) {
      reply_error(http::status::bad_request, keep,
                  "Bad Request: unsupported MCP-Protocol-Version " + version);
      return nullptr;
    }
    session->touch();
    *answered = false;
    return session;
  }

  bool handle_post(bool keep) {
    const std::string accept = header(http::field::accept);
    const bool accepts_sse =
        header_lists(accept, "text/event-stream") || header_lists(accept, "*/*");
    const bool accepts_json =
        header_lists(accept, "application/json") || header_lists(accept, "*/*");
    if (!accepts_json && !accepts_sse)
      return reply_error(http::status::not_acceptable, keep,
                         "Not Acceptable: accept application/json and text/event-stream");
    if (!header_lists(header(http::field::content_type), "application/json"))
      return reply_error(http::status::unsupported_media_type, keep,
                         "Unsupported Media Type: send application/json");
    json error;
    std::string_view text = request_.body();
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    auto message = rpc::parse_message(text, server_.options_.session.limits, &error);
    if (!message)
      return reply(http::status::bad_request, keep, rpc::serialize(error), "application/json");
    std::string why;
    json id;
    const rpc::Kind kind = rpc::classify(*message, &why, &id);
    if (kind == rpc::Kind::kInvalid)
      return reply(
          http::status::bad_request, keep,
          rpc::serialize(rpc::make_error(id, rpc::kInvalidRequest, "invalid request: " + why)),
          "application/json");
    const std::string method =
        kind == rpc::Kind::kRequest ? (*message)["method"].get<std::string>() : "";

    if (header("mcp-session-id").empty() &&
        is_stateless_post(header("mcp-protocol-version"), *message))
      return handle_stateless_post(keep, *message, kind, id, accepts_sse);

    std::shared_ptr<HttpSession> session;
    const bool initialize = method == "initialize";
    if (initialize) {
      std::string refused;
      session = server_.create_session(client_, &refused);
      if (!session)
        return reply_error(http::status::service_unavailable, keep,
                           "Service Unavailable: " + refused, {{http::field::retry_after, "5"}});
    } else {
      bool answered = false;
      session = session_of_request(keep, &answered);
      if (!session) return answered && keep;
    }

    if (kind != rpc::Kind::kRequest) {
      session->core().handle(*message);
      return reply(http::status::accepted, keep, "", "");
    }
    auto stream = session->open_request_stream(rpc::id_key(id));
    if (!stream)
      return reply(http::status::conflict, keep,
                   rpc::serialize(rpc::make_error(
                       id, rpc::kInvalidRequest,
                       "invalid request: a request with this id is already in flight")),
                   "application/json");
    // Every request but initialize is answered on its own SSE stream when the client
    // accepts one, so notifications and client requests can ride along.
    const bool use_sse = accepts_sse && method != "initialize";
    if (use_sse) stream->prime();
    session->core().handle(*message);
    if (use_sse) return stream_events(*session, stream, 0, keep);

    // JSON: wait for the final event (the response); notifications sent meanwhile on a
    // JSON-answered request have no stream to ride and are dropped.
    std::size_t position = 0;
    std::string body;
    for (bool finished = false; !finished;) {
      auto events = stream->next(position, std::chrono::seconds(1), &finished);
      position += events.size();
      if (!events.empty() && finished) body = events.back().data;
      if (server_.stopping_ && !finished) break;
    }
    session->forget_stream(stream->id());
    if (body.empty()) {
      if (initialize) server_.end_session(session->id());
      return reply_error(http::status::service_unavailable, false,
                         "Service Unavailable: shutting down");
    }
    // A failed initialize leaves no session behind: the client may retry with a new one.
    const bool failed_initialize =
        initialize && json::parse(body, nullptr, false).contains("error");
    if (failed_initialize) server_.end_session(session->id());
    http::response<http::string_body> res{http::status::ok, request_.version()};
    res.set(http::field::content_type, "application/json");
    if (!failed_initialize) res.set("mcp-session-id", session->id());
    res.keep_alive(keep);
    res.body() = std::move(body);
    write(res);
    return keep;
  }

  // A 2026-07-28 request: no session, so a session of its own that lives as long as the
  // request. It is answered with JSON when nothing but the response comes (and then with
  // the HTTP status its error calls for), otherwise with an SSE stream of its own.
  bool handle_stateless_post(bool keep, const json& message, rpc::Kind kind, const json& id,
                             bool accepts_sse) {
    if (kind != rpc::Kind::kRequest) return reply(http::status::accepted, keep, "", "");
    const HeaderLookup lookup = [this](std::string_view name) -> std::optional<std::string> {
      auto it = request_.find(beast::string_view(name.data(), name.size()));
      if (it == request_.end()) return std::nullopt;
      return std::string(it->value());
    };
    Status headers = check_standard_headers(lookup, message);
    if (headers.is_ok() && message["method"] == "tools/call") {
      const json params = message.value("params", json::object());
      const json name = params.value("name", json());
      auto snap = server_.registry_.snapshot();
      for (const auto& tool : snap->tools) {
        if (tool["name"] != name) continue;
        headers = check_param_headers(lookup, tool.value("inputSchema", json::object()),
                                      params.value("arguments", json::object()));
        break;
      }
    }
    if (!headers.is_ok())
      return reply(http::status::bad_request, keep,
                   rpc::serialize(rpc::make_error(id, rpc::kHeaderMismatch, headers.message())),
                   "application/json");
    const bool listen = message["method"] == "subscriptions/listen";
    if (listen && !accepts_sse)
      return reply(http::status::not_acceptable, keep,
                   rpc::serialize(rpc::make_error(id, rpc::kInvalidRequest,
                                                  "subscriptions/listen is answered with an SSE "
                                                  "stream: accept text/event-stream")),
                   "application/json");
    SessionOptions options = server_.options_.session;
    options.stateless = true;
    options.client_id = client_.client_id;
    options.client_name = client_.client_name;
    for (const auto& field : request_) {
      std::string name(field.name_string());
      if (!beast::iequals(name.substr(0, 10), "mcp-param-")) continue;
      const std::string raw(field.value());
      auto value = decode_header_value(raw);
      options.param_headers[name] = value ? *value : raw;
    }
    if (client_.tool_allowed) options.tool_allowed = client_.tool_allowed;
    auto session = std::make_shared<HttpSession>(
        std::string(), client_.client_id, server_.registry_, server_.pool_, std::move(options));
    struct Closer {
      HttpSession& session;
      ~Closer() { session.close(); }  // cancels the call when the client went away
    } closer{*session};
    // A listen stream's session hears the instances' change events while it is open.
    struct ListenRegistration {
      HttpServer& server;
      HttpSession& session;
      bool active = false;
      ~ListenRegistration() {
        if (!active) return;
        server.hub_.detach(&session.core());
        server.unregister_listen(&session);
      }
    } registration{server_, *session};
    if (listen) {
      std::string why;
      if (!server_.register_listen(client_.client_id, session, &why))
        return reply(
            server_.stopping_ ? http::status::service_unavailable : http::status::too_many_requests,
            keep, rpc::serialize(rpc::make_error(id, rpc::kInvalidRequest, why)),
            "application/json");
      registration.active = true;
      server_.hub_.attach(&session->core());
    }
    auto stream = session->open_request_stream(rpc::id_key(id));
    session->core().handle(message);
    for (std::size_t seen = 0;;) {
      bool finished = false;
      auto events = stream->next(seen, kStreamPoll, &finished);
      if (!events.empty() && seen == 0 && !finished && accepts_sse)
        return stream_events(*session, stream, 0, keep, false, listen);
      seen += events.size();
      if (finished && !events.empty()) {
        // Only the response, or a JSON-only client (the notifications before the response
        // have no stream to ride and are dropped).
        const std::string& body = events.back().data;
        return reply(stateless_status(json::parse(body, nullptr, false)), keep, body,
                     "application/json");
      }
      if (finished || server_.stopping_)
        return reply_error(http::status::service_unavailable, false,
                           "Service Unavailable: shutting down");
      // A client that closed the connection cancelled its request: the closer cancels it.
      if (events.empty() && peer_closed()) return false;
    }
  }

  bool handle_get(bool keep) {
    if (header("mcp-session-id").empty() &&
        mcp::is_stateless_version(header("mcp-protocol-version")))
      return reply_error(http::status::method_not_allowed, keep,
                         "Method Not Allowed: MCP 2026-07-28 has no GET stream; POST "
                         "subscriptions/listen instead",
                         {{http::field::allow, "POST"}});
    if (!header_lists(header(http::field::accept), "text/event-stream"))
      return reply_error(http::status::method_not_allowed, keep,
                         "Method Not Allowed: GET opens an SSE stream; accept text/event-stream",
                         {{http::field::allow, "GET, POST, DELETE"}});
    bool answered = false;
    auto session = session_of_request(keep, &answered);
    if (!session) return keep;
    if (const std::string last = header("last-event-id"); !last.empty()) {
      if (auto stream = session->find_stream_of_event(last)) {
        auto position = stream->position_after(last);
        if (position) return stream_events(*session, stream, *position, keep);
      }
    }
    auto stream = session->open_standalone_stream();
    if (!stream)
      return reply_error(http::status::conflict, keep,
                         "Conflict: this session already has an open GET stream");
    stream->prime();
    return stream_events(*session, stream, 0, keep);
  }

  bool handle_delete(bool keep) {
    bool answered = false;
    auto session = session_of_request(keep, &answered);
    if (!session) return keep;
    server_.end_session(session->id());
    return reply(http::status::ok, keep, "", "");
  }

  // Streams `stream` from history position `from` as SSE in HTTP chunks until it ends, the
  // client goes away, another connection resumes it, or the server stops.
  // A listen stream, when the server stops, is given kListenDrain to deliver the graceful
  // end stop() sends it; other streams end at once.
  bool stream_events(HttpSession& session, const std::shared_ptr<SseStream>& stream,
                     std::size_t from, bool keep, bool with_session = true, bool listen = false) {
    const std::uint64_t claim = stream->attach();
    // HTTP/1.0 has no chunked encoding: the stream is delimited by closing the connection.
    const bool chunked = request_.version() >= 11;
    if (!chunked) keep = false;
    http::response<http::empty_body> res{http::status::ok, request_.version()};
    res.set(http::field::server, "keyhold");
    res.set(http::field::content_type, "text/event-stream");
    res.set(http::field::cache_control, "no-cache, no-transform");
    res.set("x-accel-buffering", "no");  // a reverse proxy must not hold events back
    if (with_session) res.set("mcp-session-id", session.id());
    res.chunked(chunked);
    res.keep_alive(keep);
    http::response_serializer<http::empty_body> serializer{res};
    beast::error_code ec;
    http::write_header(socket_, serializer, ec);
    bool ok = !ec;
    std::size_t position = from;
    bool finished = false;
    auto last_write = std::chrono::steady_clock::now();
    std::optional<std::chrono::steady_clock::time_point> drain_until;
    while (ok && !finished && stream->owned_by(claim)) {
      if (server_.stopping_) {
        if (!listen) break;
        const auto now = std::chrono::steady_clock::now();
        if (!drain_until)
          drain_until = now + kListenDrain;
        else if (now > *drain_until)
          break;
      }
      if (client_.still_valid && !client_.still_valid()) {
        ok = false;  // the token was revoked or expired: end the stream, close the connection
        break;
      }
      auto events = stream->next(position, kStreamPoll, &finished);
      std::string text;
      for (const auto& event : events) {
        if (with_session) text += "id: " + event.id + "\n";  // 2026-07-28 has no resumption
        if (event.data.empty()) text += "retry: 1000\n";     // priming event
        text += "data: " + event.data + "\n\n";
      }
      const auto now = std::chrono::steady_clock::now();
      if (text.empty() && !finished) {
        if (now - last_write >= kKeepAliveEvery) {
          text = ": keep-alive\n\n";  // keeps intermediaries from timing the stream out
        } else if (peer_closed()) {
          ok = false;  // the client closed the stream: its request is cancelled
          break;
        } else {
          continue;
        }
      }
      if (!text.empty()) {
        if (chunked)
          net::write(socket_, http::make_chunk(net::buffer(text)), ec);
        else
          net::write(socket_, net::buffer(text), ec);
        last_write = now;
      }
      ok = !ec;
      position += events.size();
      if (!with_session) stream->forget_before(position);  // no Last-Event-ID to serve
    }
    stream->detach(claim);
    if (!ok) {
      session.forget_abandoned();  // a bounded number of such streams stays resumable
      return false;                // the client may resume with Last-Event-ID
    }
    if (finished && position > 0) session.forget_stream(stream->id());
    if (!chunked) return false;  // the close ends the body
    net::write(socket_, http::make_chunk_last(), ec);
    return keep && !ec && !server_.stopping_;
  }

  // True when the client closed its end of the connection (or it failed). Found by poll
  // rather than by the next failed write, so a closed stream is noticed within kStreamPoll.
  bool peer_closed() {
    pollfd pfd{socket_.native_handle(), POLLRDHUP, 0};
    return ::poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  }

  HttpServer& server_;
  tcp::socket socket_;
  Request request_;
  AuthDecision client_;  // of the request being handled
};

HttpServer::HttpServer(Registry& registry, EventHub& hub, boost::asio::thread_pool& pool,
                       HttpOptions options)
    : registry_(registry), hub_(hub), pool_(pool), options_(std::move(options)), acceptor_(io_) {
  // One sealer for every session: a stateless client's retry gets a session of its own.
  if (!options_.session.request_state)
    options_.session.request_state = std::make_shared<RequestStateSealer>();
}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::listen() {
  beast::error_code ec;
  auto address = net::ip::make_address(options_.bind_address, ec);
  if (ec) return invalid_argument("invalid bind address '" + options_.bind_address + "'");
  if (!options_.auth && !address.is_loopback())
    return invalid_argument("auth = \"off\" is allowed only on a loopback address, not " +
                            options_.bind_address);
  tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return io_error("cannot listen on " + options_.bind_address + ":" +
                    std::to_string(options_.port) + ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
  return Status::ok();
}

void HttpServer::serve(int stop_fd) {
  const int listen_fd = acceptor_.native_handle();
  while (!stopping_) {
    pollfd fds[2] = {{listen_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    if (::poll(fds, stop_fd >= 0 ? 2 : 1, 1000) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (stop_fd >= 0 && (fds[1].revents & POLLIN)) break;
    reap_idle_sessions();
    if (!(fds[0].revents & POLLIN)) continue;
    beast::error_code ec;
    tcp::socket socket(io_);
    acceptor_.accept(socket, ec);
    if (ec) continue;
    const int fd = socket.native_handle();
    {
      std::lock_guard lock(mutex_);
      if (connections_ >= options_.max_connections) {
        // Over the cap: refuse politely rather than queue without bound.
        [[maybe_unused]] auto sent =
            ::send(fd, busy_response().data(), busy_response().size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        ::shutdown(fd, SHUT_WR);
        socket.close(ec);
        continue;
      }
      ++connections_;
      open_sockets_.insert(fd);
    }
    set_socket_timeouts(fd, options_.read_timeout);
    auto* owned = new tcp::socket(std::move(socket));
    std::thread([this, owned, fd] {
      std::unique_ptr<tcp::socket> held(owned);
      // The descriptor leaves open_sockets_ before it is closed: stop() shuts down every
      // listed number, and a closed one may already belong to someone else (a runner's
      // channel, the vault).
      struct Unlist {
        HttpServer* server;
        int fd;
        ~Unlist() {
          std::lock_guard lock(server->mutex_);
          server->open_sockets_.erase(fd);
        }
      };
      try {
        Connection connection(*this, std::move(*held));
        const Unlist unlist{this, fd};  // destroyed before connection closes the socket
        connection.run();
      } catch (const std::exception& e) {
        spdlog::warn("http connection failed: {}", e.what());
      }
      held.reset();  // before the count drops: stop() may then destroy io_
      std::lock_guard lock(mutex_);
      open_sockets_.erase(fd);  // (when Connection's constructor threw)
      if (--connections_ == 0) connections_done_.notify_all();
    }).detach();
  }
  stop();
}

void HttpServer::stop() {
  if (stopping_.exchange(true)) {
    std::unique_lock lock(mutex_);
    connections_done_.wait(lock, [this] { return connections_ == 0; });
    return;
  }
  beast::error_code ec;
  acceptor_.close(ec);
  // Listen streams end gracefully: each gets its result, delivered before connections are cut.
  std::vector<std::shared_ptr<HttpSession>> listening;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [client, session] : listens_) listening.push_back(session);
  }
  for (const auto& session : listening) session->core().end_listens();
  if (!listening.empty()) {
    std::unique_lock lock(mutex_);
    listens_done_.wait_for(lock, kListenDrain, [this] { return listens_.empty(); });
  }
  listening.clear();
  std::map<std::string, std::shared_ptr<HttpSession>> sessions;
  {
    std::lock_guard lock(mutex_);
    sessions.swap(sessions_);
  }
  for (auto& [id, session] : sessions) {
    hub_.detach(&session->core());
    session->close();  // drains in-flight calls; their streams end
  }
  std::unique_lock lock(mutex_);
  for (int fd : open_sockets_) ::shutdown(fd, SHUT_RDWR);
  connections_done_.wait(lock, [this] { return connections_ == 0; });
}

std::shared_ptr<HttpSession> HttpServer::create_session(const AuthDecision& decision,
                                                        std::string* why) {
  std::shared_ptr<HttpSession> reclaimed;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      *why = "shutting down";
      return nullptr;
    }
    // The client's own sessions, least recently used first among the idle ones.
    std::size_t owned = 0;
    std::shared_ptr<HttpSession> idle_lru;
    for (const auto& [id, session] : sessions_) {
      if (session->owner() != decision.client_id) continue;
      ++owned;
      if (!session->busy() && (!idle_lru || session->last_used() < idle_lru->last_used()))
        idle_lru = session;
    }
    // With authentication off (loopback only) every client is the same anonymous one:
    // only max_sessions applies.
    if (!decision.client_id.empty() && owned >= options_.max_sessions_per_token) {
      if (!idle_lru) {
        *why = "this client holds " + std::to_string(owned) +
               " sessions, all busy (max_sessions_per_token); end one with DELETE";
        return nullptr;
      }
      sessions_.erase(idle_lru->id());
      reclaimed = std::move(idle_lru);
    }
  }
  if (reclaimed) {
    spdlog::info(
        "HTTP client '{}' reached max_sessions_per_token; ended its least recently "
        "used idle session",
        decision.client_name);
    hub_.detach(&reclaimed->core());
    reclaimed->close();
  }
  std::lock_guard lock(mutex_);
  if (stopping_) {
    *why = "shutting down";
    return nullptr;
  }
  if (sessions_.size() >= options_.max_sessions) {
    *why = "too many sessions (max_sessions)";
    return nullptr;
  }
  SessionOptions session_options = options_.session;
  session_options.client_id = decision.client_id;
  session_options.client_name = decision.client_name;
  if (decision.tool_allowed) session_options.tool_allowed = decision.tool_allowed;
  auto session = std::make_shared<HttpSession>(random_session_id(), decision.client_id, registry_,
                                               pool_, std::move(session_options));
  sessions_[session->id()] = session;
  hub_.attach(&session->core());
  return session;
}

void HttpServer::notify_elicitation_complete(const std::string& client_id,
                                             const std::string& elicitation_id) {
  std::vector<std::shared_ptr<HttpSession>> owned;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, session] : sessions_)
      if (session->owner() == client_id) owned.push_back(session);
  }
  for (const auto& session : owned) session->core().notify_elicitation_complete(elicitation_id);
}

std::shared_ptr<HttpSession> HttpServer::find_session(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second;
}

void HttpServer::end_session(const std::string& id) {
  std::shared_ptr<HttpSession> session;
  {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    session = it->second;
    sessions_.erase(it);
  }
  hub_.detach(&session->core());
  session->close();
}

bool HttpServer::register_listen(const std::string& client,
                                 const std::shared_ptr<HttpSession>& session, std::string* why) {
  std::lock_guard lock(mutex_);
  if (stopping_) {
    *why = "server is shutting down";
    return false;
  }
  const std::size_t open = listens_.count(client);
  if (open >= options_.max_listens_per_client) {
    *why = "too many open subscriptions/listen streams: this client holds " + std::to_string(open) +
           ", the limit (max_listens_per_client); close one before opening another";
    return false;
  }
  listens_.emplace(client, session);
  return true;
}

void HttpServer::unregister_listen(const HttpSession* session) {
  std::lock_guard lock(mutex_);
  for (auto it = listens_.begin(); it != listens_.end(); ++it) {
    if (it->second.get() != session) continue;
    listens_.erase(it);
    break;
  }
  if (listens_.empty()) listens_done_.notify_all();
}

void HttpServer::reap_idle_sessions() {
  std::vector<std::string> idle;
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    for (const auto& [id, session] : sessions_) {
      const auto unused = now - session->last_used();
      if (unused > options_.session_idle_timeout ||
          (unused > options_.abandoned_session_timeout && !session->busy()))
        idle.push_back(id);
    }
  }
  for (const auto& id : idle) end_session(id);
}

}  // namespace keyhold
