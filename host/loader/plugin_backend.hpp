#pragma once
// Where a plugin instance's code runs. In-process: the plugin's library is loaded into the
// host and called directly (trusted code only). Process: a sandboxed keyhold-runner loads
// it and every call and host service crosses a channel (the default; see
// runner_backend.hpp). PluginInstance talks to either through this interface.
#include <keyhold/plugin.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "loader/call_context.hpp"
#include "loader/plugin_library.hpp"

namespace keyhold {

// The outcome of a call into a plugin: a KH_* status and the bytes it wrote.
struct PluginReply {
  int32_t status = KH_ERROR;
  std::string body;  // result JSON on KH_OK, otherwise a UTF-8 message
  // KH_OK from a backend that holds the result parsed already (a mounted server, which
  // reads it inside a JSON-RPC message): the result object, and body is empty. It was
  // parsed within the limits of the message it came in (no deeper than
  // rpc::kMaxPluginJsonDepth); the caller uses it instead of parsing body.
  nlohmann::json result;
};

class PluginBackend {
 public:
  virtual ~PluginBackend() = default;
  // The plugin's definition (name, version, secret declarations). Only the data fields
  // are meaningful; for a runner the function pointers are null.
  virtual const kh_plugin& definition() const = 0;
  // "in-process" or "process".
  virtual std::string_view isolation() const = 0;
  // One line per sandbox mechanism applied / missing (empty in-process).
  virtual std::vector<std::string> sandbox_applied() const { return {}; }
  virtual std::vector<std::string> sandbox_missing() const { return {}; }
  // create(): `host` is the instance's kh_host, given to the plugin in-process and used
  // by a runner backend to answer the runner's service requests. Returns a KH_* status;
  // *message holds the plugin's error text.
  virtual int32_t create(kh_host* host, std::string_view name, std::string_view options_json,
                         std::string* message) = 0;
  virtual int32_t describe(std::string* body) = 0;
  // Thread-safe: calls may run concurrently on different contexts.
  virtual int32_t call(CallContext& ctx, std::string_view method, std::string_view params_json,
                       std::string* body) = 0;
  // call() for a caller that holds params parsed: a backend that parses its result anyway
  // (a mounted server) hands it over in reply.result instead of as text.
  virtual PluginReply call_json(CallContext& ctx, std::string_view method,
                                const nlohmann::json& params);
  // The reply to a call started with call_async().
  using CallDone = std::function<void(PluginReply reply)>;
  // Starts a call whose reply goes to `done` on whichever thread reads it (this one, if it
  // fails at once), so no thread waits for it. False, with `done` untouched, when this
  // backend cannot now; the caller then uses call(). params is the call's params object
  // (the backend copies or serialises what it keeps). ctx stays alive until done has run;
  // done must not throw.
  virtual bool call_async(const std::shared_ptr<CallContext>& /*ctx*/, std::string_view /*method*/,
                          const nlohmann::json& /*params*/, CallDone& /*done*/) {
    return false;
  }
  // Destroys the plugin object; no call is in flight. Idempotent.
  virtual void destroy() = 0;
};

// An async call (PluginBackend::call_async) taken out of its backend's table once done, to
// be finished with no lock held.
struct FinishedCall {
  PluginBackend::CallDone finish;
  PluginReply reply;
  std::shared_ptr<CallContext> owner;
  std::shared_ptr<void> kept;  // what the call kept alive (its runner, its connection)
};
// Hands each reply to its caller and empties finished; no lock may be held. Mostly run by
// the thread that reads a stream every call needs (a runner's channel, a server's stdout),
// so it never waits for the client to read (base/client_wait.hpp).
void run_finished(std::vector<FinishedCall>& finished);

// The plugin's library loaded into the host process.
class InProcessBackend final : public PluginBackend {
 public:
  explicit InProcessBackend(std::shared_ptr<PluginLibrary> library)
      : library_(std::move(library)) {}
  ~InProcessBackend() override { destroy(); }

  const kh_plugin& definition() const override { return library_->definition(); }
  std::string_view isolation() const override { return "in-process"; }
  int32_t create(kh_host* host, std::string_view name, std::string_view options_json,
                 std::string* message) override;
  int32_t describe(std::string* body) override;
  int32_t call(CallContext& ctx, std::string_view method, std::string_view params_json,
               std::string* body) override;
  void destroy() override;

 private:
  std::shared_ptr<PluginLibrary> library_;
  void* object_ = nullptr;
};

}  // namespace keyhold
