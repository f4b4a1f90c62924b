#pragma once
// One configured instance of a plugin: its backend (the plugin in this process, or in a
// sandboxed runner) plus the kh_host through which it reaches the host's services.
#include <keyhold/plugin.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/log_budget.hpp"
#include "base/status.hpp"
#include "loader/host_services.hpp"
#include "loader/plugin_backend.hpp"
#include "secrets/secret_services.hpp"

namespace keyhold {
class PluginInstance;
}

// Defined at global scope because plugin.h declares it there (as an opaque type).
struct kh_host {
  keyhold::PluginInstance* instance;
};

namespace keyhold {

class PluginInstance {
 public:
  // `events` receives instance-wide events (list_changed, logs outside a request); it
  // must outlive the instance.
  PluginInstance(std::string name, std::string prefix, std::unique_ptr<PluginBackend> backend,
                 nlohmann::json options, HostServices* events);
  ~PluginInstance();  // destroys the plugin object, if created
  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  // Calls the plugin's create(); kInternal with the plugin's message on failure.
  Status create();
  // The plugin's catalog; an error when describe() fails or does not return a JSON object.
  Result<nlohmann::json> describe();
  // Forwards one request. Thread-safe as the ABI promises (concurrent calls allowed).
  PluginReply call(CallContext& ctx, std::string_view method, const nlohmann::json& params);
  // Starts one request answered later through `done` (PluginBackend::call_async); false,
  // with done unused, when the backend cannot now: then use call().
  bool call_async(const std::shared_ptr<CallContext>& ctx, std::string_view method,
                  const nlohmann::json& params, std::function<void(PluginReply)> done);

  const std::string& name() const noexcept { return name_; }
  const std::string& prefix() const noexcept { return prefix_; }
  const PluginBackend& backend() const noexcept { return *backend_; }
  HostServices* events() const noexcept { return events_; }
  void set_events(HostServices* events) noexcept { events_ = events; }
  // Secret handles and child processes; null means "nothing is granted".
  secrets::SecretServices* secrets() const noexcept { return secrets_; }
  void set_secrets(secrets::SecretServices* secrets) noexcept { secrets_ = secrets; }
  secrets::GuardMode guard() const noexcept { return guard_; }
  void set_guard(secrets::GuardMode guard) noexcept { guard_ = guard; }
  // What the instance may log (host log and client notifications alike).
  LogBudget& log_budget() const noexcept { return log_budget_; }

  // The services table every instance receives.
  static const kh_host_api& host_api() noexcept;

 private:
  std::string name_;
  std::string prefix_;
  std::unique_ptr<PluginBackend> backend_;
  nlohmann::json options_;
  HostServices* events_;
  secrets::SecretServices* secrets_ = nullptr;
  secrets::GuardMode guard_ = secrets::GuardMode::kBlock;
  mutable LogBudget log_budget_;
  kh_host host_{this};
};

}  // namespace keyhold
