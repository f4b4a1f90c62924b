#include "plugins/plugin_instance.hpp"

#include <spdlog/spdlog.h>

namespace keyhold {

namespace {

void append_to_string(void* host_data, const char* data, size_t size) {
  static_cast<std::string*>(host_data)->append(data, size);
}

std::string_view view(kh_str s) {
  return s.data == nullptr ? std::string_view() : std::string_view(s.data, s.size);
}

// ---- the kh_host_api functions: C linkage shape, never throw across the line ----

void api_log(kh_host* host, const kh_call_ctx* ctx, int32_t level, kh_str message) {
  try {
    auto* self = host->instance;
    const CallContext* call = ctx;
    HostServices* target =
        (call != nullptr && call->services != nullptr) ? call->services : self->events();
    if (target != nullptr) target->plugin_log(*self, call, level, view(message));
  } catch (...) {
  }
}

void api_progress(kh_host*, const kh_call_ctx* ctx, double progress, double total, kh_str message) {
  try {
    if (ctx == nullptr || ctx->services == nullptr) return;
    auto* call = const_cast<CallContext*>(ctx);
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

// Secret handles are declared in ABI 1.0 so it need not break when the handle broker
// lands; until an administrator can grant anything, every request is "not granted".
int32_t api_secret_acquire(kh_host*, const kh_call_ctx*, kh_str, kh_secret_handle* out) {
  if (out != nullptr) *out = kh_secret_handle{0, 0};
  return KH_NOT_GRANTED;
}
int32_t api_secret_release(kh_host*, kh_secret_handle) { return KH_NOT_FOUND; }
int32_t api_secret_reveal(kh_host*, const kh_call_ctx*, kh_secret_handle, kh_reveal_fn, void*) {
  return KH_NOT_GRANTED;
}
int32_t api_secret_sign(kh_host*, const kh_call_ctx*, kh_secret_handle, kh_str, kh_str, kh_sink*) {
  return KH_NOT_GRANTED;
}
int32_t api_process_spawn(kh_host*, const kh_call_ctx*, kh_str, uint64_t* out, kh_sink* error) {
  if (out != nullptr) *out = 0;
  static constexpr std::string_view kWhy = "process spawning is not granted to this instance";
  if (error != nullptr && error->append != nullptr)
    error->append(error->host_data, kWhy.data(), kWhy.size());
  return KH_NOT_GRANTED;
}
int32_t api_process_read(kh_host*, uint64_t, int32_t, int32_t, kh_sink*) { return KH_NOT_FOUND; }
int32_t api_process_wait(kh_host*, uint64_t, int32_t, int32_t*) { return KH_NOT_FOUND; }
int32_t api_process_kill(kh_host*, uint64_t, int32_t) { return KH_NOT_FOUND; }

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
                               std::shared_ptr<PluginLibrary> library, nlohmann::json options,
                               HostServices* events)
    : name_(std::move(name)),
      prefix_(std::move(prefix)),
      library_(std::move(library)),
      options_(std::move(options)),
      events_(events) {}

PluginInstance::~PluginInstance() {
  if (object_ != nullptr) library_->definition().destroy(object_);
}

bool PluginInstance::create(std::string* error) {
  const std::string options = options_.dump();
  std::string message;
  kh_sink sink{&message, &append_to_string};
  void* object = nullptr;
  int32_t status =
      library_->definition().create(&host_, &kHostApi, kh_str{name_.data(), name_.size()},
                                    kh_str{options.data(), options.size()}, &object, &sink);
  if (status != KH_OK || object == nullptr) {
    *error = "create() failed" + (message.empty() ? std::string() : ": " + message);
    return false;
  }
  object_ = object;
  return true;
}

bool PluginInstance::describe(nlohmann::json* catalog, std::string* error) {
  std::string body;
  kh_sink sink{&body, &append_to_string};
  if (int32_t status = library_->definition().describe(object_, &sink); status != KH_OK) {
    *error = "describe() failed: " + body;
    return false;
  }
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    *error = "describe() did not return a JSON object";
    return false;
  }
  *catalog = std::move(parsed);
  return true;
}

PluginReply PluginInstance::call(CallContext& ctx, std::string_view method,
                                 const nlohmann::json& params) {
  PluginReply reply;
  const std::string body = params.dump();
  kh_sink sink{&reply.body, &append_to_string};
  reply.status = library_->definition().call(object_, &ctx, kh_str{method.data(), method.size()},
                                             kh_str{body.data(), body.size()}, &sink);
  return reply;
}

}  // namespace keyhold
