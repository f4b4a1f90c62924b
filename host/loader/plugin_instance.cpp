#include "loader/plugin_instance.hpp"

#include "base/client_wait.hpp"
#include "loader/abi_status.hpp"
#include "loader/abi_strings.hpp"
#include "protocol/json_parse.hpp"
#include "protocol/json_rpc.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

namespace keyhold {

namespace {

using abi::append_to_string;
using abi::view;
using abi::write_sink;

// ---- the kh_host_api functions: C linkage shape, never throw across the line ----

// A log or progress message, or a resource URI, is at most this long. A longer one is not
// passed on at all (not cut: a cut could split a secret value the redactor then misses),
// and redacting megabytes would hold the thread that passes it (a runner's reader).
constexpr std::size_t kMaxNoteBytes = 64 * 1024;

std::string too_long(const char* what, std::size_t size) {
  return std::string("(") + what + " of " + std::to_string(size) + " bytes, over the " +
         std::to_string(kMaxNoteBytes / 1024) + " KiB limit, not shown)";
}

void api_log(kh_host* host, const kh_call_ctx* ctx, int32_t level, kh_str message) {
  try {
    auto* self = host->instance;
    const CallContext* call = ctx;
    HostServices* target =
        (call != nullptr && call->services != nullptr) ? call->services : self->events();
    if (target == nullptr) return;
    if (message.size > kMaxNoteBytes)
      target->plugin_log(*self, call, level, too_long("a log message", message.size));
    else
      target->plugin_log(*self, call, level, view(message));
  } catch (...) {
  }
}

void api_progress(kh_host*, const kh_call_ctx* ctx, double progress, double total, kh_str message) {
  try {
    if (ctx == nullptr || ctx->services == nullptr) return;
    auto* call = const_cast<CallContext*>(ctx);
    if (message.size > kMaxNoteBytes)
      call->services->plugin_progress(*call, progress, total,
                                      too_long("a progress message", message.size));
    else
      call->services->plugin_progress(*call, progress, total, view(message));
  } catch (...) {
  }
}

int32_t api_is_cancelled(kh_host*, const kh_call_ctx* ctx) {
  return (ctx != nullptr && ctx->cancelled.load()) ? 1 : 0;
}

void api_notify_list_changed(kh_host* host, int32_t what) {
  try {
    if (auto* events = host->instance->events()) events->plugin_list_changed(*host->instance, what);
  } catch (...) {
  }
}

void api_notify_resource_updated(kh_host* host, kh_str uri) {
  try {
    if (uri.size > kMaxNoteBytes) return;  // no resource has such a URI
    if (auto* events = host->instance->events())
      events->plugin_resource_updated(*host->instance, view(uri));
  } catch (...) {
  }
}

int32_t api_client_request(kh_host*, const kh_call_ctx* ctx, kh_str method, kh_str params,
                           kh_sink* result) {
  try {
    if (ctx == nullptr || ctx->services == nullptr) return KH_UNAVAILABLE;
    auto* call = const_cast<CallContext*>(ctx);
    std::string out;
    int32_t status = call->services->plugin_client_request(*call, view(method), view(params), &out);
    if (result != nullptr && result->append != nullptr)
      result->append(result->host_data, out.data(), out.size());
    return status;
  } catch (...) {
    return KH_ERROR;
  }
}

std::string request_of(const kh_call_ctx* ctx) {
  return ctx == nullptr ? std::string() : ctx->request_id.dump();
}

// The client the request serves, for per_user OAuth tokens (null outside a request).
secrets::OAuthUser* client_of(const kh_call_ctx* ctx) {
  return ctx == nullptr ? nullptr : &const_cast<kh_call_ctx*>(ctx)->oauth_user;
}

// Without a broker (no secrets configured) every secret operation is "not granted".
int32_t api_secret_acquire(kh_host* host, const kh_call_ctx* ctx, kh_str alias,
                           kh_secret_handle* out) {
  try {
    if (out == nullptr) return KH_INVALID_ARGUMENT;
    *out = kh_secret_handle{0, 0};
    auto* services = host->instance->secrets();
    if (services == nullptr || !services->broker) return KH_NOT_GRANTED;
    auto acquired = services->broker->acquire(host->instance->name(), view(alias), request_of(ctx));
    if (acquired.is_ok()) *out = *acquired;
    return to_kh_status(acquired.status());
  } catch (...) {
    return KH_ERROR;
  }
}
int32_t api_secret_release(kh_host* host, kh_secret_handle handle) {
  try {
    auto* services = host->instance->secrets();
    if (services == nullptr || !services->broker) return KH_NOT_FOUND;
    return to_kh_status(services->broker->release(host->instance->name(), handle));
  } catch (...) {
    return KH_ERROR;
  }
}
int32_t api_secret_reveal(kh_host* host, const kh_call_ctx* ctx, kh_secret_handle handle,
                          kh_reveal_fn use, void* user) {
  try {
    auto* services = host->instance->secrets();
    if (services == nullptr || !services->broker) return KH_NOT_GRANTED;
    return to_kh_status(services->broker->reveal(host->instance->name(), handle, request_of(ctx),
                                                 use, user, client_of(ctx)));
  } catch (...) {
    return KH_ERROR;
  }
}
int32_t api_secret_sign(kh_host* host, const kh_call_ctx* ctx, kh_secret_handle handle,
                        kh_str algorithm, kh_str data, kh_sink* out) {
  try {
    auto* services = host->instance->secrets();
    if (services == nullptr || !services->broker) return KH_NOT_GRANTED;
    auto signature = services->broker->sign(host->instance->name(), handle, view(algorithm),
                                            view(data), request_of(ctx), client_of(ctx));
    if (signature.is_ok()) {
      write_sink(out, *signature);
      sodium_memzero(signature->data(), signature->size());
    } else if (signature.status().code() == ErrorCode::kInvalidArgument) {
      write_sink(out, signature.status().message());  // what the plugin passed wrong
    }
    return to_kh_status(signature.status());
  } catch (...) {
    return KH_ERROR;
  }
}
int32_t api_process_spawn(kh_host* host, const kh_call_ctx* ctx, kh_str spec, uint64_t* out,
                          kh_sink* error) {
  try {
    if (out != nullptr) *out = 0;
    auto* services = host->instance->secrets();
    if (services == nullptr || !services->children) {
      write_sink(error, "process spawning is not available: no secret services are configured");
      return KH_NOT_GRANTED;
    }
    auto spawned = services->children->spawn(host->instance->name(), request_of(ctx), view(spec),
                                             client_of(ctx));
    if (!spawned.is_ok()) {
      write_sink(error, spawned.status().message());
      return to_kh_status(spawned.status());
    }
    if (out != nullptr) *out = *spawned;
    return KH_OK;
  } catch (...) {
    return KH_ERROR;
  }
}
int32_t api_process_read(kh_host* host, uint64_t process, int32_t stream, int32_t timeout_ms,
                         kh_sink* out) {
  try {
    auto* services = host->instance->secrets();
    if (services == nullptr || !services->children) return KH_NOT_FOUND;
    std::string data;
    const Status status =
        services->children->read(host->instance->name(), process, stream, timeout_ms, &data);
    write_sink(out, data);
    return to_kh_status(status);
  } catch (...) {
    return KH_ERROR;
  }
}
int32_t api_process_wait(kh_host* host, uint64_t process, int32_t timeout_ms,
                         int32_t* exit_status) {
  try {
    auto* services = host->instance->secrets();
    if (services == nullptr || !services->children || exit_status == nullptr) return KH_NOT_FOUND;
    return to_kh_status(
        services->children->wait(host->instance->name(), process, timeout_ms, exit_status));
  } catch (...) {
    return KH_ERROR;
  }
}
int32_t api_process_kill(kh_host* host, uint64_t process, int32_t signal_number) {
  try {
    auto* services = host->instance->secrets();
    if (services == nullptr || !services->children) return KH_NOT_FOUND;
    return to_kh_status(services->children->kill(host->instance->name(), process, signal_number));
  } catch (...) {
    return KH_ERROR;
  }
}

const kh_host_api kHostApi = {
    sizeof(kh_host_api),
    KH_ABI_MAJOR,
    KH_ABI_MINOR,
    &api_log,
    &api_progress,
    &api_is_cancelled,
    &api_notify_list_changed,
    &api_notify_resource_updated,
    &api_client_request,
    &api_secret_acquire,
    &api_secret_release,
    &api_secret_reveal,
    &api_secret_sign,
    &api_process_spawn,
    &api_process_read,
    &api_process_wait,
    &api_process_kill,
};

}  // namespace

const kh_host_api& PluginInstance::host_api() noexcept { return kHostApi; }

PluginInstance::PluginInstance(std::string name, std::string prefix,
                               std::unique_ptr<PluginBackend> backend, nlohmann::json options,
                               HostServices* events)
    : name_(std::move(name)),
      prefix_(std::move(prefix)),
      backend_(std::move(backend)),
      options_(std::move(options)),
      events_(events) {}

PluginInstance::~PluginInstance() {
  // Its children first: a host service waiting on one (process_wait without a timeout)
  // returns once it is reaped, so destroy() never waits on a child that runs forever.
  if (secrets_ != nullptr && secrets_->children) secrets_->children->kill_all(name_);
  backend_->destroy();
}

Status PluginInstance::create() {
  std::string message;
  const int32_t status = backend_->create(&host_, name_, options_.dump(), &message);
  if (status != KH_OK)
    return internal_error("create() failed" + (message.empty() ? std::string() : ": " + message));
  return Status::ok();
}

Result<nlohmann::json> PluginInstance::describe() {
  std::string body;
  if (int32_t status = backend_->describe(&body); status != KH_OK)
    return internal_error("describe() failed: " + body);
  auto parsed = rpc::parse_json(body, rpc::kMaxPluginJsonDepth);
  if (parsed.is_discarded() || !parsed.is_object())
    return internal_error("describe() did not return a JSON object (or it nests deeper than " +
                          std::to_string(rpc::kMaxPluginJsonDepth) + " levels)");
  return parsed;
}

PluginReply PluginInstance::call(CallContext& ctx, std::string_view method,
                                 const nlohmann::json& params) {
  return backend_->call_json(ctx, method, params);
}

bool PluginInstance::call_async(const std::shared_ptr<CallContext>& ctx, std::string_view method,
                                const nlohmann::json& params,
                                std::function<void(PluginReply)> done) {
  PluginBackend::CallDone finish = std::move(done);
  return backend_->call_async(ctx, method, params, finish);
}

PluginReply PluginBackend::call_json(CallContext& ctx, std::string_view method,
                                     const nlohmann::json& params) {
  PluginReply reply;
  reply.status = call(ctx, method, rpc::serialize(params), &reply.body);
  return reply;
}

void run_finished(std::vector<FinishedCall>& finished) {
  if (finished.empty()) return;
  NoClientWait no_wait;
  for (FinishedCall& f : finished) f.finish(std::move(f.reply));
  finished.clear();
}

int32_t InProcessBackend::create(kh_host* host, std::string_view name,
                                 std::string_view options_json, std::string* message) {
  kh_sink sink{message, &append_to_string};
  void* object = nullptr;
  int32_t status = library_->definition().create(host, &kHostApi, kh_str{name.data(), name.size()},
                                                 kh_str{options_json.data(), options_json.size()},
                                                 &object, &sink);
  if (status == KH_OK && object == nullptr) status = KH_ERROR;
  if (status == KH_OK) object_ = object;
  return status;
}

int32_t InProcessBackend::describe(std::string* body) {
  kh_sink sink{body, &append_to_string};
  return library_->definition().describe(object_, &sink);
}

int32_t InProcessBackend::call(CallContext& ctx, std::string_view method,
                               std::string_view params_json, std::string* body) {
  kh_sink sink{body, &append_to_string};
  return library_->definition().call(object_, &ctx, kh_str{method.data(), method.size()},
                                     kh_str{params_json.data(), params_json.size()}, &sink);
}

void InProcessBackend::destroy() {
  if (object_ != nullptr) library_->definition().destroy(object_);
  object_ = nullptr;
}

}  // namespace keyhold
