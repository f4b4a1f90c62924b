#pragma once
// A remote mounted server over MCP's Streamable HTTP transport (2025-11-25), keyhold the
// client: every message is a POST of JSON-RPC to the one endpoint, answered by
// application/json (the response) or text/event-stream (events ending with the response;
// notifications and requests of the server may come first), or by 202 for notifications and
// responses. The server's Mcp-Session-Id is sent back on every later request, and
// MCP-Protocol-Version once initialize is answered; a GET stream (opened right after
// notifications/initialized) carries what the server
// says outside a request when it offers one (405: it does not), reopened when it ends;
// close() DELETEs the session.
//
// libcurl (multi interface): one thread drives every transfer, the connections are kept
// alive and reused, TLS is verified (against ca_file when set) and redirects are not
// followed (the headers must reach no other host). The header lines of each request are
// built when it is sent (remote_headers.hpp: a rotated secret or a refreshed OAuth token is in
// the next request), on the sending thread, never on the transport's (a build may wait for
// an OAuth refresh); the server's stream is reopened from the reader's thread for the same
// reason. They live in guarded memory, are zeroed in every copy keyhold makes and are
// never logged. A request the server refuses with 401 (or 403 insufficient_scope) is
// remembered (with the values it carried) until credentials_refused() asks about it.
//
// Ends (the reader sees the end, every pending request fails) when the server cannot be
// reached, a connection breaks, the session is gone (404) or a message is over
// max_message_bytes. An HTTP error for a request becomes a JSON-RPC error for that id;
// the transport stays.
//
// Thread-safe as ServerTransport says; close() must not run on the transport's thread.
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/status.hpp"
#include "keyhold/vault/secret_buffer.hpp"
#include "mount/remote_headers.hpp"
#include "mount/server_transport.hpp"

struct curl_slist;

namespace keyhold::mount {

struct HttpTransportOptions {
  std::string instance;  // for log lines
  std::string url;       // http:// or https://
  // Builds the header lines of each request (null: none besides the protocol's).
  std::shared_ptr<RequestHeaders> headers;
  // Lines built already (the connect checked the grants with them): the first request
  // carries these instead of a new build.
  std::optional<HeaderLines> first_headers;
  std::string ca_file;  // PEM CA certificates to trust instead of the system's; empty: system
  std::size_t max_message_bytes = 4u << 20;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
};

class HttpTransport final : public ServerTransport {
 public:
  // Prepares the client; nothing is sent yet (the first send() connects).
  static Result<std::unique_ptr<HttpTransport>> open(HttpTransportOptions options);
  ~HttpTransport() override;

  bool send(std::string_view message, std::optional<std::int64_t> request_id,
            std::chrono::milliseconds timeout, const std::string& client_request) override;
  bool receive(std::string* message, std::optional<std::int64_t>* related) override;
  void initialized(const std::string& protocol_version) override;
  std::string close(std::chrono::milliseconds grace) override;
  void abort() override;
  bool session_lost() const override;
  Status credentials_refused(std::int64_t id, bool retried) override;

  // Refused requests remembered for credentials_refused(), at most (older ones go).
  static constexpr std::size_t kMaxRefusedKept = 64;

  // The URL without user info, path or query: what logs and errors name.
  static std::string origin_of(const std::string& url);

 private:
  struct Transfer;
  explicit HttpTransport(HttpTransportOptions options);

  void run();  // the transport's thread
  void start_transfer(std::unique_ptr<Transfer> t);
  void finish(Transfer* t, int result);
  // related: the request whose POST answer carried message (none on the GET stream).
  void deliver(std::string message, std::optional<std::int64_t> related = std::nullopt);
  void deliver_error(std::int64_t id, const std::string& message);
  void end(const std::string& reason);
  void open_server_stream();
  // The header list of a new request (curl copies; the caller zeroes it when done), and in
  // *used the lines and secret values built for it. An error names what could not be built.
  // client_request: see ServerTransport::send.
  Result<::curl_slist*> request_headers(bool json_body, HeaderLines* used,
                                        const std::string& client_request);
  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user);
  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user);
  void on_event_data(Transfer* t, std::string data);

  HttpTransportOptions options_;
  std::string origin_;
  void* multi_ = nullptr;  // CURLM*, used on the transport's thread (and wakeup from any)
  std::thread thread_;

  std::mutex close_mutex_;  // one close() at a time
  bool closed_ = false;     // guarded by close_mutex_

  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  // Messages for receive(), each with the request whose answer carried it.
  std::deque<std::pair<std::string, std::optional<std::int64_t>>> incoming_;
  std::vector<std::unique_ptr<Transfer>> to_start_;  // handed to the thread
  std::string session_id_;                           // from the server, may be empty
  std::string protocol_version_;                     // after initialize
  bool ended_ = false;
  bool stopping_ = false;  // the thread exits
  std::string end_reason_;
  std::chrono::steady_clock::time_point reopen_stream_at_{};  // zero: no reopen due
  int stream_failures_ = 0;
  bool session_lost_ = false;
  bool stream_due_ = false;  // open the GET stream with the next send (initialized's)
  std::optional<HeaderLines> first_headers_;  // taken by the first request
  // Requests refused with 401 (or 403 insufficient_scope), oldest first: what they carried
  // and the server's challenge.
  struct Refusal {
    std::int64_t id = 0;
    HeaderLines sent;
    std::string www_authenticate;
    long status = 401;
  };
  std::deque<Refusal> refused_;

  // The transport thread's own.
  std::vector<std::unique_ptr<Transfer>> active_;
};

}  // namespace keyhold::mount
