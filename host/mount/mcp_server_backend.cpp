#include "mount/mcp_server_backend.hpp"
#include "base/log_budget.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "base/client_wait.hpp"
#include "base/output_hold.hpp"
#include "base/reading_turn.hpp"
#include "base/send_batch.hpp"
#include "loader/abi_strings.hpp"
#include "loader/plugin_instance.hpp"
#include "mount/server_catalog.hpp"
#include "protocol/json_parse.hpp"
#include "protocol/json_rpc.hpp"

namespace keyhold::mount {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct McpServerBackend::Connection {
  std::uint64_t number = 0;
  std::unique_ptr<ServerTransport> transport;
  std::thread reader, diagnostics_reader;
  bool ended = false;  // guarded by the backend's mutex_
  bool ready = false;  // the handshake and the first lists are done (mutex_)

  // Who reads a transport that callers may read (readable_by_callers; guarded by mutex_):
  // a request waiting for its response, or the reader thread between requests
  // (base/reading_turn.hpp).
  ReadingTurn turn;
  bool at_end = false;  // a turn holder saw the end; the reader thread ends the connection

  ~Connection() {
    for (std::thread* t : {&reader, &diagnostics_reader}) {
      if (!t->joinable()) continue;
      if (t->get_id() == std::this_thread::get_id())
        t->detach();
      else
        t->join();
    }
  }
};

namespace {

constexpr const char* kProtocolVersion = "2025-11-25";

kh_str kh_arg(const std::string& s) { return kh_str{s.data(), s.size()}; }

std::string text_of(const json& message) { return rpc::serialize(message); }

int32_t log_level_of(const json& level) {
  static const std::pair<const char*, int32_t> kLevels[] = {
      {"debug", KH_LOG_DEBUG},     {"info", KH_LOG_INFO},          {"notice", KH_LOG_NOTICE},
      {"warning", KH_LOG_WARNING}, {"error", KH_LOG_ERROR},        {"critical", KH_LOG_CRITICAL},
      {"alert", KH_LOG_ALERT},     {"emergency", KH_LOG_EMERGENCY}};
  if (level.is_string())
    for (const auto& [name, value] : kLevels)
      if (level.get_ref<const std::string&>() == name) return value;
  return KH_LOG_INFO;
}

// The KH_* status and body for a server's JSON-RPC error (the session turns it back into
// an error of the same kind for the client).
int32_t status_for_error(const json& error, std::string* body) {
  const int code = error.is_object() && error.contains("code") && error["code"].is_number_integer()
                       ? error["code"].get<int>()
                       : rpc::kInternalError;
  std::string message =
      error.is_object() && error.contains("message") && error["message"].is_string()
          ? error["message"].get<std::string>()
          : std::string("an error without a message");
  *body = message;
  switch (code) {
    case rpc::kInvalidParams:
      return KH_INVALID_ARGUMENT;
    case rpc::kResourceNotFound:
      return KH_NOT_FOUND;
    case rpc::kMethodNotFound:
      return KH_UNSUPPORTED;
    default:
      *body = "the mounted server answered with error " + std::to_string(code) + ": " + message;
      return KH_ERROR;
  }
}

// The reply to a forwarded call from the server's response: its error as a KH_* status
// and message, or its result object, moved out of response and never serialised
// (PluginReply::result).
PluginReply reply_of(json response) {
  PluginReply reply;
  if (auto e = response.find("error"); e != response.end()) {
    reply.status = status_for_error(*e, &reply.body);
    return reply;
  }
  auto result = response.find("result");
  if (result == response.end() || !result->is_object()) {
    reply.body = "the mounted server answered without a result object";
    return reply;  // KH_ERROR
  }
  reply.status = KH_OK;
  reply.result = std::move(*result);
  return reply;
}

// The text of request `id` to the server. Its progress token is the request's own id when
// the client asked for progress (the client's token stays with the session), and never the
// client's token. params are copied only when the token changes them.
std::string request_text(std::int64_t id, std::string_view method, const json& params,
                         const CallContext* ctx) {
  const bool give = params.is_object() && ctx != nullptr && !ctx->progress_token.is_null();
  const auto meta = params.is_object() ? params.find("_meta") : params.end();
  const bool take =
      !give && meta != params.end() && meta->is_object() && meta->contains("progressToken");
  if (!give && !take) return rpc::request_text(id, method, params);
  json edited = params;
  if (give)
    edited["_meta"]["progressToken"] = id;
  else
    edited["_meta"].erase("progressToken");
  return rpc::request_text(id, method, edited);
}

}  // namespace

McpServerBackend::McpServerBackend(McpServerOptions options) : options_(std::move(options)) {
  for (const auto& alias : options_.secret_aliases)
    secret_decls_.push_back(
        kh_secret_decl{alias.c_str(), "a variable of the server's environment", KH_SECRET_OP_ENV});
  definition_.struct_size = sizeof(kh_plugin);
  definition_.abi_major = KH_ABI_MAJOR;
  definition_.abi_minor = KH_ABI_MINOR;
  definition_.name = "mcp-server";
  definition_.version = "";
  definition_.description = options_.description.c_str();
  definition_.secrets = secret_decls_.data();
  definition_.secret_count = static_cast<std::uint32_t>(secret_decls_.size());
}

McpServerBackend::~McpServerBackend() { destroy(); }

int McpServerBackend::pid() const {
  std::lock_guard lock(mutex_);
  return connection_ && !connection_->ended ? connection_->transport->pid() : 0;
}

int32_t McpServerBackend::create(kh_host* host, std::string_view, std::string_view,
                                 std::string* message) {
  host_ = host;
  std::lock_guard start_lock(start_mutex_);
  if (Status started = start(); !started.is_ok()) {
    *message = started.message();
    return KH_ERROR;
  }
  if (options_.lazy) {  // the catalog is read: the server waits for the first call
    std::shared_ptr<Connection> c;
    {
      std::lock_guard lock(mutex_);
      parked_ = true;
      c = connection_;
    }
    c->transport->close(std::chrono::seconds(2));
    if (c->reader.joinable()) c->reader.join();  // it marks c ended
    if (c->diagnostics_reader.joinable()) c->diagnostics_reader.join();
    spdlog::info(
        "instance '{}': catalog read; its server is stopped until the first call "
        "(server.lazy)",
        options_.instance);
  }
  return KH_OK;
}

int32_t McpServerBackend::describe(std::string* body) {
  std::lock_guard lock(mutex_);
  *body = text_of(catalog_);
  return KH_OK;
}

Status McpServerBackend::start() {
  std::shared_ptr<Connection> old;
  {
    std::lock_guard lock(mutex_);
    old = std::move(connection_);
  }
  if (old) {  // already ended; its threads finish before a new server starts
    old->transport->close(std::chrono::milliseconds(200));
    if (old->reader.joinable()) old->reader.join();
    if (old->diagnostics_reader.joinable()) old->diagnostics_reader.join();
    old.reset();
  }
  secrets::SecretServices* services =
      host_ != nullptr && host_->instance != nullptr ? host_->instance->secrets() : nullptr;
  auto transport = options_.connect(services);
  if (!transport.is_ok()) return transport.status();
  auto c = std::make_shared<Connection>();
  c->transport = std::move(transport).value();
  {
    std::lock_guard lock(mutex_);
    c->number = ++connection_count_;
    connection_ = c;
  }
  c->reader = std::thread([this, c] { read_messages(c); });
  c->diagnostics_reader = std::thread([this, c] { read_diagnostics(c); });

  json init{{"protocolVersion", kProtocolVersion},
            {"capabilities", {{"sampling", json::object()}, {"elicitation", json::object()}}},
            {"clientInfo", {{"name", "keyhold"}, {"version", KEYHOLD_VERSION}}}};
  auto response = request(c, "initialize", std::move(init), nullptr, options_.start_timeout);
  if (!response.is_ok()) {
    c->transport->abort();
    std::lock_guard lock(mutex_);
    return io_error(c->ended ? "the server ended before it answered initialize (" + last_end_ +
                                   ")" + std::string(c->transport->failure_hint())
                             : "initialize: " + response.status().message());
  }
  if (auto e = response->find("error"); e != response->end()) {
    c->transport->abort();
    return io_error("initialize: the server refused: " + text_of(*e));
  }
  const json& result = (*response)["result"];
  if (!result.is_object() || !result.contains("protocolVersion") ||
      !result["protocolVersion"].is_string()) {
    c->transport->abort();
    return io_error("initialize: the server's answer has no protocolVersion");
  }
  {
    std::lock_guard lock(mutex_);
    server_capabilities_ = result.value("capabilities", json::object());
    if (!server_capabilities_.is_object()) server_capabilities_ = json::object();
  }
  c->transport->initialized(result["protocolVersion"].get<std::string>());
  if (!c->transport->send(text_of(rpc::make_notification("notifications/initialized", nullptr)),
                          std::nullopt, std::chrono::seconds(10), {})) {
    c->transport->abort();
    return io_error("the server stopped reading after initialize");
  }
  // keyhold's own clients choose their log level, per session; the server is asked for
  // everything it logs, and each session's level filters what reaches its client. A refusal
  // only costs the logs.
  bool logs = false;
  {
    std::lock_guard lock(mutex_);
    logs = server_capabilities_.contains("logging");
  }
  if (logs) {
    auto set =
        request(c, "logging/setLevel", json{{"level", "debug"}}, nullptr, options_.start_timeout);
    if (!set.is_ok() || set->contains("error"))
      spdlog::info("[{}] the server did not take logging/setLevel; its logs may be missing",
                   options_.instance);
  }
  if (Status read = read_catalog(c); !read.is_ok()) {
    c->transport->abort();
    return read;
  }
  std::lock_guard lock(mutex_);
  c->ready = true;
  return Status::ok();
}

Status McpServerBackend::ensure_running() {
  std::lock_guard start_lock(start_mutex_);
  bool first_call = false;  // a lazy server's first start: no backoff, no budget
  {
    std::lock_guard lock(mutex_);
    if (destroyed_) return unavailable("instance '" + options_.instance + "' is shut down");
    if (!failed_.empty()) return unavailable(failed_);
    if (connection_ && !connection_->ended) return Status::ok();
    first_call = parked_;
  }
  // A child backs off before a restart (the caller waits rather than fails); a remote
  // server is tried again at once: reaching it costs one request, not a process.
  while (!options_.remote && !first_call) {
    std::unique_lock lock(mutex_);
    if (destroyed_) return unavailable("instance '" + options_.instance + "' is shut down");
    if (Clock::now() >= restart_budget_.next_allowed()) break;
    changed_.wait_until(lock, restart_budget_.next_allowed());
  }
  json before;
  {
    std::lock_guard lock(mutex_);
    if (!options_.remote && !first_call && !restart_budget_.take(Clock::now())) {
      failed_ = "instance '" + options_.instance + "' failed: its server ended " +
                std::to_string(RestartBudget::kMaxRestarts + 1) +
                " times within 10 minutes (last: " + last_end_ + ")";
      spdlog::error("{}", failed_);
      return unavailable(failed_);
    }
    before = catalog_;
  }
  if (first_call)
    spdlog::info("instance '{}': first call: {} its server (server.lazy)", options_.instance,
                 options_.remote ? "connecting to" : "starting");
  else
    spdlog::warn("instance '{}': {} its server again (the last one {})", options_.instance,
                 options_.remote ? "connecting to" : "starting", last_end_);
  if (Status started = start(); !started.is_ok()) {
    return unavailable("instance '" + options_.instance + "' could not " +
                       (options_.remote ? "reach" : "restart") + " its server: " +
                       started.message() + (options_.remote ? "; the next call tries again" : ""));
  }
  json after;
  {
    std::lock_guard lock(mutex_);
    parked_ = false;
    after = catalog_;
  }
  if (after != before && host_ != nullptr) {
    const kh_host_api& api = PluginInstance::host_api();
    for (int32_t what : {KH_LIST_TOOLS, KH_LIST_RESOURCES, KH_LIST_PROMPTS})
      api.notify_list_changed(host_, what);
  }
  return Status::ok();
}

Result<json> McpServerBackend::request(const std::shared_ptr<Connection>& c,
                                       const std::string& method, json params, CallContext* ctx,
                                       std::chrono::milliseconds timeout,
                                       std::string* result_text) {
  if (!options_.remote)
    return request_once(c, method, std::move(params), ctx, timeout, result_text);
  for (bool retried = false;; retried = true) {
    auto response = request_once(c, method, params, ctx, timeout, result_text);
    if (!response.is_ok() || !response->contains("error")) return response;
    const auto id = response->find("id");
    if (id == response->end() || !id->is_number_integer()) return response;
    const Status refused = c->transport->credentials_refused(id->get<std::int64_t>(), retried);
    if (refused.code() == ErrorCode::kNotFound) return response;  // not a 401
    if (!refused.is_ok() || retried) {
      (*response)["error"]["message"] = refused.message();
      spdlog::warn("instance '{}': {} refused: {}", options_.instance, method, refused.message());
      return response;
    }
    spdlog::info("instance '{}': {} sent once more with renewed credentials", options_.instance,
                 method);
  }
}

Result<json> McpServerBackend::request_once(const std::shared_ptr<Connection>& c,
                                            const std::string& method, json params,
                                            CallContext* ctx, std::chrono::milliseconds timeout,
                                            std::string* result_text) {
  std::int64_t id;
  {
    std::lock_guard lock(mutex_);
    if (c->ended)
      return io_error("instance '" + options_.instance + "' is not running (" + last_end_ + ")");
    id = next_id_.fetch_add(1, std::memory_order_relaxed);
    Pending& p = pending_.try_emplace(id).first->second;
    p.connection = c->number;
    p.ctx = ctx;
    p.text_wanted = result_text != nullptr;
    p.started = Clock::now();
    c->turn.request_started();
  }
  // The client's request this serves, for the audit of the secrets sent with it.
  const std::string client_request = ctx != nullptr ? ctx->request_id.dump() : std::string();
  // Not sent: the transport ends itself and the reader fails this request.
  c->transport->send(request_text(id, method, params, ctx), id, std::chrono::seconds(10),
                     client_request);
  params = json();  // sent: not kept for the whole wait
  auto cancel = [&](const char* reason) {
    send_behind_queue(c,
                      text_of(rpc::make_notification("notifications/cancelled",
                                                     json{{"requestId", id}, {"reason", reason}})),
                      client_request);
  };
  const auto deadline = Clock::now() + timeout;
  const bool may_read = c->transport->readable_by_callers();
  std::string text;
  std::unique_lock lock(mutex_);
  Pending& p = pending_.at(id);  // map nodes are stable; only this function erases it
  Status status;
  while (!p.done) {
    if (may_read && !c->at_end && c->turn.try_take()) {
      // The turn was free: read the server ourselves (most often our response is next).
      lock.unlock();
      const auto got = c->transport->receive_for(&text, std::chrono::milliseconds(20));
      if (got == ServerTransport::Received::kMessage) handle_text(c, text);
      // What a full pipe left (an answer to the server's ping, a cancellation): the reader
      // thread, which flushes it on its tick, does not read while callers do.
      c->transport->flush_stalled();
      lock.lock();
      if (got == ServerTransport::Received::kEnd) {
        c->at_end = true;  // the reader thread ends the connection and fails the requests
        c->turn.reader_wake.notify_all();
      }
      pass_turn(*c, id);
      if (c->turn.async_calls > 0) {  // async calls wait on whoever reads
        lock.unlock();
        check_async_limits(c);
        lock.lock();
      }
    } else {
      // Someone else reads: the wait ends at our response or when the turn is passed to
      // us; the 20 ms tick notices a cancellation and the deadline.
      p.ready.wait_for(lock, std::chrono::milliseconds(20));
    }
    if (p.done) break;
    if (ctx != nullptr && ctx->cancelled) {
      lock.unlock();
      cancel("cancelled by the client");
      lock.lock();
      status = Status(ErrorCode::kCancelled, "request cancelled");
      break;
    }
    if (Clock::now() > deadline) {
      lock.unlock();
      cancel("timed out");
      lock.lock();
      status = io_error("the mounted server did not answer " + method + " within " +
                        std::to_string(timeout.count() / 1000) + " s");
      break;
    }
  }
  if (status.is_ok() && !p.failure.empty()) status = io_error(p.failure);
  json response = status.is_ok() ? std::move(p.response) : json();
  if (status.is_ok() && result_text != nullptr) *result_text = std::move(p.result_text);
  // Server requests may still use ctx: wait for them before the caller's ctx goes away.
  p.done = true;
  p.ready.wait(lock, [&] { return p.users == 0; });
  pending_.erase(id);
  c->turn.request_finished();
  if (!status.is_ok()) return status;
  return response;
}

void McpServerBackend::pass_turn(Connection& c, std::int64_t self) {
  c.turn.reading = false;
  // A request still waiting takes the turn (any one: each reads for all). With none, the
  // reader thread takes it when it next looks: it is not woken for that, since in a
  // stream of requests the next one comes sooner and would find the turn taken. The
  // waiting requests are counted (in_flight, self among them), so a stream of async calls
  // is not walked for one.
  if (c.turn.in_flight > (self != 0 ? 1 : 0))
    for (auto& [id, p] : pending_)
      if (id != self && !p.done && p.connection == c.number && !p.finish) {
        p.ready.notify_one();
        return;
      }
  // Responses nobody waits for come next: the reader thread takes the turn at once.
  if (c.turn.async_calls > 0) c.turn.reader_wake.notify_one();
}

Status McpServerBackend::read_list(const std::shared_ptr<Connection>& c, const char* method,
                                   const char* key, json* items) {
  std::string cursor;
  for (int page = 0; page < 1000; ++page) {
    json params = json::object();
    if (!cursor.empty()) params["cursor"] = cursor;
    auto response = request(c, method, std::move(params), nullptr, options_.start_timeout);
    if (!response.is_ok())
      return io_error(std::string(method) + ": " + response.status().message());
    if (auto e = response->find("error"); e != response->end()) {
      if (e->is_object() && e->value("code", 0) == rpc::kMethodNotFound) return Status::ok();
      return io_error(std::string(method) + ": " + text_of(*e));
    }
    cursor = append_page((*response)["result"], key, items);
    if (cursor.empty()) return Status::ok();
  }
  return io_error(std::string(method) + ": more than 1000 pages");
}

Status McpServerBackend::read_catalog(const std::shared_ptr<Connection>& c) {
  json capabilities;
  {
    std::lock_guard lock(mutex_);
    capabilities = server_capabilities_;
  }
  ServerLists lists;
  // Each list the capabilities offer, in this order; the first that fails is the error.
  const struct {
    const char* capability;
    const char* method;
    const char* key;
    json* items;
  } wanted[] = {
      {"tools", "tools/list", "tools", &lists.tools},
      {"resources", "resources/list", "resources", &lists.resources},
      {"resources", "resources/templates/list", "resourceTemplates", &lists.resource_templates},
      {"prompts", "prompts/list", "prompts", &lists.prompts},
  };
  for (const auto& list : wanted) {
    if (!capabilities.contains(list.capability)) continue;
    if (Status read = read_list(c, list.method, list.key, list.items); !read.is_ok()) return read;
  }
  std::vector<std::string> dropped;
  json catalog = catalog_from_server_lists(lists, &dropped);
  for (const auto& line : dropped)
    spdlog::warn("instance '{}': left out of the catalog: {}", options_.instance, line);
  std::lock_guard lock(mutex_);
  catalog_ = std::move(catalog);
  return Status::ok();
}

int32_t McpServerBackend::call(CallContext& ctx, std::string_view method,
                               std::string_view params_json, std::string* body) {
  json params = rpc::parse_json(params_json, rpc::kMaxPluginJsonDepth);
  if (params.is_discarded() || !params.is_object()) {
    *body = "params must be a JSON object";
    return KH_INVALID_ARGUMENT;
  }
  PluginReply reply = call_json(ctx, method, params);
  *body = reply.result.is_object() ? text_of(reply.result) : std::move(reply.body);
  return reply.status;
}

PluginReply McpServerBackend::call_json(CallContext& ctx, std::string_view method,
                                        const json& params) {
  auto fail = [](int32_t status, std::string message) {
    return PluginReply{status, std::move(message), {}};
  };
  if (Status running = ensure_running(); !running.is_ok()) return fail(KH_ERROR, running.message());
  if (!params.is_object()) return fail(KH_INVALID_ARGUMENT, "params must be a JSON object");
  std::shared_ptr<Connection> c;
  {
    std::lock_guard lock(mutex_);
    c = connection_;
  }
  if (!c) return fail(KH_ERROR, "instance '" + options_.instance + "' is not running");
  std::string result_text;
  auto response =
      request(c, std::string(method), params, &ctx, options_.call_timeout, &result_text);
  if (!response.is_ok() && response.status().code() != ErrorCode::kCancelled &&
      c->transport->session_lost()) {
    // Refused before the server processed it: once more, in a new session.
    if (Status running = ensure_running(); !running.is_ok())
      return fail(KH_ERROR, running.message());
    {
      std::lock_guard lock(mutex_);
      c = connection_;
    }
    response = request(c, std::string(method), params, &ctx, options_.call_timeout, &result_text);
  }
  if (!response.is_ok())
    return fail(response.status().code() == ErrorCode::kCancelled ? KH_CANCELLED : KH_ERROR,
                response.status().message());
  if (!result_text.empty()) return PluginReply{KH_OK, std::move(result_text), {}};
  return reply_of(std::move(*response));
}

bool McpServerBackend::call_async(const std::shared_ptr<CallContext>& ctx, std::string_view method,
                                  const json& call_params, CallDone& done) {
  if (options_.remote) return false;           // an HTTP request is sent by a thread that waits
  if (!call_params.is_object()) return false;  // call_json() says why
  // Everything that may throw, before the call is registered; the text needs the id first
  // (an id taken by a call that is then refused is never used).
  const std::int64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
  std::string method_text(method);
  const std::string text = request_text(id, method_text, call_params, ctx.get());
  // Queued, never waited for: the thread starting this call reads the client's next
  // requests and must not wait for a server that stopped reading. Queued and registered
  // under mutex_ (queue() only tries stdin's lock), so that no message of the server, nor
  // a flush by the reader's tick, finds the request sent and its call not yet registered;
  // and a refused one (kLater) was seen by no one. A server that is gone ends its
  // connection, and that end finishes the call.
  std::shared_ptr<Connection> c;
  bool flush_due = false;
  {
    std::lock_guard lock(mutex_);
    c = connection_;
    // A server to (re)start, a failed or shut down instance: call_json() starts it, waits
    // for it or says why.
    if (destroyed_ || !failed_.empty() || !c || c->ended || c->at_end || !c->ready ||
        !c->transport->readable_by_callers())
      return false;
    // Registered first (what may throw, before anything is queued), taken back if refused.
    auto registered = pending_.try_emplace(id).first;
    Pending& p = registered->second;
    p.connection = c->number;
    p.ctx = ctx.get();
    p.owner = ctx;
    p.async_connection = c;
    p.finish = std::move(done);
    p.text_wanted = true;
    p.method = std::move(method_text);
    p.started = Clock::now();
    // Refused, or queue() threw (out of memory): the call is the caller's again, unseen.
    ServerTransport::AtOnce queued;
    try {
      queued = c->transport->queue(text, &flush_due);
    } catch (...) {
      done = std::move(p.finish);
      pending_.erase(registered);
      throw;
    }
    if (queued == ServerTransport::AtOnce::kLater) {
      done = std::move(p.finish);
      pending_.erase(registered);
      return false;
    }
    ++c->turn.async_calls;
    if (!c->turn.reading) c->turn.reader_wake.notify_one();
  }
  // In a burst the flush waits for the burst's end (base/send_batch.hpp), so the requests
  // leave together.
  if (flush_due) {
    if (SendBatch* batch = SendBatch::current(); batch != nullptr)
      batch->defer([c] { c->transport->flush(); });  // at once when no burst is held
    else
      c->transport->flush();
  }
  return true;
}

void McpServerBackend::send_behind_queue(const std::shared_ptr<Connection>& c,
                                         const std::string& message,
                                         const std::string& client_request,
                                         std::chrono::milliseconds send_timeout) {
  if (c->transport->send_behind(message) != ServerTransport::AtOnce::kLater) return;
  // A transport without a queue (HTTP): its send() does not wait for the reader.
  c->transport->send(message, std::nullopt, send_timeout, client_request);
}

void McpServerBackend::take_finished(std::int64_t id, std::vector<FinishedCall>* out) {
  auto it = pending_.find(id);
  if (it == pending_.end() || !it->second.finish || !it->second.done || it->second.users > 0)
    return;
  Pending& p = it->second;
  FinishedCall f;
  if (!p.failure.empty()) {
    f.reply.status = p.cancelled ? KH_CANCELLED : KH_ERROR;
    f.reply.body = std::move(p.failure);
  } else if (!p.result_text.empty()) {
    f.reply = PluginReply{KH_OK, std::move(p.result_text), {}};
  } else {
    f.reply = reply_of(std::move(p.response));
  }
  f.finish = std::move(p.finish);
  f.owner = std::move(p.owner);
  --p.async_connection->turn.async_calls;
  f.kept = std::move(p.async_connection);
  out->push_back(std::move(f));
  pending_.erase(it);
}

void McpServerBackend::release_user(std::int64_t id) {
  std::vector<FinishedCall> finished;
  {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    --it->second.users;
    it->second.ready.notify_all();
    take_finished(id, &finished);
  }
  run_finished(finished);
}

void McpServerBackend::check_async_limits(const std::shared_ptr<Connection>& c) {
  c->transport->flush_stalled();  // what a full pipe (or a lost race for stdin) left queued
  struct Cancel {
    std::int64_t id;
    const char* reason;
    std::string client_request;
  };
  std::vector<Cancel> cancels;
  std::vector<FinishedCall> finished;
  {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    for (auto& [id, p] : pending_) {
      if (!p.finish || p.done || p.connection != c->number) continue;
      if (p.ctx->cancelled) {
        p.cancelled = true;
        p.failure = "request cancelled";
        cancels.push_back({id, "cancelled by the client", p.ctx->request_id.dump()});
      } else if (now - p.started > options_.call_timeout) {
        p.failure = "the mounted server did not answer " + p.method + " within " +
                    std::to_string(options_.call_timeout.count() / 1000) + " s";
        cancels.push_back({id, "timed out", p.ctx->request_id.dump()});
      } else {
        continue;
      }
      p.done = true;
    }
    for (const Cancel& cancel : cancels) take_finished(cancel.id, &finished);
  }
  for (const Cancel& cancel : cancels)
    send_behind_queue(
        c,
        text_of(rpc::make_notification("notifications/cancelled",
                                       json{{"requestId", cancel.id}, {"reason", cancel.reason}})),
        cancel.client_request);
  run_finished(finished);
}

void McpServerBackend::destroy() {
  std::shared_ptr<Connection> c;
  {
    std::lock_guard lock(mutex_);
    if (destroyed_) return;
    destroyed_ = true;
    c = connection_;
    changed_.notify_all();
  }
  if (c) c->transport->close(std::chrono::seconds(2));  // also ends a start under way sooner
  std::lock_guard start_lock(start_mutex_);             // no start under way any more
  {
    std::lock_guard lock(mutex_);
    c = std::move(connection_);
  }
  if (c) {
    c->transport->close(std::chrono::seconds(2));
    if (c->reader.joinable()) c->reader.join();
    if (c->diagnostics_reader.joinable()) c->diagnostics_reader.join();
  }
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return server_requests_ == 0; });
}

void McpServerBackend::end_connection(const std::shared_ptr<Connection>& c,
                                      const std::string& reason) {
  bool quiet;
  std::vector<FinishedCall> finished;
  {
    std::lock_guard lock(mutex_);
    std::vector<std::int64_t> ended_calls;
    c->ended = true;
    quiet = destroyed_ || parked_;
    last_end_ = reason;
    for (auto& [id, p] : pending_) {
      if (p.connection != c->number || p.done) continue;
      p.done = true;
      p.failure = "mounted server of instance '" + options_.instance + "' stopped: " + reason +
                  (options_.remote ? "; keyhold connects again on the next call"
                                   : "; it is started again on the next call");
      p.ready.notify_all();
      if (p.finish) ended_calls.push_back(id);
    }
    for (std::int64_t id : ended_calls) take_finished(id, &finished);
    changed_.notify_all();
  }
  run_finished(finished);
  if (!quiet) spdlog::error("instance '{}': its server stopped: {}", options_.instance, reason);
}

void McpServerBackend::handle_text(const std::shared_ptr<Connection>& c, const std::string& text,
                                   std::optional<std::int64_t> related) {
  rpc::Limits limits;
  limits.max_message_bytes = options_.max_message_bytes;
  try {
    // Most messages are the results of forwarded calls: read without a tree, sent on as
    // text. (A look for the key first: a notification or request is parsed once.)
    if (text.size() <= limits.max_message_bytes && text.find("\"result\"") != std::string::npos)
      if (auto plain = rpc::plain_response(text, limits.max_depth);
          plain && complete(c, plain->id, json(), plain->result))
        return;
    json error;
    auto message = rpc::parse_message(text, limits, &error);
    if (!message) {
      // Never quoted: the text may hold anything.
      spdlog::warn(
          "instance '{}': its server sent something that is not a JSON-RPC message ({} "
          "bytes); ignored",
          options_.instance, text.size());
      return;
    }
    handle_message(c, std::move(*message), related);
  } catch (const std::exception& e) {
    // Out of memory, say: this message is lost, the reader goes on.
    spdlog::warn("instance '{}': a message of its server could not be handled ({}); ignored",
                 options_.instance, typeid(e).name());
  }
}

void McpServerBackend::read_messages(std::shared_ptr<Connection> c) {
  // Progress, logs and the async calls it finishes go through the session's writer: a
  // client slow to read must not stop this thread, which every call to the server needs.
  NoClientWait no_wait;
  std::string text;
  if (!c->transport->readable_by_callers()) {
    std::optional<std::int64_t> related;
    while (c->transport->receive(&text, &related)) handle_text(c, text, related);
  } else {
    Clock::time_point last_limits_check{};
    std::unique_lock lock(mutex_);
    while (c->turn.reader_take(lock, [&] { return c->at_end; })) {
      // A request that comes while this waits finds the turn taken and gets its response
      // from here. With async calls out it also keeps their limits, so it looks every
      // 20 ms; otherwise every 250 ms (an async call may start while it waits).
      const auto tick = std::chrono::milliseconds(c->turn.async_calls > 0 ? 20 : 250);
      lock.unlock();
      const auto got = c->transport->receive_for(&text, tick);
      if (got == ServerTransport::Received::kMessage) {
        // One read often brings the answers of several calls: each is handled before the
        // turn passes on, and their answers to the client leave in one write.
        OutputHold hold;
        handle_text(c, text);
        while (c->transport->receive_buffered(&text) == ServerTransport::Received::kMessage)
          handle_text(c, text);
      }
      lock.lock();
      if (got == ServerTransport::Received::kEnd) c->at_end = true;
      pass_turn(*c, 0);
      const bool async_out = c->turn.async_calls > 0;
      lock.unlock();
      // The limits are a scan of every call in flight: once per tick, not per message (a
      // server that floods notifications would make each cost that scan).
      const auto now = Clock::now();
      if (async_out && (got != ServerTransport::Received::kMessage ||
                        now - last_limits_check >= std::chrono::milliseconds(20))) {
        last_limits_check = now;
        check_async_limits(c);  // it writes stalled lines too
      } else {
        c->transport->flush_stalled();  // what a full pipe (or a lost race for stdin) left
      }
      lock.lock();
    }
  }
  end_connection(c, c->transport->close(std::chrono::milliseconds(400)));
}

void McpServerBackend::read_diagnostics(std::shared_ptr<Connection> c) {
  LogBudget budget;  // a server may write to stderr at will: lines past it are dropped
  std::string line;
  while (c->transport->diagnostic(&line)) {
    if (!budget.admit_line(options_.instance, "lines of server stderr")) continue;
    bool starting;
    {
      std::lock_guard lock(mutex_);
      starting = !c->ready;
    }
    // While it starts, what a server says on stderr is most likely why it did not start.
    spdlog::log(starting ? spdlog::level::warn : spdlog::level::info, "[{}] (server stderr) {}",
                options_.instance, line);
  }
}

void McpServerBackend::handle_message(const std::shared_ptr<Connection>& c, json message,
                                      std::optional<std::int64_t> related) {
  std::string why;
  json id;
  switch (rpc::classify(message, &why, &id)) {
    case rpc::Kind::kResponse:
      if (id.is_number_integer()) complete(c, id.get<std::int64_t>(), std::move(message), {});
      return;  // else not an id keyhold sent
    case rpc::Kind::kNotification: {
      auto params = message.find("params");
      handle_notification(c, message["method"].get<std::string>(),
                          params != message.end() && params->is_object() ? *params : json::object(),
                          related);
      return;
    }
    case rpc::Kind::kRequest:
      handle_server_request(c, std::move(message), related);
      return;
    case rpc::Kind::kInvalid:
      // From the reader: behind the queue, never a wait for the server to read.
      if (!id.is_null())
        send_behind_queue(
            c, text_of(rpc::make_error(id, rpc::kInvalidRequest, "invalid request: " + why)), {},
            std::chrono::seconds(10));
      return;
  }
}

bool McpServerBackend::complete(const std::shared_ptr<Connection>& c, std::int64_t id, json message,
                                std::string_view result_text) {
  std::vector<FinishedCall> finished;
  {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second.connection != c->number || it->second.done) return true;
    Pending& p = it->second;
    if (!result_text.empty()) {
      if (!p.text_wanted) return false;
      p.result_text.assign(result_text);
    } else {
      p.response = std::move(message);
    }
    p.done = true;
    p.ready.notify_all();
    if (p.finish) take_finished(id, &finished);  // an async call ends here
  }
  run_finished(finished);
  return true;
}

void McpServerBackend::handle_notification(const std::shared_ptr<Connection>& c,
                                           const std::string& method, const json& params,
                                           std::optional<std::int64_t> related) {
  if (host_ == nullptr) return;
  const kh_host_api& api = PluginInstance::host_api();
  if (method == "notifications/progress") {
    auto token = params.find("progressToken");
    auto progress = params.find("progress");
    if (token == params.end() || !token->is_number_integer() || progress == params.end() ||
        !progress->is_number())
      return;
    CallContext* ctx = nullptr;
    const std::int64_t owner = token->get<std::int64_t>();
    {
      std::lock_guard lock(mutex_);
      auto it = pending_.find(owner);
      if (it == pending_.end() || it->second.connection != c->number || it->second.done ||
          it->second.ctx == nullptr)
        return;
      ctx = it->second.ctx;
      ++it->second.users;
    }
    const double total = params.contains("total") && params["total"].is_number()
                             ? params["total"].get<double>()
                             : -1.0;
    const std::string text = params.value("message", json("")).is_string()
                                 ? params.value("message", std::string())
                                 : std::string();
    api.progress(host_, ctx, progress->get<double>(), total, kh_arg(text));
    release_user(owner);
    return;
  }
  if (method == "notifications/message") {
    const json data = params.value("data", json());
    std::string text = data.is_string() ? data.get<std::string>() : text_of(data);
    if (auto logger = params.find("logger"); logger != params.end() && logger->is_string())
      text = logger->get<std::string>() + ": " + text;
    // Sent to the client only when exactly one call is in flight (then it is that call's).
    CallContext* ctx = nullptr;
    std::int64_t owner = 0;
    {
      std::lock_guard lock(mutex_);
      if (call_of(*c, related, &owner) == 1) {
        ctx = pending_.at(owner).ctx;
        ++pending_.at(owner).users;
      }
    }
    api.log(host_, ctx, log_level_of(params.value("level", json())), kh_arg(text));
    if (ctx != nullptr) release_user(owner);
    return;
  }
  if (method == "notifications/resources/updated") {
    if (auto uri = params.find("uri"); uri != params.end() && uri->is_string())
      api.notify_resource_updated(host_, kh_arg(uri->get_ref<const std::string&>()));
    return;
  }
  const int32_t what = method == "notifications/tools/list_changed"       ? KH_LIST_TOOLS
                       : method == "notifications/resources/list_changed" ? KH_LIST_RESOURCES
                       : method == "notifications/prompts/list_changed"   ? KH_LIST_PROMPTS
                                                                          : 0;
  if (what == 0) return;  // cancelled (of our requests), roots, unknown: nothing to do
  {
    std::lock_guard lock(mutex_);
    // Before the first lists are read they are read anyway; past the cap a storm is dropped.
    if (!c->ready || c->ended || server_requests_ >= kMaxServerRequests) return;
    ++server_requests_;
  }
  // Re-reading needs this reader free: on its own thread.
  std::thread([this, c, what] {
    on_list_changed(c, what);
    std::lock_guard lock(mutex_);
    --server_requests_;
    changed_.notify_all();
  }).detach();
}

int McpServerBackend::call_of(const Connection& c, std::optional<std::int64_t> related,
                              std::int64_t* owner) const {
  auto is_call = [&](const Pending& p) {
    return p.connection == c.number && !p.done && p.ctx != nullptr;
  };
  if (related) {  // linked: that call, or none (it ended; never another one)
    auto it = pending_.find(*related);
    if (it == pending_.end() || !is_call(it->second)) return 0;
    *owner = it->first;
    return 1;
  }
  // A remote server links what belongs to a call (its answer stream): what comes unlinked
  // (the GET stream) belongs to none, even with one call in flight.
  if (options_.remote) return 0;
  int calls = 0;
  for (const auto& [id, p] : pending_)
    if (is_call(p)) {
      ++calls;
      *owner = id;
    }
  return calls;
}

void McpServerBackend::on_list_changed(const std::shared_ptr<Connection>& c, int32_t what) {
  if (Status read = read_catalog(c); !read.is_ok()) {
    spdlog::warn("instance '{}': its server changed a list, but reading it failed: {}",
                 options_.instance, read.message());
    return;
  }
  PluginInstance::host_api().notify_list_changed(host_, what);
}

void McpServerBackend::handle_server_request(const std::shared_ptr<Connection>& c, json message,
                                             std::optional<std::int64_t> related) {
  const json id = message["id"];
  const std::string method = message["method"].get<std::string>();
  // This runs on the reader: its answers go behind the queue and never wait for the
  // server to read (it may be blocked writing to its stdout, which only this thread reads).
  auto answer_error = [&](int code, const std::string& text) {
    send_behind_queue(c, text_of(rpc::make_error(id, code, text)), {}, std::chrono::seconds(10));
  };
  if (method == "ping") {
    send_behind_queue(c, text_of(rpc::make_result(id, json::object())), {},
                      std::chrono::seconds(10));
    return;
  }
  if (method != "sampling/createMessage" && method != "elicitation/create" &&
      method != "roots/list") {
    answer_error(rpc::kMethodNotFound, "method not found: " + method);
    return;
  }
  // The call the request belongs to (call_of): the one whose answer stream carried it
  // (Streamable HTTP), or over stdio, which carries no link, the only call in flight. With
  // several (perhaps from different clients of an HTTP host), picking one could show one
  // client's prompt to another: refused. A refusal is sent after mutex_ is released: the
  // send may wait for the server.
  CallContext* ctx = nullptr;
  std::int64_t owner = 0;
  std::string refusal;
  {
    std::lock_guard lock(mutex_);
    const int calls = call_of(*c, related, &owner);
    if (calls == 1) ctx = pending_.at(owner).ctx;
    if (server_requests_ >= kMaxServerRequests)
      refusal = "too many requests to the client in flight";
    else if (calls == 0)
      refusal = "keyhold forwards " + method + " to its client only during a call" +
                (options_.remote ? ", on the answer stream of that call" : "");
    else if (calls > 1)
      refusal = "keyhold cannot tell which of " + std::to_string(calls) + " calls in flight this " +
                method + " belongs to (stdio carries no link)";
    if (refusal.empty()) {
      ++pending_.at(owner).users;
      ++server_requests_;
    }
  }
  if (!refusal.empty()) {
    if (refusal_log_.admit_line(options_.instance, "refusals of its server's requests"))
      spdlog::info("instance '{}': its server's {} refused: {}", options_.instance, method,
                   refusal);
    answer_error(rpc::kInternalError, refusal);
    return;
  }
  json params = message.contains("params") ? message["params"] : json::object();
  // Waits for the client: on its own thread, so the reader keeps delivering responses.
  // A thread that cannot be made (a process at its thread limit) gives back what was taken
  // for it, or the call would wait for it forever (and destroy() too).
  try {
    start_client_request(c, id, method, std::move(params), ctx, owner);
  } catch (const std::exception&) {
    release_user(owner);
    {
      std::lock_guard lock(mutex_);
      --server_requests_;
      changed_.notify_all();
    }
    answer_error(rpc::kInternalError, "keyhold could not take the request now");
  }
}

void McpServerBackend::start_client_request(const std::shared_ptr<Connection>& c, const json& id,
                                            const std::string& method, json params,
                                            CallContext* ctx, std::int64_t owner) {
  std::thread([this, c, id, method, params = std::move(params), ctx, owner] {
    std::string out;
    kh_sink sink{&out, &abi::append_to_string};
    const std::string params_text = text_of(params);
    const int32_t status = PluginInstance::host_api().client_request(host_, ctx, kh_arg(method),
                                                                     kh_arg(params_text), &sink);
    json reply;
    if (status == KH_OK) {
      json result = rpc::parse_json(out, rpc::kMaxPluginJsonDepth);
      reply = result.is_object() ? rpc::make_result(id, std::move(result))
                                 : rpc::make_error(id, rpc::kInternalError,
                                                   "the client's answer is not an object");
    } else if (status == KH_ERROR) {
      json error = rpc::parse_json(out, rpc::kMaxPluginJsonDepth);
      const bool usable = error.is_object() && error.contains("code") &&
                          error["code"].is_number_integer() && error.contains("message") &&
                          error["message"].is_string();
      reply =
          usable ? rpc::make_error(id, error["code"].get<int>(),
                                   error["message"].get<std::string>(), error.value("data", json()))
                 : rpc::make_error(id, rpc::kInternalError, "the client answered with an error");
    } else if (status == KH_UNAVAILABLE) {
      reply =
          rpc::make_error(id, rpc::kMethodNotFound, "keyhold's client does not support " + method);
    } else if (status == KH_CANCELLED) {
      reply = rpc::make_error(id, rpc::kInternalError, "the call was cancelled");
    } else {
      reply = rpc::make_error(id, rpc::kInternalError, "the client could not answer");
    }
    c->transport->send(text_of(reply), std::nullopt, std::chrono::seconds(10), {});
    release_user(owner);
    std::lock_guard lock(mutex_);
    --server_requests_;
    changed_.notify_all();
  }).detach();
}

}  // namespace keyhold::mount
