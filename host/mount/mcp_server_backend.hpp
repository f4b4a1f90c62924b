#pragma once
// A mounted MCP server as a plugin backend: keyhold is the MCP client of a server that
// speaks JSON-RPC over stdio, started as a sandboxed child, or over Streamable HTTP (a
// remote server): the ServerTransport is the only difference (see mount_loader.hpp). The
// server's tools, resources, templates and prompts become the instance's catalog, so the
// registry, the session, the argument guard, the redactor, outputSchema checks, progress
// and cancellation work for it exactly as for a plugin.
//
// Protocol: initialize (declaring sampling and elicitation, which keyhold forwards to its
// own client), notifications/initialized, then every page of each list the server offers.
// call() forwards tools/call, resources/read, resources/(un)subscribe, prompts/get and
// completion/complete as requests; the server's progress for a call reaches the call's
// context; a cancelled call sends notifications/cancelled; the server's sampling,
// elicitation and roots requests go to the client through the context of their call: the
// one whose answer stream carried them (Streamable HTTP), or over stdio, which does not
// say, the one call in flight. They are refused with a JSON-RPC error when there is no
// such call, when several are in flight over stdio (guessing could show one client's
// prompt to another), or when the client lacks the capability. Its log notifications go
// to the host's (redacting) log, and to the client of their call when there is one;
// list_changed re-reads that list and tells the host.
//
// Lifecycle: create() starts the server and completes the handshake. A server that exits,
// crashes, breaks the protocol (a line over max_message_bytes) or stops reading ends only
// itself: its calls in flight get an error, and the next call starts it again with backoff
// (immediately, then 1 s, 2 s, ... up to 30 s; after RestartBudget::kMaxRestarts within 10 minutes
// the instance is failed). destroy() ends the server's whole process group.
//
// Thread-safe: calls run concurrently, multiplexed by JSON-RPC id. Calls in a burst to a
// stdio server wait in no thread (call_async; README "Calls in a burst").
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/log_budget.hpp"
#include "base/status.hpp"
#include "keyhold/vault/secret_buffer.hpp"
#include "loader/plugin_backend.hpp"
#include "loader/restart_budget.hpp"
#include "mount/server_transport.hpp"
#include "secrets/secret_services.hpp"

namespace keyhold::mount {

struct McpServerOptions {
  std::string instance;
  // Opens a new transport to the server at each (re)start: starts the sandboxed child of
  // a stdio server, or prepares the HTTP client of a remote one (its secret-bearing
  // headers built from the grants of now). services may be null (no secrets). Called on
  // the starting thread.
  std::function<Result<std::unique_ptr<ServerTransport>>(secrets::SecretServices* services)>
      connect;
  // A remote server: no restart budget (a server that was down comes back; each call
  // after an end tries to reach it again at once).
  bool remote = false;
  // server.lazy: create() reads the catalog and stops the server; the first call starts it.
  bool lazy = false;
  std::string description = "an MCP server mounted over stdio";  // for `plugins list`
  std::size_t max_message_bytes = 4u << 20;
  std::chrono::milliseconds start_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds call_timeout{std::chrono::minutes(10)};
  // The secret aliases the instance maps (declared with the env operation).
  std::vector<std::string> secret_aliases;
  std::vector<std::string> sandbox_applied;  // what the sandbox policy asks, for `plugins list`
};

class McpServerBackend final : public PluginBackend {
 public:
  // Server-to-client requests handled at once; more are refused with a JSON-RPC error.
  static constexpr int kMaxServerRequests = 16;

  explicit McpServerBackend(McpServerOptions options);
  ~McpServerBackend() override;

  const kh_plugin& definition() const override { return definition_; }
  // "process" for a child, "remote" for a server keyhold reaches over HTTP.
  std::string_view isolation() const override { return options_.remote ? "remote" : "process"; }
  std::vector<std::string> sandbox_applied() const override { return options_.sandbox_applied; }
  // Starts the server (host and name are kept for events); *message says why it failed.
  int32_t create(kh_host* host, std::string_view name, std::string_view options_json,
                 std::string* message) override;
  // The catalog read at the last (re)start or list_changed.
  int32_t describe(std::string* body) override;
  int32_t call(CallContext& ctx, std::string_view method, std::string_view params_json,
               std::string* body) override;
  PluginReply call_json(CallContext& ctx, std::string_view method,
                        const nlohmann::json& params) override;
  // A stdio server's call with nobody waiting for it: the thread that reads the response
  // (most often the connection's reader thread) finishes it, and keeps its cancellation
  // and call_timeout. Only while the server runs and takes the request into its queue
  // without waiting (ServerTransport::queue; in a burst the flush waits for the burst's
  // end, base/send_batch.hpp); false otherwise (call() then starts, waits for or refuses
  // it). A remote server: always false.
  bool call_async(const std::shared_ptr<CallContext>& ctx, std::string_view method,
                  const nlohmann::json& params, CallDone& done) override;
  void destroy() override;

  // The server's process id (0 when none runs), for tests and logs.
  int pid() const;

 private:
  struct Connection;
  struct Pending {
    std::uint64_t connection = 0;
    CallContext* ctx = nullptr;  // null for the host's own requests (initialize, lists)
    bool done = false;
    nlohmann::json response;   // the whole JSON-RPC response, or
    std::string result_text;   // its result's text, when it came plain and text_wanted
    bool text_wanted = false;  // a forwarded call: its result may stay text
    std::string failure;       // set when the connection ended before the response
    int users = 0;             // server requests using ctx right now
    std::chrono::steady_clock::time_point started;
    std::condition_variable ready;
    // A call_async() call: nobody waits on `ready`; `finish` gets the reply once done and no
    // server request uses ctx. It keeps ctx and the connection alive.
    CallDone finish;
    std::shared_ptr<CallContext> owner;
    std::shared_ptr<Connection> async_connection;
    std::string method;      // for the message of its timeout
    bool cancelled = false;  // ended by its cancellation: KH_CANCELLED
  };
  // Starts a server and completes the handshake and the lists; the caller holds
  // start_mutex_.
  Status start();
  Status ensure_running();
  // Sends a request and waits for the response (or the end of the connection, the
  // cancellation of ctx, or timeout). The whole JSON-RPC response; otherwise kCancelled
  // when ctx was cancelled, kIo when the server ended or did not answer in time. A request
  // the server refused for its credentials (HTTP 401) is sent once more when they could be
  // renewed (a refreshed OAuth token), never twice; the error then says what to do.
  // With result_text: a plain response (rpc::plain_response) comes back as its result's
  // text in *result_text, and the response is null.
  Result<nlohmann::json> request(const std::shared_ptr<Connection>& c, const std::string& method,
                                 nlohmann::json params, CallContext* ctx,
                                 std::chrono::milliseconds timeout,
                                 std::string* result_text = nullptr);
  // One attempt of request().
  Result<nlohmann::json> request_once(const std::shared_ptr<Connection>& c,
                                      const std::string& method, nlohmann::json params,
                                      CallContext* ctx, std::chrono::milliseconds timeout,
                                      std::string* result_text);
  // Reads every page of the lists the server's capabilities offer into catalog_.
  Status read_catalog(const std::shared_ptr<Connection>& c);
  Status read_list(const std::shared_ptr<Connection>& c, const char* method, const char* key,
                   nlohmann::json* items);
  // The reader thread of c: it reads every message (HTTP), or only while no request waits
  // (stdio: see Connection's turn); then ends the connection.
  void read_messages(std::shared_ptr<Connection> c);
  // Parses and handles one message of c's server (a malformed one is logged and dropped).
  // related: see ServerTransport::receive.
  void handle_text(const std::shared_ptr<Connection>& c, const std::string& text,
                   std::optional<std::int64_t> related = std::nullopt);
  // Gives up c's reading turn (mutex_ held) and wakes one request of c still waiting,
  // other than self.
  void pass_turn(Connection& c, std::int64_t self);
  void read_diagnostics(std::shared_ptr<Connection> c);
  void handle_message(const std::shared_ptr<Connection>& c, nlohmann::json message,
                      std::optional<std::int64_t> related);
  // Ends the request id of c with its response: the message, or for a call that takes
  // text (Pending::text_wanted) the text of a plain response's result. False, nothing
  // done, when the response is text and the request wants the message; true otherwise
  // (an id that no request of c waits for is dropped).
  bool complete(const std::shared_ptr<Connection>& c, std::int64_t id, nlohmann::json message,
                std::string_view result_text);
  void handle_notification(const std::shared_ptr<Connection>& c, const std::string& method,
                           const nlohmann::json& params, std::optional<std::int64_t> related);
  void handle_server_request(const std::shared_ptr<Connection>& c, nlohmann::json message,
                             std::optional<std::int64_t> related);
  // mutex_ held: how many of c's calls a message of the server may belong to, and in
  // *owner the last of them. Linked (related): 1 when that request is a call in flight,
  // else 0. Unlinked: every call in flight over stdio; none for a remote server (it links
  // what belongs to a call).
  int call_of(const Connection& c, std::optional<std::int64_t> related, std::int64_t* owner) const;
  void on_list_changed(const std::shared_ptr<Connection>& c, int32_t what);
  // Forwards the server's request (id, method, params) to keyhold's client on a thread of
  // its own, which answers the server and gives the call `owner` back (release_user).
  void start_client_request(const std::shared_ptr<Connection>& c, const nlohmann::json& id,
                            const std::string& method, nlohmann::json params, CallContext* ctx,
                            std::int64_t owner);
  // Queues message behind every request queued or being written (a cancellation never
  // overtakes its request), never waiting for the server to read: the reader thread sends
  // with it (answers to the server's requests, cancellations), and a server blocked writing
  // to its stdout is read only by that thread. Without a queue (HTTP), sends it with
  // send_timeout.
  void send_behind_queue(const std::shared_ptr<Connection>& c, const std::string& message,
                         const std::string& client_request,
                         std::chrono::milliseconds send_timeout = std::chrono::milliseconds(500));
  // mutex_ held: moves the async call `id` to *out when it is done and unused.
  void take_finished(std::int64_t id, std::vector<FinishedCall>* out);
  // A server request (or progress, a log line) is done with the call `id`'s ctx; finishes
  // the call if it is an async one waiting only for that.
  void release_user(std::int64_t id);
  // The async calls' cancellation and call_timeout, checked by whoever holds c's turn.
  void check_async_limits(const std::shared_ptr<Connection>& c);
  // Marks c ended and fails its pending requests with reason.
  void end_connection(const std::shared_ptr<Connection>& c, const std::string& reason);

  McpServerOptions options_;
  kh_plugin definition_{};
  std::vector<kh_secret_decl> secret_decls_;

  kh_host* host_ = nullptr;

  std::mutex start_mutex_;  // one start at a time; taken before mutex_
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::shared_ptr<Connection> connection_;  // the current server, or null
  std::uint64_t connection_count_ = 0;
  std::atomic<std::int64_t> next_id_{1};     // taken without mutex_ (call_async)
  std::map<std::int64_t, Pending> pending_;  // by JSON-RPC id
  nlohmann::json catalog_ = nlohmann::json::object();
  nlohmann::json server_capabilities_ = nlohmann::json::object();
  RestartBudget restart_budget_;
  std::string failed_;       // set once the instance has failed for good
  std::string last_end_;     // why the previous server ended
  int server_requests_ = 0;  // threads answering server-to-client requests
  LogBudget refusal_log_;    // a server may send requests at will: their refusals' log lines
  bool destroyed_ = false;
  bool parked_ = false;  // lazy: stopped after create(), until the first call
};

}  // namespace keyhold::mount
