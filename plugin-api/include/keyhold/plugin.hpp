// keyhold/plugin.hpp - header-only C++ SDK over the C ABI in keyhold/plugin.h.
//
// A plugin is a plain class derived from keyhold::Plugin, constructed from
// (keyhold::Host, instance name, options JSON). One macro exports it:
//
//   class Echo : public keyhold::Plugin {
//    public:
//     Echo(keyhold::Host host, std::string_view instance, const nlohmann::json& options);
//     nlohmann::json describe() override;
//     nlohmann::json call_tool(keyhold::Context& ctx, std::string_view name,
//                              const nlohmann::json& arguments) override;
//   };
//   KEYHOLD_PLUGIN(Echo, "echo", "1.0.0", "Echoes its input")
//
// Every exported function is noexcept and catches everything: a throw from a tool
// becomes an isError result; keyhold::NotFound / keyhold::InvalidArgument map to the
// matching status for other methods. Nothing C++ crosses the ABI.
#pragma once

#include <keyhold/plugin.h>
#include <keyhold/sdk/json_write.hpp>

#include <exception>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace keyhold {

using json = nlohmann::json;

// Thrown by a plugin method: the named resource/prompt does not exist (KH_NOT_FOUND).
struct NotFound : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Thrown by a plugin method: the parameters are wrong (KH_INVALID_ARGUMENT).
struct InvalidArgument : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Thrown when the request was cancelled; the host sends no result.
struct Cancelled : std::runtime_error {
  Cancelled() : std::runtime_error("cancelled") {}
};
// Thrown by Context::request_client when the client answered with an error or cannot
// answer; status() is the KH_* code.
class ClientRequestError : public std::runtime_error {
 public:
  ClientRequestError(int32_t status, const std::string& what)
      : std::runtime_error(what), status_(status) {}
  int32_t status() const noexcept { return status_; }

 private:
  int32_t status_;
};

namespace detail {
inline void append_to_string(void* host_data, const char* data, size_t size) {
  static_cast<std::string*>(host_data)->append(data, size);
}
inline kh_str to_kh(std::string_view s) { return kh_str{s.data(), s.size()}; }
inline void write(kh_sink* sink, std::string_view s) {
  if (sink != nullptr && sink->append != nullptr) sink->append(sink->host_data, s.data(), s.size());
}
// True when the host's table is large enough to contain `field`.
#define KEYHOLD_API_HAS(api, field)                                             \
  ((api) != nullptr &&                                                          \
   (api)->struct_size >= offsetof(kh_host_api, field) + sizeof((api)->field) && \
   (api)->field != nullptr)
}  // namespace detail

// The instance-level host services. Cheap to copy; valid from construction of the plugin
// object until its destructor returns.
class Host {
 public:
  Host(kh_host* host, const kh_host_api* api) noexcept : host_(host), api_(api) {}

  // Logs to the host's stderr log (not to the client: use Context::log in a request).
  void log(int32_t level, std::string_view message) const noexcept {
    if (KEYHOLD_API_HAS(api_, log)) api_->log(host_, nullptr, level, detail::to_kh(message));
  }
  // Tells clients that the list of tools / resources / prompts changed (KH_LIST_*).
  void notify_list_changed(int32_t what) const noexcept {
    if (KEYHOLD_API_HAS(api_, notify_list_changed)) api_->notify_list_changed(host_, what);
  }
  // Tells subscribed clients that resource `uri` changed.
  void notify_resource_updated(std::string_view uri) const noexcept {
    if (KEYHOLD_API_HAS(api_, notify_resource_updated))
      api_->notify_resource_updated(host_, detail::to_kh(uri));
  }
  // Reads redacted output of a child (stream 1 = stdout, 2 = stderr), waiting at most
  // timeout_ms; KH_NOT_FOUND at end of stream.
  int32_t read_process(uint64_t process, int32_t stream, int32_t timeout_ms,
                       std::string* out) const {
    if (!KEYHOLD_API_HAS(api_, process_read)) return KH_UNSUPPORTED;
    kh_sink sink{out, &detail::append_to_string};
    return api_->process_read(host_, process, stream, timeout_ms, &sink);
  }
  // Waits for exit (timeout_ms < 0: forever); *status as from waitpid.
  int32_t wait_process(uint64_t process, int32_t timeout_ms, int32_t* status) const {
    if (!KEYHOLD_API_HAS(api_, process_wait)) return KH_UNSUPPORTED;
    return api_->process_wait(host_, process, timeout_ms, status);
  }
  // Signals the child's whole process group.
  int32_t kill_process(uint64_t process, int32_t signal_number) const {
    if (!KEYHOLD_API_HAS(api_, process_kill)) return KH_UNSUPPORTED;
    return api_->process_kill(host_, process, signal_number);
  }
  int32_t release_secret(kh_secret_handle handle) const {
    if (!KEYHOLD_API_HAS(api_, secret_release)) return KH_UNSUPPORTED;
    return api_->secret_release(host_, handle);
  }
  kh_host* raw() const noexcept { return host_; }
  const kh_host_api* api() const noexcept { return api_; }

 private:
  kh_host* host_;
  const kh_host_api* api_;
};

// One request in flight. Valid only during the plugin method that received it.
class Context {
 public:
  Context(Host host, const kh_call_ctx* ctx) noexcept : host_(host), ctx_(ctx) {}

  // Sends a notifications/message to the client (and the host log).
  void log(int32_t level, std::string_view message) const noexcept {
    auto* api = host_.api();
    if (KEYHOLD_API_HAS(api, log)) api->log(host_.raw(), ctx_, level, detail::to_kh(message));
  }
  // Reports progress; total < 0 means unknown.
  void progress(double progress, double total = -1, std::string_view message = {}) const noexcept {
    auto* api = host_.api();
    if (KEYHOLD_API_HAS(api, progress))
      api->progress(host_.raw(), ctx_, progress, total, detail::to_kh(message));
  }
  // True once the client cancelled this request.
  bool cancelled() const noexcept {
    auto* api = host_.api();
    return KEYHOLD_API_HAS(api, is_cancelled) && api->is_cancelled(host_.raw(), ctx_) != 0;
  }
  // Throws keyhold::Cancelled when the request was cancelled.
  void throw_if_cancelled() const {
    if (cancelled()) throw Cancelled();
  }
  // Sends a request to the client (sampling/createMessage, elicitation/create, ...) and
  // returns its result. Throws ClientRequestError or Cancelled.
  json request_client(std::string_view method, const json& params) const {
    auto* api = host_.api();
    if (!KEYHOLD_API_HAS(api, client_request))
      throw ClientRequestError(KH_UNSUPPORTED, "host does not offer client requests");
    std::string out;
    kh_sink sink{&out, &detail::append_to_string};
    const std::string body = params.dump();
    int32_t status =
        api->client_request(host_.raw(), ctx_, detail::to_kh(method), detail::to_kh(body), &sink);
    if (status == KH_CANCELLED) throw Cancelled();
    if (status != KH_OK)
      throw ClientRequestError(status, out.empty() ? std::string("client request failed") : out);
    return json::parse(out);
  }
  const Host& host() const noexcept { return host_; }
  const kh_call_ctx* raw() const noexcept { return ctx_; }

  // ---- secrets (each returns a KH_* status; KH_NOT_GRANTED without a grant) ----

  // Acquires a handle for a declared alias.
  int32_t acquire_secret(std::string_view alias, kh_secret_handle* out) const noexcept {
    auto* api = host_.api();
    if (!KEYHOLD_API_HAS(api, secret_acquire)) return KH_UNSUPPORTED;
    return api->secret_acquire(host_.raw(), ctx_, detail::to_kh(alias), out);
  }
  // Calls use(bytes) with the value; the host zeroes its buffer afterwards, so use must
  // copy only into memory it wipes itself (e.g. straight into a library's connect call).
  template <class F>
  int32_t reveal_secret(kh_secret_handle handle, F&& use) const {
    auto* api = host_.api();
    if (!KEYHOLD_API_HAS(api, secret_reveal)) return KH_UNSUPPORTED;
    using Fn = std::remove_reference_t<F>;
    auto trampoline = [](void* user, const unsigned char* value, size_t size) {
      (*static_cast<Fn*>(user))(std::string_view(reinterpret_cast<const char*>(value), size));
    };
    void* user = const_cast<void*>(static_cast<const void*>(std::addressof(use)));
    return api->secret_reveal(host_.raw(), ctx_, handle, trampoline, user);
  }
  // "hmac-sha256" over data, or "aws4-signing-key" for {"date","region","service"}.
  int32_t sign_with_secret(kh_secret_handle handle, std::string_view algorithm,
                           std::string_view data, std::string* out) const {
    auto* api = host_.api();
    if (!KEYHOLD_API_HAS(api, secret_sign)) return KH_UNSUPPORTED;
    kh_sink sink{out, &detail::append_to_string};
    return api->secret_sign(host_.raw(), ctx_, handle, detail::to_kh(algorithm),
                            detail::to_kh(data), &sink);
  }
  // Starts a child: {"argv":[...],"cwd":"...","env":{...},"secret_env":{"VAR":"alias"}}.
  int32_t spawn_process(const json& spec, uint64_t* process, std::string* error) const {
    auto* api = host_.api();
    if (!KEYHOLD_API_HAS(api, process_spawn)) return KH_UNSUPPORTED;
    const std::string body = spec.dump();
    kh_sink sink{error, &detail::append_to_string};
    return api->process_spawn(host_.raw(), ctx_, detail::to_kh(body), process, &sink);
  }

 private:
  Host host_;
  const kh_call_ctx* ctx_;
};

// Base class of a C++ plugin. Override what the plugin offers; the defaults answer
// "not found" / "nothing". The Host given to the constructor stays valid for the
// object's whole life.
class Plugin {
 public:
  explicit Plugin(Host host) noexcept : host_(host) {}
  virtual ~Plugin() = default;
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;
  const Host& host() const noexcept { return host_; }

  // The catalog: {"tools":[...],"resources":[...],"resourceTemplates":[...],"prompts":[...]}.
  virtual json describe() = 0;
  // Runs a tool; returns an MCP CallToolResult. A throw becomes an isError result.
  virtual json call_tool(Context& ctx, std::string_view name, const json& arguments) = 0;
  // Returns an MCP ReadResourceResult ({"contents":[...]}).
  virtual json read_resource(Context&, std::string_view uri) {
    throw NotFound("unknown resource: " + std::string(uri));
  }
  // Returns an MCP GetPromptResult.
  virtual json get_prompt(Context&, std::string_view name, const json&) {
    throw NotFound("unknown prompt: " + std::string(name));
  }
  // Returns an MCP CompleteResult; params are the completion/complete params.
  virtual json complete(Context&, const json&) {
    return json{{"completion", {{"values", json::array()}, {"hasMore", false}}}};
  }
  virtual void subscribe(Context&, std::string_view) {}
  virtual void unsubscribe(Context&, std::string_view) {}

 private:
  Host host_;
};

// Convenience: a CallToolResult with one text block.
inline json text_result(std::string_view text, bool is_error = false) {
  json result{{"content", json::array({json{{"type", "text"}, {"text", std::string(text)}}})}};
  if (is_error) result["isError"] = true;
  return result;
}

namespace detail {

template <class P>
struct Exports {
  static int32_t create(kh_host* host, const kh_host_api* api, kh_str instance_name,
                        kh_str options_json, void** out_instance, kh_sink* error) noexcept {
    try {
      json options = options_json.size == 0
                         ? json::object()
                         : json::parse(std::string_view(options_json.data, options_json.size));
      auto* plugin =
          new P(Host(host, api), std::string_view(instance_name.data, instance_name.size), options);
      *out_instance = static_cast<Plugin*>(plugin);
      return KH_OK;
    } catch (const std::exception& e) {
      write(error, e.what());
    } catch (...) {
      write(error, "unknown exception in plugin constructor");
    }
    return KH_ERROR;
  }

  static void destroy(void* instance) noexcept {
    try {
      delete static_cast<Plugin*>(instance);
    } catch (...) {
    }
  }

  static int32_t describe(void* instance, kh_sink* out) noexcept {
    try {
      write(out, sdk::json_text(static_cast<Plugin*>(instance)->describe()));
      return KH_OK;
    } catch (const std::exception& e) {
      write(out, e.what());
    } catch (...) {
      write(out, "unknown exception in describe");
    }
    return KH_ERROR;
  }

  static int32_t call(void* instance, const kh_call_ctx* raw_ctx, kh_str method_str,
                      kh_str params_json, kh_sink* out) noexcept {
    auto* plugin = static_cast<Plugin*>(instance);
    const std::string_view method(method_str.data, method_str.size);
    try {
      Context ctx(plugin->host(), raw_ctx);
      const json params = json::parse(std::string_view(params_json.data, params_json.size));
      json result;
      if (method == "tools/call") {
        const std::string name = params.at("name").get<std::string>();
        const json arguments = params.contains("arguments") ? params["arguments"] : json::object();
        try {
          result = plugin->call_tool(ctx, name, arguments);
        } catch (const Cancelled&) {
          throw;
        } catch (const std::exception& e) {
          result = text_result(e.what(), true);
        }
      } else if (method == "resources/read") {
        result = plugin->read_resource(ctx, params.at("uri").get<std::string>());
      } else if (method == "prompts/get") {
        const json arguments = params.contains("arguments") ? params["arguments"] : json::object();
        result = plugin->get_prompt(ctx, params.at("name").get<std::string>(), arguments);
      } else if (method == "completion/complete") {
        result = plugin->complete(ctx, params);
      } else if (method == "resources/subscribe") {
        plugin->subscribe(ctx, params.at("uri").get<std::string>());
        result = json::object();
      } else if (method == "resources/unsubscribe") {
        plugin->unsubscribe(ctx, params.at("uri").get<std::string>());
        result = json::object();
      } else {
        write(out, "method not offered by this plugin");
        return KH_UNSUPPORTED;
      }
      // Invalid UTF-8 in a result is replaced (U+FFFD) rather than failing the call.
      write(out, sdk::json_text(result));
      return KH_OK;
    } catch (const Cancelled&) {
      write(out, "cancelled");
      return KH_CANCELLED;
    } catch (const NotFound& e) {
      write(out, e.what());
      return KH_NOT_FOUND;
    } catch (const InvalidArgument& e) {
      write(out, e.what());
      return KH_INVALID_ARGUMENT;
    } catch (const json::exception& e) {
      write(out, std::string("bad parameters: ") + e.what());
      return KH_INVALID_ARGUMENT;
    } catch (const std::exception& e) {
      write(out, e.what());
    } catch (...) {
      write(out, "unknown exception in plugin");
    }
    return KH_ERROR;
  }
};

}  // namespace detail

namespace detail {
template <class P>
const kh_plugin* definition(const char* name, const char* version, const char* description) {
  static_assert(std::is_base_of_v<Plugin, P>,
                "KEYHOLD_PLUGIN(Class, ...): Class must derive from keyhold::Plugin");
  static_assert(std::is_constructible_v<P, Host, std::string_view, const json&>,
                "KEYHOLD_PLUGIN(Class, ...): Class needs a constructor "
                "Class(keyhold::Host, std::string_view instance, const nlohmann::json& options)");
  static const kh_plugin def = [&] {
    kh_plugin d{};
    d.struct_size = sizeof(kh_plugin);
    d.abi_major = KH_ABI_MAJOR;
    d.abi_minor = KH_ABI_MINOR;
    d.name = name;
    d.version = version;
    d.description = description;
    if constexpr (requires { P::secret_declarations(); }) {
      std::span<const kh_secret_decl> secrets = P::secret_declarations();
      d.secrets = secrets.data();
      d.secret_count = static_cast<uint32_t>(secrets.size());
    }
    d.create = &Exports<P>::create;
    d.destroy = &Exports<P>::destroy;
    d.describe = &Exports<P>::describe;
    d.call = &Exports<P>::call;
    return d;
  }();
  return &def;
}
}  // namespace detail

}  // namespace keyhold

// Exports Class as this library's plugin. Use once per shared library, at namespace scope.
#define KEYHOLD_PLUGIN(Class, name, version, description)                    \
  extern "C" KH_EXPORT const kh_plugin* keyhold_plugin_entry(void) {         \
    return ::keyhold::detail::definition<Class>(name, version, description); \
  }
