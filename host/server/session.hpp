#pragma once
// One MCP session: lifecycle, version negotiation, the request router and everything a
// plugin asks of the client during a request (logs, progress, sampling, elicitation).
// Transport-agnostic: a transport feeds handle_text() and supplies an Outbound.
#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "base/status.hpp"
#include "loader/host_services.hpp"
#include "loader/registry.hpp"
#include "protocol/json_rpc.hpp"
#include "protocol/params.hpp"
#include "secrets/redactor.hpp"
#include "server/listen_filter.hpp"
#include "server/outbound.hpp"
#include "server/request_state.hpp"

namespace keyhold {

// A URL-mode elicitation (MCP 2025-11-25) the client is asked to open.
struct UrlElicitation {
  std::string elicitation_id;
  std::string url;
  std::string message;
};

struct SessionOptions {
  std::size_t page_size = 100;
  rpc::Limits limits;
  std::string instructions;
  // When set, only tools it accepts (by exposed name) are listed or callable in this
  // session, e.g. the allowlist of the HTTP client's token.
  std::function<bool(std::string_view tool)> tool_allowed;
  // When set, every outgoing message is redacted, and tool arguments carrying a secret
  // or a credential are refused (or redacted) per instance guard mode.
  std::shared_ptr<const secrets::Redactor> redactor;
  // Told about every argument-guard action (for the audit log).
  std::function<void(const PluginInstance& instance, const std::string& request_id,
                     const std::string& detail, bool blocked)>
      on_guard;
  // Every request is a stateless (2026-07-28) one: a Streamable HTTP request that came
  // without a session. Otherwise a request is stateless when its _meta names a revision
  // that needs no initialize.
  bool stateless = false;
  // Seals the requestState of multi round-trip requests. Sessions that may see one
  // client's retries share it; a session without one makes its own.
  std::shared_ptr<const RequestStateSealer> request_state;
  // The authenticated client served (empty without authentication): a requestState opens
  // only for the client it was sealed for.
  std::string client_id;
  // That client's name (its token's name; empty without authentication): the subject
  // whose own tokens a per_user OAuth provider uses in this session's calls.
  std::string client_name;
  // Starts the authorization of per_user OAuth provider for the client
  // (host/oauth/user_authorizations.hpp) when a tool call failed for want of the client's
  // token and the client supports URL-mode elicitation; unset: never offered.
  std::function<Result<UrlElicitation>(const std::string& provider, const std::string& client_id,
                                       const std::string& client_name)>
      begin_authorization;
  // The Mcp-Param-* headers (name -> decoded value) of the one request a stateless HTTP
  // session serves. The argument guard checks them as it checks arguments: a credential
  // must not enter as a header either.
  nlohmann::json param_headers = nlohmann::json::object();
  // Open subscriptions/listen streams one session (a stdio connection) may hold; a listen
  // beyond it is refused. Streamable HTTP gives each listen a session of its own and bounds
  // them per client instead (HttpOptions::max_listens_per_client).
  std::size_t max_listens = 16;
  ListenLimits listen_limits;
};

class Session : public HostServices {
 public:
  // registry, out and pool must outlive the session.
  Session(Registry& registry, Outbound& out, boost::asio::thread_pool& pool,
          SessionOptions options);
  ~Session() override;  // close()s

  // Handles one incoming message text. Returns promptly: plugin work runs on the pool.
  void handle_text(std::string_view text);
  // Handles one parsed message.
  void handle(const nlohmann::json& message);

  // Ends every open subscriptions/listen stream gracefully (end_listens()), cancels every
  // request in flight, fails pending client requests and waits until no work of this
  // session remains on the pool. Idempotent.
  void close();
  // Ends every open subscriptions/listen stream the way the 2026-07-28 revision names for a
  // server's own teardown: each gets its empty, successful result (resultType "complete",
  // _meta carrying the subscription id), after which nothing more is sent for it.
  void end_listens();
  // Open subscriptions/listen streams.
  std::size_t open_listens() const;

  // Session-wide notifications sent by the server (EventHub).
  void notify_list_changed(int32_t what);
  void notify_resource_updated(std::string_view uri);
  // notifications/elicitation/complete: the out-of-band interaction of a URL-mode
  // elicitation this session's client was sent has completed.
  void notify_elicitation_complete(const std::string& elicitation_id);

  bool initialized() const noexcept { return initialized_.load(); }
  std::string protocol_version() const;

  // HostServices (request-bound).
  void plugin_log(const PluginInstance& from, const CallContext* ctx, int32_t level,
                  std::string_view message) override;
  void plugin_progress(CallContext& ctx, double progress, double total,
                       std::string_view message) override;
  void plugin_list_changed(PluginInstance& from, int32_t what) override;
  void plugin_resource_updated(PluginInstance& from, std::string_view uri) override;
  int32_t plugin_client_request(CallContext& ctx, std::string_view method,
                                std::string_view params_json, std::string* out) override;

 private:
  void handle_request(const nlohmann::json& id, const std::string& method,
                      const nlohmann::json& params);
  void handle_notification(const std::string& method, const nlohmann::json& params);
  void handle_response(const nlohmann::json& message);

  // Request handlers, one per method (see the table in handle_request). Each reads its
  // params through protocol/params.hpp and answers every request exactly once.
  void on_initialize(const nlohmann::json& id, const std::string& method,
                     const nlohmann::json& params);
  void on_ping(const nlohmann::json& id, const std::string& method, const nlohmann::json& params);
  void on_list(const nlohmann::json& id, const std::string& method, const nlohmann::json& params);
  void on_call_tool(const nlohmann::json& id, const std::string& method,
                    const nlohmann::json& params);
  void on_set_level(const nlohmann::json& id, const std::string& method,
                    const nlohmann::json& params);
  void on_get_prompt(const nlohmann::json& id, const std::string& method,
                     const nlohmann::json& params);
  void on_resource(const nlohmann::json& id, const std::string& method,
                   const nlohmann::json& params);
  void on_complete(const nlohmann::json& id, const std::string& method,
                   const nlohmann::json& params);
  void on_discover(const nlohmann::json& id, const std::string& method,
                   const nlohmann::json& params);
  void on_listen(const nlohmann::json& id, const std::string& method, const nlohmann::json& params);

  // What one stateless (2026-07-28) request brought and what serving it produced, from its
  // arrival until its response leaves (see finish_stateless).
  struct StatelessScope {
    std::string method;
    std::string target;  // the tool or prompt name or the resource URI; binds requestState
    mcp::StatelessMeta meta;
    nlohmann::json input_responses = nlohmann::json::object();  // this retry's answers
    nlohmann::json earlier_answers = nlohmann::json::object();  // from requestState
    std::mutex mutex;  // guards the fields below, written from the plugin's thread
    int next_input = 0;
    nlohmann::json used_answers = nlohmann::json::object();
    nlohmann::json input_requests = nlohmann::json::object();
    nlohmann::json missing_capabilities = nlohmann::json::object();
  };
  void handle_stateless_request(const nlohmann::json& id, const std::string& method,
                                const nlohmann::json& params);
  std::shared_ptr<StatelessScope> stateless_scope(const nlohmann::json& id);
  // Turns the response to a stateless request into its 2026-07-28 form: an
  // InputRequiredResult when the plugin asked the client something still unanswered,
  // MissingRequiredClientCapability when it failed for want of one, resultType and
  // caching hints on results, -32602 for an unknown resource.
  void finish_stateless(nlohmann::json& message, StatelessScope& scope) const;
  nlohmann::json server_capabilities() const;
  // Runs a client's answer (serialized in *out) through the argument guard of the instance
  // that asked; KH_ERROR with the refusal in *out when it is refused.
  int32_t guard_answer(const CallContext& ctx, std::string_view method, std::string* out);
  int32_t answer_from_input(StatelessScope& scope, std::string_view method, nlohmann::json params,
                            std::string* out);
  // Answers -32602 naming the bad field and returns true when status is not OK.
  bool refuse_invalid(const nlohmann::json& id, const mcp::Status& status);
  void list(const nlohmann::json& id, const nlohmann::json& params, const char* key,
            const nlohmann::json CatalogSnapshot::*items);
  // Hands a request to the plugin on the pool; the answer is sent from there.
  void dispatch(const nlohmann::json& id, PluginInstance* instance, std::string method,
                nlohmann::json params, const mcp::RequestMeta& meta,
                std::shared_ptr<const ToolSchema> output_schema);
  // Everything after a dispatched request's plugin reply (`result`, which may throw): the
  // response, or nothing for a cancelled request, then the request leaves in_flight_.
  void finish_call(CallContext& ctx, const std::string& key, PluginInstance& instance,
                   const std::string& method, const nlohmann::json& params,
                   const ToolSchema* output_schema, const std::function<PluginReply()>& result);
  // The response to a plugin's reply written as text without building a tree, when its
  // result (reply.body) is a JSON object the client may get as it is: a tool result that
  // meets its outputSchema (structuredContent alone checked on a tree) or an error one, no
  // authorization to ask for, no 2026-07-28 fields to add, no line break, and nothing the
  // redactor would change (Redactor::may_change_json_strings). Empty otherwise:
  // response_for() then builds it. Takes reply.body only when it returns text.
  std::string response_text(CallContext& ctx, const std::string& instance_name,
                            const std::string& method, const ToolSchema* output_schema,
                            PluginReply& reply);
  // The JSON-RPC response to a plugin's reply.
  static nlohmann::json response_for(const CallContext& ctx, PluginInstance& instance,
                                     const std::string& method, const nlohmann::json& params,
                                     const ToolSchema* output_schema, PluginReply result);
  // The answer to a tools/call that failed because its client must first authorize the
  // per_user OAuth providers named: -32042 with a URL elicitation per provider when the
  // client supports URL mode, otherwise a tool error naming the CLI login; without an
  // authenticated client, a tool error saying the providers are per_user.
  nlohmann::json authorization_required(const CallContext& ctx,
                                        const std::vector<std::string>& providers);
  bool supports_url_elicitation() const;
  void send_guarded(nlohmann::json message) noexcept;
  void reply(nlohmann::json message, const CallContext* related);
  // Sends through the redactor only. Never called with mutex_ held (nor is reply()).
  void send_redacted(nlohmann::json message, const CallContext* related);
  // One open subscriptions/listen stream (2026-07-28).
  struct Listen {
    nlohmann::json id;  // of the listen request: the subscription id
    ListenFilter filter;
    std::shared_ptr<CallContext> related;  // routes its messages to the listen's stream
  };
  // Sends a change notification on every listen stream whose filter asked for it, tagged
  // with the stream's subscription id. `uri` is the updated resource, or empty.
  void notify_listens(std::string_view method, std::string_view uri);
  // Tells the instances serving a closed listen's resources that it no longer watches them.
  void unsubscribe_resources(const Listen& listen);
  // Runs resources/subscribe or resources/unsubscribe at the instance serving `uri`, on the
  // pool, for the host's own bookkeeping: nothing of that call reaches the client.
  void forward_subscription(const char* method, const std::string& uri);
  // The argument guard: false when the request was answered (refused) here: a tool call
  // with an isError result, any other request (as_error) with an invalid-params error.
  bool guard_arguments(const nlohmann::json& id, PluginInstance& instance,
                       nlohmann::json* arguments, bool as_error = false);

  Registry& registry_;
  Outbound& out_;
  boost::asio::thread_pool& pool_;
  SessionOptions options_;

  std::atomic<bool> initialize_answered_{false};
  std::atomic<bool> initialized_{false};
  std::atomic<bool> closing_{false};
  // KH_LOG_*. Until the client sends logging/setLevel only warnings and worse reach it:
  // the spec leaves the default to the server, and a notification per call that nobody
  // asked for costs the client a wake-up (issue 21). Every line still reaches the log.
  std::atomic<int> min_log_level_{KH_LOG_WARNING};

  mutable std::mutex mutex_;
  std::string protocol_version_;
  nlohmann::json client_capabilities_ = nlohmann::json::object();
  std::map<std::string, std::shared_ptr<CallContext>> in_flight_;  // by rpc::id_key
  std::size_t busy_ = 0;
  std::condition_variable idle_;
  std::map<std::string, std::promise<nlohmann::json>> pending_client_;  // by request id
  std::uint64_t next_client_id_ = 1;
  std::set<std::string> subscriptions_;
  std::map<std::string, std::shared_ptr<StatelessScope>> stateless_;  // by rpc::id_key

  // Held while a listen stream's message is sent, so its acknowledgement is the first and
  // nothing follows its teardown. Never taken with mutex_ held (reply() takes mutex_).
  mutable std::mutex listen_mutex_;
  std::map<std::string, Listen> listens_;  // by rpc::id_key of the listen request
};

// Writes a plugin's log line to the host's stderr log.
void log_plugin_line(std::string_view instance, int32_t level, std::string_view message);
// Whether the host's stderr log takes a plugin's line at this KH_LOG_* level.
bool plugin_level_logged(int32_t level);
// Whether the instance may log one more line now (its LogBudget); when lines were dropped
// before this one, the host log says how many first.
bool admit_plugin_line(const PluginInstance& from);

}  // namespace keyhold
