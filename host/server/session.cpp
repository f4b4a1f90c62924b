#include "server/session.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/post.hpp>
#include <chrono>

#include "protocol/pagination.hpp"
#include "protocol/versions.hpp"

namespace keyhold {

using nlohmann::json;

namespace {
constexpr std::array<std::string_view, 8> kLevelNames = {
    "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"};

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

const json& params_object(const json& message) {
  static const json empty = json::object();
  auto it = message.find("params");
  return (it != message.end() && it->is_object()) ? *it : empty;
}

std::optional<std::string_view> string_field(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return std::string_view(it->get_ref<const std::string&>());
}
}  // namespace

std::string_view log_level_name(int32_t level) {
  if (level < 0 || level >= static_cast<int32_t>(kLevelNames.size())) return "info";
  return kLevelNames[static_cast<std::size_t>(level)];
}

void log_plugin_line(std::string_view instance, int32_t level, std::string_view message) {
  spdlog::log(spd_level(level), "[{}] {}", instance, message);
}

int32_t log_level_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kLevelNames.size(); ++i)
    if (kLevelNames[i] == name) return static_cast<int32_t>(i);
  return -1;
}

Session::Session(Registry& registry, Outbound& out, boost::asio::thread_pool& pool,
                 SessionOptions options)
    : registry_(registry), out_(out), pool_(pool), options_(std::move(options)) {}

Session::~Session() { close(); }

std::string Session::protocol_version() const {
  std::lock_guard lock(mutex_);
  return protocol_version_;
}

void Session::reply(json message, const CallContext* related) {
  if (options_.redactor) options_.redactor->redact_json(message);
  out_.send(message, related);
}

namespace {
// Collects "argument 'x' carries ..." for every finding in the strings of value.
void find_credentials(const secrets::Redactor& redactor, const json& value, const std::string& path,
                      std::vector<std::string>* found) {
  if (value.is_string()) {
    for (const auto& f : redactor.scan(value.get_ref<const std::string&>()))
      found->push_back(
          "argument '" + path + "' carries " +
          (f.is_rule ? "a credential (rule " + f.label + ")" : "the secret '" + f.label + "'"));
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i)
      find_credentials(redactor, value[i], path + "[" + std::to_string(i) + "]", found);
  } else if (value.is_object()) {
    for (const auto& [key, item] : value.items())
      find_credentials(redactor, item, path.empty() ? key : path + "." + key, found);
  }
}
}  // namespace

bool Session::guard_arguments(const json& id, PluginInstance& instance, json* arguments) {
  if (!options_.redactor || instance.guard() == secrets::GuardMode::kOff) return true;
  std::vector<std::string> found;
  find_credentials(*options_.redactor, *arguments, "", &found);
  if (found.empty()) return true;
  const bool block = instance.guard() == secrets::GuardMode::kBlock;
  if (options_.on_guard) options_.on_guard(instance, id.dump(), found.front(), block);
  if (!block) {
    options_.redactor->redact_json(*arguments);
    return true;
  }
  std::string text = "refused: " + found.front();
  if (found.size() > 1) text += " (and " + std::to_string(found.size() - 1) + " more)";
  text += ". Credentials come from the keyhold vault, never from tool input.";
  reply(
      rpc::make_result(id, json{{"content", json::array({json{{"type", "text"}, {"text", text}}})},
                                {"isError", true}}),
      nullptr);
  return false;
}

void Session::handle_text(std::string_view text) {
  json error;
  auto message = rpc::parse_message(text, options_.limits, &error);
  if (!message) {
    reply(error, nullptr);
    return;
  }
  handle(*message);
}

void Session::handle(const json& message) {
  std::string why;
  json id;
  switch (rpc::classify(message, &why, &id)) {
    case rpc::Kind::kInvalid:
      reply(rpc::make_error(id, rpc::kInvalidRequest, "invalid request: " + why), nullptr);
      return;
    case rpc::Kind::kResponse:
      handle_response(message);
      return;
    case rpc::Kind::kNotification:
      handle_notification(message["method"].get<std::string>(), params_object(message));
      return;
    case rpc::Kind::kRequest:
      handle_request(id, message["method"].get<std::string>(), params_object(message));
      return;
  }
}

void Session::handle_notification(const std::string& method, const json& params) {
  if (method == "notifications/initialized") {
    initialized_ = true;
  } else if (method == "notifications/cancelled") {
    auto it = params.find("requestId");
    if (it == params.end()) return;
    std::lock_guard lock(mutex_);
    if (auto call = in_flight_.find(rpc::id_key(*it)); call != in_flight_.end())
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

void Session::handle_request(const json& id, const std::string& method, const json& params) {
  if (method == "initialize") {
    if (initialize_answered_.exchange(true)) {
      reply(rpc::make_error(id, rpc::kInvalidRequest, "session is already initialized"), nullptr);
      return;
    }
    reply(rpc::make_result(id, initialize(params)), nullptr);
    return;
  }
  if (method == "ping") {
    reply(rpc::make_result(id, json::object()), nullptr);
    return;
  }
  if (!initialize_answered_) {
    reply(rpc::make_error(id, rpc::kInvalidRequest,
                          "session not initialized: send \"initialize\" first"),
          nullptr);
    return;
  }
  if (method == "tools/list") return list(id, params, "tools", &CatalogSnapshot::tools);
  if (method == "prompts/list") return list(id, params, "prompts", &CatalogSnapshot::prompts);
  if (method == "resources/list") return list(id, params, "resources", &CatalogSnapshot::resources);
  if (method == "resources/templates/list")
    return list(id, params, "resourceTemplates", &CatalogSnapshot::resource_templates);
  if (method == "tools/call") return call_tool(id, params);
  if (method == "logging/setLevel") {
    auto level = string_field(params, "level");
    int32_t value = level ? log_level_from_name(*level) : -1;
    if (value < 0) {
      reply(rpc::make_error(id, rpc::kInvalidParams,
                            "\"level\" must be one of debug, info, notice, warning, error, "
                            "critical, alert, emergency"),
            nullptr);
      return;
    }
    min_log_level_ = value;
    reply(rpc::make_result(id, json::object()), nullptr);
    return;
  }
  if (method == "prompts/get") {
    auto name = string_field(params, "name");
    if (!name) {
      reply(rpc::make_error(id, rpc::kInvalidParams, "\"name\" must be a string"), nullptr);
      return;
    }
    auto snap = registry_.snapshot();
    auto it = snap->prompt_by_name.find(std::string(*name));
    if (it == snap->prompt_by_name.end()) {
      reply(rpc::make_error(id, rpc::kInvalidParams, "unknown prompt: " + std::string(*name)),
            nullptr);
      return;
    }
    json forwarded = params;
    forwarded["name"] = it->second.plugin_name;
    dispatch(id, it->second.instance, method, std::move(forwarded), params);
    return;
  }
  if (method == "resources/read" || method == "resources/subscribe" ||
      method == "resources/unsubscribe") {
    auto uri = string_field(params, "uri");
    if (!uri) {
      reply(rpc::make_error(id, rpc::kInvalidParams, "\"uri\" must be a string"), nullptr);
      return;
    }
    PluginInstance* owner = registry_.resource_owner(*uri);
    if (owner == nullptr) {
      reply(rpc::make_error(id, rpc::kResourceNotFound, "resource not found: " + std::string(*uri),
                            json{{"uri", *uri}}),
            nullptr);
      return;
    }
    if (method != "resources/read") {
      std::lock_guard lock(mutex_);
      if (method == "resources/subscribe")
        subscriptions_.insert(std::string(*uri));
      else
        subscriptions_.erase(std::string(*uri));
    }
    dispatch(id, owner, method, params, params);
    return;
  }
  if (method == "completion/complete") {
    const json ref = params.value("ref", json::object());
    const std::string type = ref.value("type", std::string());
    json forwarded = params;
    PluginInstance* owner = nullptr;
    if (type == "ref/prompt") {
      auto snap = registry_.snapshot();
      auto it = snap->prompt_by_name.find(ref.value("name", std::string()));
      if (it != snap->prompt_by_name.end()) {
        owner = it->second.instance;
        forwarded["ref"]["name"] = it->second.plugin_name;
      }
    } else if (type == "ref/resource") {
      owner = registry_.resource_owner(ref.value("uri", std::string()));
    }
    if (owner == nullptr) {
      reply(rpc::make_error(id, rpc::kInvalidParams,
                            "completion/complete: unknown prompt or resource reference"),
            nullptr);
      return;
    }
    dispatch(id, owner, method, std::move(forwarded), params);
    return;
  }
  reply(rpc::make_error(id, rpc::kMethodNotFound, "method not found: " + method), nullptr);
}

json Session::initialize(const json& params) {
  const std::string requested = params.value("protocolVersion", std::string());
  const std::string version = mcp::negotiate_version(requested);
  {
    std::lock_guard lock(mutex_);
    protocol_version_ = version;
    client_capabilities_ = params.value("capabilities", json::object());
    if (!client_capabilities_.is_object()) client_capabilities_ = json::object();
  }
  json result{
      {"protocolVersion", version},
      {"capabilities",
       {{"logging", json::object()},
        {"completions", json::object()},
        {"prompts", {{"listChanged", true}}},
        {"resources", {{"subscribe", true}, {"listChanged", true}}},
        {"tools", {{"listChanged", true}}}}},
      {"serverInfo", {{"name", "keyhold"}, {"title", "keyhold"}, {"version", KEYHOLD_VERSION}}},
  };
  if (!options_.instructions.empty()) result["instructions"] = options_.instructions;
  return result;
}

void Session::list(const json& id, const json& params, const char* key,
                   const json CatalogSnapshot::*items) {
  std::optional<std::string_view> cursor;
  if (auto it = params.find("cursor"); it != params.end() && !it->is_null()) {
    if (!it->is_string()) {
      reply(rpc::make_error(id, rpc::kInvalidParams, "\"cursor\" must be a string"), nullptr);
      return;
    }
    cursor = it->get_ref<const std::string&>();
  }
  auto snap = registry_.snapshot();
  const json* all = &((*snap).*items);
  json allowed;
  if (options_.tool_allowed && items == &CatalogSnapshot::tools) {
    allowed = json::array();
    for (const auto& tool : *all)
      if (options_.tool_allowed(tool["name"].get<std::string>())) allowed.push_back(tool);
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

void Session::call_tool(const json& id, const json& params) {
  auto name = string_field(params, "name");
  if (!name) {
    reply(rpc::make_error(id, rpc::kInvalidParams, "\"name\" must be a string"), nullptr);
    return;
  }
  json arguments = params.value("arguments", json::object());
  if (!arguments.is_object()) {
    reply(rpc::make_error(id, rpc::kInvalidParams, "\"arguments\" must be an object"), nullptr);
    return;
  }
  auto snap = registry_.snapshot();
  auto it = snap->tool_by_name.find(std::string(*name));
  if (it == snap->tool_by_name.end() || (options_.tool_allowed && !options_.tool_allowed(*name))) {
    reply(rpc::make_error(id, rpc::kInvalidParams, "unknown tool: " + std::string(*name)), nullptr);
    return;
  }
  if (auto problem = it->second.input_schema->validate(arguments)) {
    json result{{"content",
                 json::array({json{{"type", "text"}, {"text", "invalid arguments: " + *problem}}})},
                {"isError", true}};
    reply(rpc::make_result(id, std::move(result)), nullptr);
    return;
  }
  if (!guard_arguments(id, *it->second.instance, &arguments)) return;
  json forwarded = params;
  forwarded["name"] = it->second.plugin_name;
  forwarded["arguments"] = std::move(arguments);
  dispatch(id, it->second.instance, "tools/call", std::move(forwarded), params);
}

void Session::dispatch(const json& id, PluginInstance* instance, std::string method, json params,
                       const json& client_params) {
  auto ctx = std::make_shared<CallContext>();
  ctx->request_id = id;
  ctx->services = this;
  if (auto meta = client_params.find("_meta"); meta != client_params.end() && meta->is_object()) {
    if (auto token = meta->find("progressToken"); token != meta->end())
      ctx->progress_token = *token;
  }
  {
    std::lock_guard lock(mutex_);
    if (closing_) {
      reply(rpc::make_error(id, rpc::kInternalError, "server is shutting down"), nullptr);
      return;
    }
    in_flight_[rpc::id_key(id)] = ctx;
    ++busy_;
  }
  boost::asio::post(
      pool_, [this, ctx, instance, method = std::move(method), params = std::move(params)] {
        json response;
        try {
          PluginReply result = instance->call(*ctx, method, params);
          switch (result.status) {
            case KH_OK: {
              json body = json::parse(result.body, nullptr, false);
              if (body.is_discarded() || !body.is_object()) {
                response =
                    rpc::make_error(ctx->request_id, rpc::kInternalError,
                                    "plugin '" + instance->name() + "' returned an invalid result");
              } else {
                response = rpc::make_result(ctx->request_id, std::move(body));
              }
              break;
            }
            case KH_NOT_FOUND:
              response = method.starts_with("resources/")
                             ? rpc::make_error(ctx->request_id, rpc::kResourceNotFound, result.body,
                                               json{{"uri", params.value("uri", std::string())}})
                             : rpc::make_error(ctx->request_id, rpc::kInvalidParams, result.body);
              break;
            case KH_INVALID_ARGUMENT:
              response = rpc::make_error(ctx->request_id, rpc::kInvalidParams, result.body);
              break;
            case KH_UNSUPPORTED:
              response = rpc::make_error(ctx->request_id, rpc::kMethodNotFound,
                                         method + " is not supported by this plugin");
              break;
            case KH_CANCELLED:
              response = rpc::make_error(ctx->request_id, rpc::kInternalError, "request cancelled");
              break;
            default:
              if (method == "tools/call") {
                response = rpc::make_result(
                    ctx->request_id,
                    json{{"content", json::array({json{{"type", "text"}, {"text", result.body}}})},
                         {"isError", true}});
              } else {
                response = rpc::make_error(ctx->request_id, rpc::kInternalError, result.body);
              }
          }
        } catch (const std::exception& e) {
          response = rpc::make_error(ctx->request_id, rpc::kInternalError, e.what());
        }
        {
          std::lock_guard lock(mutex_);
          in_flight_.erase(rpc::id_key(ctx->request_id));
        }
        // A cancelled request gets no response (the client has forgotten it).
        if (!ctx->cancelled)
          reply(response, ctx.get());
        else
          out_.abandoned(*ctx);
        std::lock_guard lock(mutex_);
        if (--busy_ == 0) idle_.notify_all();
      });
}

void Session::close() {
  std::unique_lock lock(mutex_);
  closing_ = true;
  for (auto& [key, ctx] : in_flight_) ctx->cancelled = true;
  for (auto& [key, waiter] : pending_client_)
    waiter.set_value(
        json{{"error", {{"code", rpc::kInternalError}, {"message", "session closed"}}}});
  pending_client_.clear();
  idle_.wait(lock, [this] { return busy_ == 0; });
}

void Session::notify_list_changed(int32_t what) {
  const char* method = what == KH_LIST_TOOLS       ? "notifications/tools/list_changed"
                       : what == KH_LIST_RESOURCES ? "notifications/resources/list_changed"
                                                   : "notifications/prompts/list_changed";
  if (initialized_ || initialize_answered_) reply(rpc::make_notification(method, nullptr), nullptr);
}

void Session::notify_resource_updated(std::string_view uri) {
  {
    std::lock_guard lock(mutex_);
    if (!subscriptions_.contains(std::string(uri))) return;
  }
  reply(rpc::make_notification("notifications/resources/updated", json{{"uri", std::string(uri)}}),
        nullptr);
}

void Session::plugin_log(const PluginInstance& from, const CallContext* ctx, int32_t level,
                         std::string_view message) {
  log_plugin_line(from.name(), level, message);
  if (ctx == nullptr || level < min_log_level_.load()) return;
  reply(rpc::make_notification("notifications/message", json{{"level", log_level_name(level)},
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
  json params = json::parse(params_json, nullptr, false);
  if (params.is_discarded() || !params.is_object()) {
    *out = "client request parameters must be a JSON object";
    return KH_INVALID_ARGUMENT;
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
    *out = serialize(*result);
    return KH_OK;
  }
  *out = serialize(message.value("error", json::object()));
  return KH_ERROR;
}

}  // namespace keyhold
