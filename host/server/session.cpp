#include "server/session.hpp"

#include <sodium.h>

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <optional>
#include <typeinfo>
#include <unordered_map>

#include "protocol/json_parse.hpp"
#include "protocol/pagination.hpp"
#include "protocol/params.hpp"
#include "protocol/versions.hpp"
#include "server/inline_calls.hpp"

namespace keyhold {

using nlohmann::json;

namespace {
spdlog::level::level_enum spd_level(int32_t level) {
  switch (level) {
    case KH_LOG_DEBUG:
      return spdlog::level::debug;
    case KH_LOG_INFO:
    case KH_LOG_NOTICE:
      return spdlog::level::info;
    case KH_LOG_WARNING:
      return spdlog::level::warn;
    case KH_LOG_ERROR:
      return spdlog::level::err;
    default:
      return spdlog::level::critical;
  }
}

json server_info() {
  return {{"name", "keyhold"}, {"title", "keyhold"}, {"version", KEYHOLD_VERSION}};
}

// How long a client may reuse a list or discover result without asking again. Lists change
// when an instance reloads; a client that holds no subscriptions/listen stream learns of it
// only by asking again.
constexpr int kListTtlMs = 60'000;

// The _meta key that ties a message to the subscriptions/listen stream it belongs to.
constexpr const char* kSubscriptionId = "io.modelcontextprotocol/subscriptionId";

// A call the host makes on its own behalf (a listen's resources/subscribe), not for a
// client request: its request id is an object, which no JSON-RPC id can be, and nothing it
// produces (logs, progress, client requests) is sent to the client.
const json& host_call_id() {
  static const json id = {{"keyhold", "host"}};
  return id;
}
bool is_host_call(const CallContext& ctx) { return ctx.request_id.is_object(); }

const json& params_object(const json& message) {
  static const json empty = json::object();
  auto it = message.find("params");
  return (it != message.end() && it->is_object()) ? *it : empty;
}

}  // namespace

void log_plugin_line(std::string_view instance, int32_t level, std::string_view message) {
  spdlog::log(spd_level(level), "[{}] {}", instance, message);
}

bool plugin_level_logged(int32_t level) { return spdlog::should_log(spd_level(level)); }

bool admit_plugin_line(const PluginInstance& from) {
  return from.log_budget().admit_line(from.name(), "log lines");
}

Session::Session(Registry& registry, Outbound& out, boost::asio::thread_pool& pool,
                 SessionOptions options)
    : registry_(registry), out_(out), pool_(pool), options_(std::move(options)) {
  if (!options_.request_state) options_.request_state = std::make_shared<RequestStateSealer>();
}

Session::~Session() { close(); }

std::string Session::protocol_version() const {
  std::lock_guard lock(mutex_);
  return protocol_version_;
}

void Session::send_redacted(json message, const CallContext* related) {
  if (options_.redactor) options_.redactor->redact_json(message);
  out_.send(message, related);
}

void Session::reply(json message, const CallContext* related) {
  if (message.contains("id") && !message.contains("method")) {
    if (auto scope = stateless_scope(message["id"])) {
      {
        std::lock_guard lock(mutex_);
        stateless_.erase(rpc::id_key(message["id"]));
      }
      finish_stateless(message, *scope);
    }
  }
  send_redacted(std::move(message), related);
}

bool Session::guard_arguments(const json& id, PluginInstance& instance, json* arguments,
                              bool as_error) {
  if (!options_.redactor) return true;
  const auto verdict = secrets::guard_arguments(*options_.redactor, instance.guard(), *arguments);
  if (verdict.findings.empty()) return true;
  if (options_.on_guard)
    options_.on_guard(instance, id.dump(), verdict.findings.front(), verdict.refused);
  if (!verdict.refused) return true;
  if (as_error) {
    reply(rpc::make_error(id, rpc::kInvalidParams, verdict.refusal()), nullptr);
    return false;
  }
  reply(
      rpc::make_result(
          id, json{{"content", json::array({json{{"type", "text"}, {"text", verdict.refusal()}}})},
                   {"isError", true}}),
      nullptr);
  return false;
}

void Session::handle_text(std::string_view text) {
  json error;
  auto message = rpc::parse_message(text, options_.limits, &error);
  if (!message) {
    send_guarded(std::move(error));
    return;
  }
  handle(*message);
}

// Sends a message built for a failure, swallowing a second failure: the dispatch
// boundary must never throw.
void Session::send_guarded(json message) noexcept {
  try {
    reply(std::move(message), nullptr);
  } catch (...) {
    spdlog::error("could not send an error response to the client");
  }
}

void Session::handle(const json& message) {
  std::string why;
  json id;
  std::string method;
  rpc::Kind kind = rpc::Kind::kInvalid;
  try {
    kind = rpc::classify(message, &why, &id);
    switch (kind) {
      case rpc::Kind::kInvalid:
        send_guarded(rpc::make_error(id, rpc::kInvalidRequest, "invalid request: " + why));
        return;
      case rpc::Kind::kResponse:
        handle_response(message);
        return;
      case rpc::Kind::kNotification:
        method = message["method"].get_ref<const std::string&>();
        handle_notification(method, params_object(message));
        return;
      case rpc::Kind::kRequest:
        method = message["method"].get_ref<const std::string&>();
        handle_request(id, method, params_object(message));
        return;
    }
  } catch (const std::exception& e) {
    // A bug: no handler may throw on client data. Logged without e.what(), which may
    // quote the client's bytes; answered without detail.
    spdlog::error("internal error handling '{}' ({}); the session goes on", method,
                  typeid(e).name());
  } catch (...) {
    spdlog::error("internal error handling '{}' (unknown exception); the session goes on", method);
  }
  if (kind == rpc::Kind::kRequest)
    send_guarded(rpc::make_error(id, rpc::kInternalError, "internal error"));
}

void Session::handle_notification(const std::string& method, const json& params) {
  if (method == "notifications/initialized") {
    initialized_ = true;
  } else if (method == "notifications/cancelled") {
    auto cancelled = mcp::parse_cancelled(params);
    if (!cancelled.is_ok()) return;  // a notification gets no answer, even when malformed
    // A subscriptions/listen stream ends with its cancellation (how stdio closes one):
    // nothing more is sent for it, not even a response.
    const std::string key = rpc::id_key(cancelled->request_id);
    std::optional<Listen> ended;
    {
      std::lock_guard lock(listen_mutex_);
      if (auto it = listens_.find(key); it != listens_.end()) {
        ended = std::move(it->second);
        listens_.erase(it);
      }
    }
    if (ended) {
      {
        std::lock_guard lock(mutex_);
        stateless_.erase(key);
      }
      out_.abandoned(*ended->related);
      unsubscribe_resources(*ended);
      return;
    }
    std::lock_guard lock(mutex_);
    if (auto call = in_flight_.find(rpc::id_key(cancelled->request_id)); call != in_flight_.end())
      call->second->cancelled = true;
  }
  // Other notifications (roots/list_changed, progress for our requests) need no action.
}

void Session::handle_response(const json& message) {
  std::promise<json> waiter;
  {
    std::lock_guard lock(mutex_);
    auto it = pending_client_.find(rpc::id_key(message["id"]));
    if (it == pending_client_.end()) return;  // late or unknown: nobody waits
    waiter = std::move(it->second);
    pending_client_.erase(it);
  }
  waiter.set_value(message);
}

namespace {
struct MethodEntry {
  void (Session::*handler)(const json& id, const std::string& method, const json& params);
  bool needs_initialize;
};
}  // namespace

void Session::handle_request(const json& id, const std::string& method, const json& params) {
  if (options_.stateless) return handle_stateless_request(id, method, params);
  if (auto version = mcp::requested_version(params);
      version && !mcp::is_supported_version(*version))
    return handle_stateless_request(id, method, params);
  static const std::unordered_map<std::string_view, MethodEntry> kMethods = {
      {"initialize", {&Session::on_initialize, false}},
      {"ping", {&Session::on_ping, false}},
      {"tools/list", {&Session::on_list, true}},
      {"prompts/list", {&Session::on_list, true}},
      {"resources/list", {&Session::on_list, true}},
      {"resources/templates/list", {&Session::on_list, true}},
      {"tools/call", {&Session::on_call_tool, true}},
      {"logging/setLevel", {&Session::on_set_level, true}},
      {"prompts/get", {&Session::on_get_prompt, true}},
      {"resources/read", {&Session::on_resource, true}},
      {"resources/subscribe", {&Session::on_resource, true}},
      {"resources/unsubscribe", {&Session::on_resource, true}},
      {"completion/complete", {&Session::on_complete, true}},
  };
  auto entry = kMethods.find(method);
  if (entry != kMethods.end() && entry->second.needs_initialize && !initialize_answered_) {
    reply(rpc::make_error(id, rpc::kInvalidRequest,
                          "session not initialized: send \"initialize\" first"),
          nullptr);
    return;
  }
  if (entry == kMethods.end()) {
    if (!initialize_answered_) {
      reply(rpc::make_error(id, rpc::kInvalidRequest,
                            "session not initialized: send \"initialize\" first"),
            nullptr);
    } else {
      reply(rpc::make_error(id, rpc::kMethodNotFound, "method not found: " + method), nullptr);
    }
    return;
  }
  (this->*entry->second.handler)(id, method, params);
}

bool Session::refuse_invalid(const json& id, const mcp::Status& status) {
  if (status.is_ok()) return false;
  reply(rpc::make_error(id, rpc::kInvalidParams, "invalid params: " + status.message()), nullptr);
  return true;
}

void Session::on_initialize(const json& id, const std::string&, const json& params) {
  auto parsed = mcp::parse_initialize(params);
  if (refuse_invalid(id, parsed.status())) return;  // a failed initialize may be retried
  if (initialize_answered_.exchange(true)) {
    reply(rpc::make_error(id, rpc::kInvalidRequest, "session is already initialized"), nullptr);
    return;
  }
  const std::string version = mcp::negotiate_version(parsed->protocol_version);
  {
    std::lock_guard lock(mutex_);
    protocol_version_ = version;
    client_capabilities_ = std::move(parsed->capabilities);
  }
  json result{
      {"protocolVersion", version},
      {"capabilities", server_capabilities()},
      {"serverInfo", server_info()},
  };
  if (!options_.instructions.empty()) result["instructions"] = options_.instructions;
  reply(rpc::make_result(id, std::move(result)), nullptr);
}

json Session::server_capabilities() const {
  // The same for both eras: a 2025-11-25 session gets change notifications unsolicited
  // (resources/subscribe for updates), a 2026-07-28 client opts in per subscriptions/listen
  // stream; either way every list change and resource update is delivered.
  return {{"logging", json::object()},
          {"completions", json::object()},
          {"prompts", {{"listChanged", true}}},
          {"resources", {{"subscribe", true}, {"listChanged", true}}},
          {"tools", {{"listChanged", true}}}};
}

void Session::on_discover(const json& id, const std::string&, const json&) {
  json result{{"supportedVersions", json::array()}, {"capabilities", server_capabilities()}};
  for (auto version : mcp::kAllVersions) result["supportedVersions"].push_back(version);
  if (!options_.instructions.empty()) result["instructions"] = options_.instructions;
  reply(rpc::make_result(id, std::move(result)), nullptr);
}

std::shared_ptr<Session::StatelessScope> Session::stateless_scope(const json& id) {
  std::lock_guard lock(mutex_);
  auto it = stateless_.find(rpc::id_key(id));
  return it == stateless_.end() ? nullptr : it->second;
}

void Session::handle_stateless_request(const json& id, const std::string& method,
                                       const json& params) {
  using Handler = void (Session::*)(const json&, const std::string&, const json&);
  static const std::unordered_map<std::string_view, Handler> kMethods = {
      {"server/discover", &Session::on_discover},
      {"tools/list", &Session::on_list},
      {"prompts/list", &Session::on_list},
      {"resources/list", &Session::on_list},
      {"resources/templates/list", &Session::on_list},
      {"tools/call", &Session::on_call_tool},
      {"prompts/get", &Session::on_get_prompt},
      {"resources/read", &Session::on_resource},
      {"completion/complete", &Session::on_complete},
      {"subscriptions/listen", &Session::on_listen},
  };
  auto meta = mcp::parse_stateless_meta(params);
  if (refuse_invalid(id, meta.status())) return;
  if (!mcp::is_stateless_version(meta->protocol_version)) {
    json supported = json::array();
    for (auto version : mcp::kAllVersions) supported.push_back(version);
    reply(rpc::make_error(
              id, rpc::kUnsupportedProtocolVersion,
              "unsupported protocol version " + meta->protocol_version +
                  ": use 2026-07-28 per request, or initialize for an older one",
              json{{"supported", std::move(supported)}, {"requested", meta->protocol_version}}),
          nullptr);
    return;
  }
  auto entry = kMethods.find(method);
  if (entry == kMethods.end()) {
    reply(rpc::make_error(id, rpc::kMethodNotFound,
                          "method not found: " + method + " (not part of MCP 2026-07-28)"),
          nullptr);
    return;
  }
  auto input = mcp::parse_input_params(params);
  if (refuse_invalid(id, input.status())) return;
  auto scope = std::make_shared<StatelessScope>();
  scope->method = method;
  for (const char* field : {"name", "uri"})
    if (auto it = params.find(field); it != params.end() && it->is_string())
      scope->target = it->get<std::string>();
  scope->meta = std::move(meta.value());
  scope->input_responses = std::move(input->input_responses);
  if (input->request_state) {
    auto state = options_.request_state->open(*input->request_state);
    if (!state.is_ok()) {
      reply(rpc::make_error(id, rpc::kInvalidParams, "invalid params: " + state.status().message()),
            nullptr);
      return;
    }
    const json& opened = state.value();
    if (!opened.is_object() || opened.value("m", json()) != method ||
        opened.value("n", json()) != scope->target ||
        opened.value("c", json()) != options_.client_id || !opened.contains("a") ||
        !opened["a"].is_object()) {
      reply(rpc::make_error(id, rpc::kInvalidParams,
                            "invalid params: requestState belongs to another request"),
            nullptr);
      return;
    }
    scope->earlier_answers = opened["a"];
  }
  bool duplicate = false;
  {
    std::lock_guard lock(mutex_);
    duplicate = !stateless_.emplace(rpc::id_key(id), scope).second;
  }
  if (duplicate) {
    // Another request with this id is being served: answering both would give the client
    // two responses with one id. Sent past reply(), which would finish the other's scope.
    send_redacted(rpc::make_error(id, rpc::kInvalidRequest,
                                  "invalid request: a request with this id is already in flight"),
                  nullptr);
    return;
  }
  (this->*entry->second)(id, method, params);
}

namespace {
bool failed(const json& message) {
  auto result = message.find("result");
  if (result == message.end() || !result->is_object()) return true;
  auto is_error = result->find("isError");
  return is_error != result->end() && is_error->is_boolean() && is_error->get<bool>();
}

bool cacheable(std::string_view method) {
  return method == "tools/list" || method == "prompts/list" || method == "resources/list" ||
         method == "resources/templates/list" || method == "resources/read" ||
         method == "server/discover";
}

// How long a requestState opens: a person answering an elicitation may take a while.
constexpr std::int64_t kRequestStateLifetimeSeconds = 30 * 60;
}  // namespace

void Session::finish_stateless(json& message, StatelessScope& scope) const {
  const json id = message["id"];
  {
    std::lock_guard lock(scope.mutex);
    if (!scope.input_requests.empty()) {
      json answers = scope.earlier_answers;
      answers.update(scope.used_answers);
      const json state{{"m", scope.method},
                       {"n", scope.target},
                       {"c", options_.client_id},
                       {"a", std::move(answers)}};
      message = rpc::make_result(
          id, {{"inputRequests", scope.input_requests},
               {"requestState", options_.request_state->seal(state, kRequestStateLifetimeSeconds)},
               {"resultType", "input_required"}});
    } else if (!scope.missing_capabilities.empty() && failed(message)) {
      std::string names;
      for (const auto& [name, value] : scope.missing_capabilities.items())
        names += (names.empty() ? "" : ", ") + name;
      message = rpc::make_error(id, rpc::kMissingRequiredClientCapability,
                                "this request needs client capabilities the request did not "
                                "declare in io.modelcontextprotocol/clientCapabilities: " +
                                    names,
                                json{{"requiredCapabilities", scope.missing_capabilities}});
    }
  }
  if (auto error = message.find("error"); error != message.end()) {
    if (error->value("code", 0) == rpc::kResourceNotFound) (*error)["code"] = rpc::kInvalidParams;
    return;
  }
  json& result = message["result"];
  if (!result.contains("resultType")) result["resultType"] = "complete";
  if (result["resultType"] == "complete" && cacheable(scope.method)) {
    // A resource's contents may come from an instance's credentials: never shared caches.
    // A list is the same for every client unless a token's allowlist filters it.
    const bool per_client = scope.method == "resources/read" || options_.tool_allowed != nullptr;
    result["ttlMs"] = scope.method == "resources/read" ? 0 : kListTtlMs;
    result["cacheScope"] = per_client ? "private" : "public";
  }
  if (!result["_meta"].is_object()) result["_meta"] = json::object();
  result["_meta"]["io.modelcontextprotocol/serverInfo"] = server_info();
}

void Session::on_ping(const json& id, const std::string&, const json&) {
  reply(rpc::make_result(id, json::object()), nullptr);
}

void Session::on_set_level(const json& id, const std::string&, const json& params) {
  auto parsed = mcp::parse_set_level(params);
  if (refuse_invalid(id, parsed.status())) return;
  min_log_level_ = parsed->level;
  reply(rpc::make_result(id, json::object()), nullptr);
}

void Session::on_get_prompt(const json& id, const std::string& method, const json& params) {
  auto parsed = mcp::parse_get_prompt(params);
  if (refuse_invalid(id, parsed.status())) return;
  auto meta = mcp::parse_meta(params);
  if (refuse_invalid(id, meta.status())) return;
  auto snap = registry_.snapshot();
  auto it = snap->prompt_by_name.find(parsed->name);
  if (it == snap->prompt_by_name.end()) {
    reply(rpc::make_error(id, rpc::kInvalidParams, "unknown prompt: " + parsed->name), nullptr);
    return;
  }
  // Prompt arguments reach the plugin as tool arguments do: through the guard.
  json forwarded = params;
  if (!guard_arguments(id, *it->second.instance, &forwarded, /*as_error=*/true)) return;
  forwarded["name"] = it->second.plugin_name;
  dispatch(id, it->second.instance, method, std::move(forwarded), meta.value(), nullptr);
}

void Session::on_resource(const json& id, const std::string& method, const json& params) {
  auto parsed = mcp::parse_resource(params);
  if (refuse_invalid(id, parsed.status())) return;
  auto meta = mcp::parse_meta(params);
  if (refuse_invalid(id, meta.status())) return;
  PluginInstance* owner = registry_.resource_owner(parsed->uri);
  if (owner == nullptr) {
    reply(rpc::make_error(id, rpc::kResourceNotFound, "resource not found: " + parsed->uri,
                          json{{"uri", parsed->uri}}),
          nullptr);
    return;
  }
  json forwarded = params;  // a URI is an argument too
  if (!guard_arguments(id, *owner, &forwarded, /*as_error=*/true)) return;
  if (method != "resources/read") {
    std::lock_guard lock(mutex_);
    if (method == "resources/subscribe")
      subscriptions_.insert(parsed->uri);
    else
      subscriptions_.erase(parsed->uri);
  }
  dispatch(id, owner, method, std::move(forwarded), meta.value(), nullptr);
}

void Session::on_complete(const json& id, const std::string& method, const json& params) {
  auto parsed = mcp::parse_complete(params);
  if (refuse_invalid(id, parsed.status())) return;
  auto meta = mcp::parse_meta(params);
  if (refuse_invalid(id, meta.status())) return;
  json forwarded = params;
  PluginInstance* owner = nullptr;
  if (parsed->ref_kind == mcp::CompleteParams::RefKind::kPrompt) {
    auto snap = registry_.snapshot();
    auto it = snap->prompt_by_name.find(parsed->ref_target);
    if (it != snap->prompt_by_name.end()) {
      owner = it->second.instance;
      forwarded["ref"]["name"] = it->second.plugin_name;
    }
  } else {
    owner = registry_.resource_owner(parsed->ref_target);
  }
  if (owner == nullptr) {
    reply(rpc::make_error(id, rpc::kInvalidParams,
                          "completion/complete: unknown prompt or resource reference"),
          nullptr);
    return;
  }
  if (!guard_arguments(id, *owner, &forwarded, /*as_error=*/true)) return;
  dispatch(id, owner, method, std::move(forwarded), meta.value(), nullptr);
}

void Session::on_list(const json& id, const std::string& method, const json& params) {
  if (method == "tools/list") return list(id, params, "tools", &CatalogSnapshot::tools);
  if (method == "prompts/list") return list(id, params, "prompts", &CatalogSnapshot::prompts);
  if (method == "resources/list") return list(id, params, "resources", &CatalogSnapshot::resources);
  list(id, params, "resourceTemplates", &CatalogSnapshot::resource_templates);
}

void Session::list(const json& id, const json& params, const char* key,
                   const json CatalogSnapshot::*items) {
  auto parsed = mcp::parse_list(params);
  if (refuse_invalid(id, parsed.status())) return;
  std::optional<std::string_view> cursor;
  if (parsed->cursor) cursor = *parsed->cursor;
  auto snap = registry_.snapshot();
  const json* all = &((*snap).*items);
  json allowed;
  if (options_.tool_allowed && items == &CatalogSnapshot::tools) {
    allowed = json::array();
    for (const auto& tool : *all)
      if (options_.tool_allowed(tool["name"].get_ref<const std::string&>()))
        allowed.push_back(tool);
    all = &allowed;
  }
  auto page = mcp::paginate(*all, key, cursor, options_.page_size);
  if (!page) {
    reply(rpc::make_error(id, rpc::kInvalidParams, "invalid cursor"), nullptr);
    return;
  }
  json result{{key, std::move(page->items)}};
  if (page->next_cursor) result["nextCursor"] = *page->next_cursor;
  reply(rpc::make_result(id, std::move(result)), nullptr);
}

void Session::on_call_tool(const json& id, const std::string&, const json& params) {
  auto parsed = mcp::parse_call_tool(params);
  if (refuse_invalid(id, parsed.status())) return;
  auto meta = mcp::parse_meta(params);
  if (refuse_invalid(id, meta.status())) return;
  const std::string& name = parsed->name;
  auto snap = registry_.snapshot();
  auto it = snap->tool_by_name.find(name);
  if (it == snap->tool_by_name.end() || (options_.tool_allowed && !options_.tool_allowed(name))) {
    reply(rpc::make_error(id, rpc::kInvalidParams, "unknown tool: " + name), nullptr);
    return;
  }
  json& arguments = parsed->arguments;
  if (auto problem = it->second.input_schema->validate(arguments)) {
    json result{{"content",
                 json::array({json{{"type", "text"}, {"text", "invalid arguments: " + *problem}}})},
                {"isError", true}};
    reply(rpc::make_result(id, std::move(result)), nullptr);
    return;
  }
  if (!guard_arguments(id, *it->second.instance, &arguments)) return;
  if (!options_.param_headers.empty()) {
    json headers = options_.param_headers;
    if (!guard_arguments(id, *it->second.instance, &headers)) return;
  }
  // The client's params with the plugin's tool name and the checked arguments (moved, not
  // copied a second time with the rest).
  json forwarded = json::object();
  for (auto member = params.begin(); member != params.end(); ++member)
    if (member.key() != "arguments") forwarded[member.key()] = *member;
  forwarded["name"] = it->second.plugin_name;
  forwarded["arguments"] = std::move(arguments);
  dispatch(id, it->second.instance, "tools/call", std::move(forwarded), meta.value(),
           it->second.output_schema);
}

namespace {
json tool_error(std::string text) {
  return json{{"content", json::array({json{{"type", "text"}, {"text", std::move(text)}}})},
              {"isError", true}};
}

// Why a tools/call result breaks the tool's declared outputSchema, or nothing when it
// passes: the spec requires structured results that conform, so a plugin's nonconforming
// result (say a sum that overflowed to null) becomes a tool error instead of reaching the
// client. An error result (isError true) passes as it is. The one rule for both paths:
// the tree (checked_tool_result) and the text (Session::response_text).
std::optional<std::string> output_problem(const ToolSchema& output_schema, bool is_error,
                                          const json* structured, const std::string& instance) {
  if (is_error) return std::nullopt;
  if (structured == nullptr)
    return "plugin '" + instance +
           "' declared an outputSchema for this tool but returned no structuredContent";
  if (auto problem = output_schema.validate(*structured))
    return "plugin '" + instance +
           "' returned a result that does not conform to the tool's outputSchema: " + *problem;
  return std::nullopt;
}

json checked_tool_result(json body, const ToolSchema* output_schema, const std::string& instance) {
  if (output_schema == nullptr) return body;
  const auto is_error = body.find("isError");
  const auto structured = body.find("structuredContent");
  if (auto problem = output_problem(
          *output_schema, is_error != body.end() && is_error->is_boolean() && is_error->get<bool>(),
          structured != body.end() ? &*structured : nullptr, instance))
    return tool_error(std::move(*problem));
  return body;
}
}  // namespace

std::string Session::response_text(CallContext& ctx, const std::string& instance_name,
                                   const std::string& method, const ToolSchema* output_schema,
                                   PluginReply& reply) {
  if (reply.status != KH_OK || reply.result.is_object() || reply.body.empty()) return {};
  const bool tool_call = method == "tools/call";
  if (tool_call && !ctx.oauth_user.providers_to_authorize().empty()) return {};
  // A raw line break (whitespace between tokens) would end a stdio message early.
  if (reply.body.find_first_of("\n\r") != std::string::npos) return {};
  // What the redactor reads, kept by the thread between calls and wiped after each.
  thread_local rpc::JsonStrings strings;
  struct Wipe {
    rpc::JsonStrings& s;
    ~Wipe() {
      sodium_memzero(s.text.data(), s.text.size());
      s.text.clear();
      s.blob = false;
      if (s.text.capacity() > (std::size_t{1} << 20)) std::string().swap(s.text);
    }
  } wipe{strings};
  // Room for all of it at once: a string decoded, with its newline, is never longer than
  // it was quoted, so the buffer never moves (a move would leave a copy unwiped).
  strings.text.reserve(
      reply.body.size() + 1 +
      (ctx.request_id.is_string() ? ctx.request_id.get_ref<const std::string&>().size() : 0));
  rpc::JsonStrings* wanted = options_.redactor ? &strings : nullptr;
  // With an outputSchema, structuredContent alone becomes a tree, for the check below.
  rpc::ToolResultMembers members;
  rpc::ToolResultMembers* checked = tool_call && output_schema != nullptr ? &members : nullptr;
  if (stateless_scope(ctx.request_id) ||
      !rpc::is_json_object_text(reply.body, rpc::kMaxPluginJsonDepth, wanted, checked))
    return {};
  if (options_.redactor) {
    if (strings.blob) return {};       // redact_json decodes it
    if (ctx.request_id.is_string()) {  // the response carries it too
      strings.text += ctx.request_id.get_ref<const std::string&>();
      strings.text += '\n';
    }
    if (options_.redactor->may_change_json_strings(strings.text)) return {};
  }
  // What checked_tool_result lets through unchanged (the redactor changes nothing in it);
  // anything else becomes a tool error there.
  if (checked != nullptr &&
      output_problem(*output_schema, members.is_error,
                     members.structured ? &*members.structured : nullptr, instance_name))
    return {};
  static constexpr std::string_view kHead = R"({"jsonrpc":"2.0","id":)";
  const std::string id = rpc::serialize(ctx.request_id);
  std::string text;
  text.reserve(kHead.size() + id.size() + reply.body.size() + 12);
  text.append(kHead).append(id).append(",\"result\":").append(reply.body).push_back('}');
  reply.body.clear();
  return text;
}

json Session::response_for(const CallContext& ctx, PluginInstance& instance,
                           const std::string& method, const json& params,
                           const ToolSchema* output_schema, PluginReply result) {
  const json& id = ctx.request_id;
  switch (result.status) {
    case KH_OK: {
      json body = result.result.is_object()
                      ? std::move(result.result)
                      : rpc::parse_json(result.body, rpc::kMaxPluginJsonDepth);
      if (body.is_discarded() || !body.is_object())
        return rpc::make_error(id, rpc::kInternalError,
                               "plugin '" + instance.name() +
                                   "' returned an invalid result (not a JSON object, or nested "
                                   "deeper than " +
                                   std::to_string(rpc::kMaxPluginJsonDepth) + " levels)");
      if (method == "tools/call")
        body = checked_tool_result(std::move(body), output_schema, instance.name());
      return rpc::make_result(id, std::move(body));
    }
    case KH_NOT_FOUND:
      if (method.starts_with("resources/")) {
        auto uri = params.find("uri");
        return rpc::make_error(id, rpc::kResourceNotFound, result.body,
                               json{{"uri", uri != params.end() ? *uri : json("")}});
      }
      return rpc::make_error(id, rpc::kInvalidParams, result.body);
    case KH_INVALID_ARGUMENT:
      return rpc::make_error(id, rpc::kInvalidParams, result.body);
    case KH_UNSUPPORTED:
      return rpc::make_error(id, rpc::kMethodNotFound, method + " is not supported by this plugin");
    case KH_CANCELLED:
      return rpc::make_error(id, rpc::kInternalError, "request cancelled");
    default:
      if (method == "tools/call") return rpc::make_result(id, tool_error(std::move(result.body)));
      return rpc::make_error(id, rpc::kInternalError, result.body);
  }
}

void Session::finish_call(CallContext& ctx, const std::string& key, PluginInstance& instance,
                          const std::string& method, const json& params,
                          const ToolSchema* output_schema,
                          const std::function<PluginReply()>& result) {
  json response;
  std::string text;  // the response written as text, when it needs no tree
  try {
    PluginReply reply = result();
    text = response_text(ctx, instance.name(), method, output_schema, reply);
    if (text.empty()) {
      response = response_for(ctx, instance, method, params, output_schema, std::move(reply));
      if (auto providers = ctx.oauth_user.providers_to_authorize();
          !providers.empty() && method == "tools/call")
        response = authorization_required(ctx, providers);
    }
  } catch (const std::exception& e) {
    spdlog::error("internal error serving '{}' of instance '{}' ({})", method, instance.name(),
                  typeid(e).name());
    response = rpc::make_error(ctx.request_id, rpc::kInternalError, "internal error");
  } catch (...) {
    spdlog::error("internal error serving '{}' of instance '{}'", method, instance.name());
    response = rpc::make_error(ctx.request_id, rpc::kInternalError, "internal error");
  }
  bool cancelled;
  {
    std::lock_guard lock(mutex_);
    in_flight_.erase(key);
    cancelled = ctx.cancelled;  // final: a cancellation sets it only while in in_flight_
    // A cancelled request gets no response, so reply() does not end its stateless scope:
    // ended here, or the id stayed taken (and its scope held) for the session's life.
    if (cancelled) stateless_.erase(key);
  }
  // A cancelled request gets no response (the client has forgotten it).
  try {
    if (cancelled)
      out_.abandoned(ctx);
    else if (!text.empty())
      out_.send_response_text(std::move(text), ctx);
    else
      reply(std::move(response), &ctx);
  } catch (...) {
    spdlog::error("could not send the response to '{}' of instance '{}'", method, instance.name());
  }
  std::lock_guard lock(mutex_);
  if (--busy_ == 0) idle_.notify_all();
}

void Session::dispatch(const json& id, PluginInstance* instance, std::string method, json params,
                       const mcp::RequestMeta& meta,
                       std::shared_ptr<const ToolSchema> output_schema) {
  if (stateless_scope(id)) {
    // The multi round-trip fields are the host's business; the plugin sees its params.
    params.erase("inputResponses");
    params.erase("requestState");
  }
  auto ctx = std::make_shared<CallContext>();
  ctx->request_id = id;
  ctx->services = this;
  ctx->instance = instance;
  ctx->progress_token = meta.progress_token;
  ctx->oauth_user.subject = options_.client_name;
  const std::string key = rpc::id_key(id);
  json refusal;        // sent after the lock is released: reply() takes it too
  bool alone = false;  // no other call of this session is in flight
  {
    std::lock_guard lock(mutex_);
    if (closing_) {
      refusal = rpc::make_error(id, rpc::kInternalError, "server is shutting down");
    } else if (in_flight_.contains(key)) {
      // Answering both would give the client two responses with one id, and a
      // cancellation could not say which it means: the second is refused at once.
      refusal = rpc::make_error(id, rpc::kInvalidRequest,
                                "invalid request: a request with this id is already in flight");
    } else {
      in_flight_[key] = ctx;
      ++busy_;
      // in_flight_, not busy_: a call leaves it before its answer is sent (busy_ only
      // after), so a sequential client's next call never finds the last one still there.
      alone = in_flight_.size() == 1;
    }
  }
  if (!refusal.is_null()) {
    reply(std::move(refusal), nullptr);
    return;
  }
  struct Call {
    std::string key, method;
    json params;
    std::shared_ptr<const ToolSchema> output_schema;
  };
  auto call = std::make_shared<Call>(
      Call{key, std::move(method), std::move(params), std::move(output_schema)});
  auto finish = [this, ctx, instance, call](const std::function<PluginReply()>& result) {
    finish_call(*ctx, call->key, *instance, call->method, call->params, call->output_schema.get(),
                result);
  };
  std::function<void()> work = [finish, ctx, instance, call] {
    finish([&] { return instance->call(*ctx, call->method, call->params); });
  };
  // The transport's reading thread may run it at once (no hand-off to a worker). A call
  // that waits for another process (a runner, a mounted server) only when it is the one
  // call in flight and no other message is ready: the fastest answer to one call at a
  // time. Among pipelined calls it would hold up reading the next ones while it waits.
  const bool waits = instance->backend().isolation() != "in-process";
  if (InlineCalls* runner = InlineCalls::current();
      runner != nullptr && (!waits || alone) &&
      runner->run_inline(work, waits ? InlineCalls::Kind::kWaits : InlineCalls::Kind::kWork))
    return;
  // Otherwise a runner's call needs no thread while it waits: the thread that reads its
  // reply finishes it. Not while the client is behind in reading: the answers would pile
  // up in memory, where a waiting worker holds its call back.
  try {
    if (!out_.congested() &&
        instance->call_async(ctx, call->method, call->params, [finish](PluginReply reply) {
          finish([&] { return std::move(reply); });
        }))
      return;
  } catch (...) {
    // Nothing was started (call_async throws only before it registers the call): the
    // worker's call() meets the same problem inside finish_call's handlers.
  }
  boost::asio::post(pool_, std::move(work));
}

bool Session::supports_url_elicitation() const {
  std::lock_guard lock(mutex_);
  auto elicitation = client_capabilities_.find("elicitation");
  return elicitation != client_capabilities_.end() && elicitation->is_object() &&
         elicitation->contains("url") && (*elicitation)["url"].is_object();
}

json Session::authorization_required(const CallContext& ctx,
                                     const std::vector<std::string>& providers) {
  const std::string& client = ctx.oauth_user.subject;
  std::string cli;
  for (const auto& provider : providers)
    cli += (cli.empty() ? "" : "; ") + std::string("`keyhold oauth login ") + provider +
           " --client " + client + "`";
  std::string names = "oauth provider" + std::string(providers.size() > 1 ? "s " : " ");
  for (std::size_t i = 0; i < providers.size(); ++i)
    names += (i == 0 ? "'" : ", '") + providers[i] + "'";
  if (client.empty())
    return rpc::make_result(
        ctx.request_id,
        tool_error(names + (providers.size() > 1 ? " are" : " is") +
                   " per_user: its tokens belong to each authenticated client of `keyhold serve "
                   "--http` (client tokens), and this session has none (stdio, or HTTP without "
                   "client authentication)"));
  if (!options_.begin_authorization || !supports_url_elicitation())
    return rpc::make_result(
        ctx.request_id,
        tool_error("client '" + client + "' has no usable tokens of " + names +
                   ", which this tool needs, and its MCP client does not support URL "
                   "elicitation: an administrator can run " +
                   cli + ", then retry"));
  json elicitations = json::array();
  for (const auto& provider : providers) {
    auto started = options_.begin_authorization(provider, options_.client_id, client);
    if (!started.is_ok())
      return rpc::make_result(ctx.request_id,
                              tool_error("client '" + client + "' must authorize oauth provider '" +
                                         provider + "', but keyhold cannot start it (" +
                                         started.status().message() + "); run " + cli));
    elicitations.push_back({{"mode", "url"},
                            {"elicitationId", started.value().elicitation_id},
                            {"url", started.value().url},
                            {"message", started.value().message}});
  }
  return rpc::make_error(
      ctx.request_id, rpc::kUrlElicitationRequired,
      "This request needs your authorization at " + names + ": open the URL, then retry",
      json{{"elicitations", std::move(elicitations)}});
}

void Session::notify_elicitation_complete(const std::string& elicitation_id) {
  if (!initialized_) return;
  reply(rpc::make_notification("notifications/elicitation/complete",
                               json{{"elicitationId", elicitation_id}}),
        nullptr);
}

void Session::close() {
  closing_ = true;  // before end_listens: no listen opens after it
  end_listens();
  std::unique_lock lock(mutex_);
  for (auto& [key, ctx] : in_flight_) ctx->cancelled = true;
  for (auto& [key, waiter] : pending_client_)
    waiter.set_value(
        json{{"error", {{"code", rpc::kInternalError}, {"message", "session closed"}}}});
  pending_client_.clear();
  idle_.wait(lock, [this] { return busy_ == 0; });
}

void Session::notify_list_changed(int32_t what) {
  const char* method = list_changed_method(what);
  // A 2025-11-25 session gets every list change unsolicited; a 2026-07-28 client only on
  // the listen streams that asked for it.
  if (initialized_ || initialize_answered_) reply(rpc::make_notification(method, nullptr), nullptr);
  notify_listens(method, {});
}

void Session::notify_resource_updated(std::string_view uri) {
  bool subscribed = false;
  {
    std::lock_guard lock(mutex_);
    subscribed = subscriptions_.contains(std::string(uri));
  }
  if (subscribed)
    reply(
        rpc::make_notification("notifications/resources/updated", json{{"uri", std::string(uri)}}),
        nullptr);
  notify_listens("notifications/resources/updated", uri);
}

void Session::on_listen(const json& id, const std::string&, const json& params) {
  auto parsed = parse_listen_filter(params, options_.listen_limits);
  if (refuse_invalid(id, parsed.status())) return;
  ListenFilter filter = std::move(parsed.value());
  // Updates can come only for resources some instance serves: the others are not honored,
  // so the acknowledgement leaves them out.
  std::erase_if(filter.resource_uris, [this](const std::string& uri) {
    return registry_.resource_owner(uri) == nullptr;
  });
  // Each URI reaches its instance (resources/subscribe below): guarded like any argument.
  // Refused in block mode; in redact mode a URI that carried a credential is left out.
  std::set<std::string> guarded;
  for (const auto& uri : filter.resource_uris) {
    json checked = uri;
    if (!guard_arguments(id, *registry_.resource_owner(uri), &checked, /*as_error=*/true)) return;
    if (checked == uri) guarded.insert(uri);
  }
  filter.resource_uris = std::move(guarded);
  json refusal;  // sent after listen_mutex_ is released
  {
    std::lock_guard lock(listen_mutex_);
    if (closing_) {
      refusal = rpc::make_error(id, rpc::kInternalError, "server is shutting down");
    } else if (listens_.size() >= options_.max_listens) {
      refusal = rpc::make_error(
          id, rpc::kInvalidRequest,
          "too many open subscriptions/listen streams: " + std::to_string(listens_.size()) +
              " are open on this connection, the limit; end one (notifications/cancelled "
              "with its id) before opening another");
    } else {
      Listen& listen = listens_[rpc::id_key(id)];
      listen.id = id;
      listen.filter = filter;
      listen.related = std::make_shared<CallContext>();
      listen.related->request_id = id;
      listen.related->services = this;
      // The first message of the stream, sent under listen_mutex_: no notification for
      // this subscription can precede it.
      send_redacted(rpc::make_notification("notifications/subscriptions/acknowledged",
                                           json{{"_meta", {{kSubscriptionId, id}}},
                                                {"notifications", filter.to_json()}}),
                    listen.related.get());
    }
  }
  if (!refusal.is_null()) {
    reply(std::move(refusal), nullptr);
    return;
  }
  // An instance may produce updates only while someone watches (as for resources/subscribe).
  for (const auto& uri : filter.resource_uris) forward_subscription("resources/subscribe", uri);
}

void Session::notify_listens(std::string_view method, std::string_view uri) {
  std::lock_guard lock(listen_mutex_);
  for (const auto& [key, listen] : listens_) {
    if (!listen.filter.wants(method, uri)) continue;
    json params{{"_meta", {{kSubscriptionId, listen.id}}}};
    if (!uri.empty()) params["uri"] = std::string(uri);
    send_redacted(rpc::make_notification(std::string(method), std::move(params)),
                  listen.related.get());
  }
}

void Session::end_listens() {
  std::map<std::string, Listen> ended;
  {
    std::lock_guard lock(listen_mutex_);
    for (const auto& [key, listen] : listens_) {
      json result{
          {"resultType", "complete"},
          {"_meta",
           {{kSubscriptionId, listen.id}, {"io.modelcontextprotocol/serverInfo", server_info()}}}};
      send_redacted(rpc::make_result(listen.id, std::move(result)), listen.related.get());
    }
    ended.swap(listens_);
  }
  if (ended.empty()) return;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, listen] : ended) stateless_.erase(key);
  }
  for (const auto& [key, listen] : ended) unsubscribe_resources(listen);
}

std::size_t Session::open_listens() const {
  std::lock_guard lock(listen_mutex_);
  return listens_.size();
}

void Session::unsubscribe_resources(const Listen& listen) {
  for (const auto& uri : listen.filter.resource_uris)
    forward_subscription("resources/unsubscribe", uri);
}

void Session::forward_subscription(const char* method, const std::string& uri) {
  PluginInstance* owner = registry_.resource_owner(uri);
  if (owner == nullptr) return;
  auto ctx = std::make_shared<CallContext>();
  ctx->request_id = host_call_id();
  ctx->services = this;
  {
    std::lock_guard lock(mutex_);
    ++busy_;  // close() waits for it
  }
  boost::asio::post(pool_, [this, ctx, owner, method = std::string(method), uri] {
    try {
      const PluginReply reply = owner->call(*ctx, method, json{{"uri", uri}});
      if (reply.status != KH_OK && reply.status != KH_UNSUPPORTED)
        spdlog::debug("instance '{}' refused {} for a listen stream", owner->name(), method);
    } catch (...) {
      spdlog::error("internal error forwarding {} to instance '{}'", method, owner->name());
    }
    std::lock_guard lock(mutex_);
    if (--busy_ == 0) idle_.notify_all();
  });
}

void Session::plugin_log(const PluginInstance& from, const CallContext* ctx, int32_t level,
                         std::string_view message) {
  // Nothing is sent for a cancelled request (the client has forgotten it).
  bool to_client = ctx != nullptr && !is_host_call(*ctx) && !ctx->cancelled;
  if (to_client) {
    // 2026-07-28: logs only when this request asked for them, at its own level.
    auto scope = stateless_scope(ctx->request_id);
    to_client = scope ? scope->meta.log_level >= 0 && level >= scope->meta.log_level
                      : level >= min_log_level_.load();
  }
  const bool to_log = plugin_level_logged(level);
  // Only a line that goes somewhere counts against the budget.
  if ((!to_log && !to_client) || !admit_plugin_line(from)) return;
  if (to_log) log_plugin_line(from.name(), level, message);
  if (!to_client) return;
  reply(rpc::make_notification("notifications/message", json{{"level", mcp::log_level_name(level)},
                                                             {"logger", from.name()},
                                                             {"data", std::string(message)}}),
        ctx);
}

void Session::plugin_progress(CallContext& ctx, double progress, double total,
                              std::string_view message) {
  if (ctx.progress_token.is_null()) return;
  {
    std::lock_guard lock(ctx.progress_mutex);
    if (!(progress > ctx.last_progress)) return;  // progress must increase
    ctx.last_progress = progress;
  }
  json params{{"progressToken", ctx.progress_token}, {"progress", progress}};
  if (total >= 0) params["total"] = total;
  if (!message.empty()) params["message"] = std::string(message);
  reply(rpc::make_notification("notifications/progress", std::move(params)), &ctx);
}

void Session::plugin_list_changed(PluginInstance&, int32_t what) { notify_list_changed(what); }

void Session::plugin_resource_updated(PluginInstance&, std::string_view uri) {
  notify_resource_updated(uri);
}

int32_t Session::plugin_client_request(CallContext& ctx, std::string_view method,
                                       std::string_view params_json, std::string* out) {
  const char* capability = method == "sampling/createMessage" ? "sampling"
                           : method == "elicitation/create"   ? "elicitation"
                           : method == "roots/list"           ? "roots"
                                                              : nullptr;
  json params = rpc::parse_json(params_json, rpc::kMaxPluginJsonDepth);
  if (params.is_discarded() || !params.is_object()) {
    *out = "client request parameters must be a JSON object";
    return KH_INVALID_ARGUMENT;
  }
  if (is_host_call(ctx)) {
    *out = "no client request is being served";
    return KH_UNAVAILABLE;
  }
  if (auto scope = stateless_scope(ctx.request_id)) {
    const int32_t status = answer_from_input(*scope, method, std::move(params), out);
    return status == KH_OK ? guard_answer(ctx, method, out) : status;
  }
  std::string key;
  json id;
  std::future<json> answer;
  {
    std::lock_guard lock(mutex_);
    if (capability == nullptr || !client_capabilities_.contains(capability)) {
      *out = "the client did not declare the capability for " + std::string(method);
      return KH_UNAVAILABLE;
    }
    if (closing_) return KH_CANCELLED;
    id = "keyhold-" + std::to_string(next_client_id_++);
    key = rpc::id_key(id);
    answer = pending_client_[key].get_future();
  }
  reply(rpc::make_request(id, method, std::move(params)), &ctx);
  while (answer.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (ctx.cancelled) {
      std::lock_guard lock(mutex_);
      pending_client_.erase(key);
      return KH_CANCELLED;
    }
  }
  json message = answer.get();
  if (auto result = message.find("result"); result != message.end()) {
    *out = rpc::serialize(*result);
    return guard_answer(ctx, method, out);
  }
  *out = rpc::serialize(message.value("error", json::object()));
  return KH_ERROR;
}

// A client's answer (an elicitation form, a sampled message, roots) reaches the plugin
// through the argument guard, as tool arguments do: a credential typed into a form that a
// plugin asked for is refused (or redacted) like one in a tool argument, and audited.
int32_t Session::guard_answer(const CallContext& ctx, std::string_view method, std::string* out) {
  if (!options_.redactor || ctx.instance == nullptr) return KH_OK;
  json answer = rpc::parse_json(*out, rpc::kMaxPluginJsonDepth);
  if (answer.is_discarded()) return KH_OK;  // our own serialization: cannot happen
  const auto verdict = secrets::guard_arguments(*options_.redactor, ctx.instance->guard(), answer);
  if (verdict.findings.empty()) return KH_OK;
  const std::string what = "the client's answer to " + std::string(method);
  if (options_.on_guard)
    options_.on_guard(*ctx.instance, ctx.request_id.dump(), what + ": " + verdict.findings.front(),
                      verdict.refused);
  if (verdict.refused) {
    *out = what + " was " + verdict.refusal();
    return KH_ERROR;
  }
  *out = rpc::serialize(answer);  // the findings replaced by markers
  return KH_OK;
}

// A stateless request cannot wait for the client: the plugin's question is answered from
// the retry's inputResponses or the answers sealed in its requestState, or else recorded
// for the InputRequiredResult. The plugin is then told its request was cancelled, so it
// stops; on the retry it runs again from the start and gets its answers at once. A plugin
// may name its question with params._meta["dev.keyhold/inputKey"] (else the n-th
// question of a call is "input-n"), as the key of inputRequests.
int32_t Session::answer_from_input(StatelessScope& scope, std::string_view method, json params,
                                   std::string* out) {
  const char* capability = method == "sampling/createMessage" ? "sampling"
                           : method == "elicitation/create"   ? "elicitation"
                           : method == "roots/list"           ? "roots"
                                                              : nullptr;
  std::lock_guard lock(scope.mutex);
  std::string key = "input-" + std::to_string(++scope.next_input);
  if (auto meta = params.find("_meta"); meta != params.end() && meta->is_object()) {
    if (auto named = meta->find("dev.keyhold/inputKey"); named != meta->end()) {
      if (named->is_string()) key = named->get<std::string>();
      meta->erase(named);
    }
    if (meta->empty()) params.erase(meta);
  }
  for (const json* answers : {&scope.input_responses, &scope.earlier_answers}) {
    // Every input response (ElicitResult, CreateMessageResult, ListRootsResult) is an
    // object; anything else is asked again.
    if (auto answer = answers->find(key); answer != answers->end() && answer->is_object()) {
      scope.used_answers[key] = *answer;
      *out = rpc::serialize(*answer);
      return KH_OK;
    }
  }
  if (capability == nullptr || !scope.meta.client_capabilities.contains(capability)) {
    if (capability != nullptr) scope.missing_capabilities[capability] = json::object();
    *out = "the client did not declare the capability for " + std::string(method);
    return KH_UNAVAILABLE;
  }
  scope.input_requests[key] = {{"method", std::string(method)}, {"params", std::move(params)}};
  *out = "the client's answer is needed: the request is retried with it";
  return KH_CANCELLED;
}

}  // namespace keyhold
