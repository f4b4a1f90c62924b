#pragma once
// MCP Streamable HTTP transport (Boost.Beast): one endpoint, /mcp, for POST (messages),
// GET (the session's standalone SSE stream, or resuming one with Last-Event-ID) and
// DELETE (end the session). A thread per connection, bounded; blocking I/O with socket
// timeouts, so a slow or idle client can hold a thread only for the timeout.
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/status.hpp"
#include "server/event_hub.hpp"
#include "transport/http_client_auth.hpp"
#include "transport/http_session.hpp"

namespace keyhold {

// What the handler of GET /oauth/callback decided (HttpOptions::oauth_callback).
struct OAuthCallbackAnswer {
  bool accepted = false;  // 200, else 400
  std::string text;       // the page's one sentence (never a token or code)
  // When accepted: the client whose sessions get notifications/elicitation/complete.
  std::string client_id;
  std::string elicitation_id;
};

struct HttpOptions {
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 0;  // 0 = any free port
  // Bearer authentication of clients. Only a loopback bind may turn it off.
  bool auth = true;
  // Origins (scheme://host[:port]) allowed besides loopback ones.
  std::vector<std::string> allowed_origins;
  std::size_t max_body_bytes = 4u << 20;
  std::size_t max_header_bytes = 16u << 10;
  std::size_t max_sessions = 100;
  // Connections served at once; more are answered 503 with Retry-After and closed.
  std::size_t max_connections = 128;
  std::chrono::seconds session_idle_timeout{30 * 60};
  // Sessions one client (token) may hold. At the cap, initialize ends the client's least
  // recently used session that is idle (nothing in flight, no open stream), or gets 503.
  // Not applied with auth off (one anonymous client); max_sessions still is.
  std::size_t max_sessions_per_token = 16;
  // A session with no request in flight and no open stream for this long is ended.
  std::chrono::seconds abandoned_session_timeout{5 * 60};
  // The longest a connection may take to deliver one whole request (headers and body),
  // counted from the end of the previous one: closes idle keep-alive connections and
  // clients that trickle bytes. Also the socket send timeout.
  std::chrono::seconds read_timeout{30};
  // Open MCP 2026-07-28 subscriptions/listen streams one client (token; every client when
  // auth is off) may hold. Each holds a connection, so this keeps one client from taking
  // all of max_connections; a listen beyond it is answered 429.
  std::size_t max_listens_per_client = 16;
  SessionOptions session;
  // Judges GET /oauth/callback?QUERY, the redirect of a per-user OAuth authorization
  // (host/oauth/user_authorizations.hpp), without bearer authentication; unset: 404.
  std::function<OAuthCallbackAnswer(std::string_view query)> oauth_callback;
};

class HttpServer {
 public:
  HttpServer(Registry& registry, EventHub& hub, boost::asio::thread_pool& pool,
             HttpOptions options);
  ~HttpServer();  // stop()s

  // Binds and listens. An error when the address is unusable or auth is off on a
  // non-loopback address.
  Status listen();
  std::uint16_t port() const noexcept { return port_; }
  // Installs the client authentication used while options.auth is on; without one every
  // request is refused 401. Call before serve().
  void set_token_check(TokenCheck check) { token_check_ = std::move(check); }

  // Accepts connections until stop_fd becomes readable, then stops.
  void serve(int stop_fd);
  // Stops accepting, ends all sessions (cancelling their calls) and waits for every
  // connection thread to finish.
  void stop();

  // True for 127.0.0.0/8, ::1 and "localhost".
  static bool is_loopback_host(std::string_view host);

 private:
  class Connection;
  friend class Connection;

  // A new session owned by the client `decision` names, or nothing (and *why) at the
  // session cap or the client's cap with no idle session to reclaim.
  std::shared_ptr<HttpSession> create_session(const AuthDecision& decision, std::string* why);
  std::shared_ptr<HttpSession> find_session(const std::string& id);
  // Sends notifications/elicitation/complete to every session client_id owns.
  void notify_elicitation_complete(const std::string& client_id, const std::string& elicitation_id);
  void end_session(const std::string& id);
  void reap_idle_sessions();
  // Counts an open listen stream against its client's max_listens_per_client; false (and
  // *why) at the bound or while stopping. unregister_listen undoes it.
  bool register_listen(const std::string& client, const std::shared_ptr<HttpSession>& session,
                       std::string* why);
  void unregister_listen(const HttpSession* session);
  bool origin_allowed(std::string_view origin) const;
  bool host_allowed(std::string_view host) const;

  Registry& registry_;
  EventHub& hub_;
  boost::asio::thread_pool& pool_;
  HttpOptions options_;
  TokenCheck token_check_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;

  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<HttpSession>> sessions_;
  // The (stateless) sessions serving open listen streams, by client: stop() ends them
  // gracefully before it cuts connections.
  std::multimap<std::string, std::shared_ptr<HttpSession>> listens_;
  std::condition_variable listens_done_;
  std::set<int> open_sockets_;
  std::size_t connections_ = 0;
  std::condition_variable connections_done_;
  std::atomic<bool> stopping_{false};
};

}  // namespace keyhold
