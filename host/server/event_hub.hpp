#pragma once
// Instance-wide events from plugins (list_changed, resource updates, logs outside a
// request), fanned out to every attached session.
#include <mutex>
#include <vector>

#include "loader/host_services.hpp"
#include "loader/registry.hpp"
#include "server/session.hpp"

namespace keyhold {

class EventHub : public HostServices {
 public:
  explicit EventHub(Registry& registry) : registry_(registry) {}

  void attach(Session* session);
  void detach(Session* session);

  void plugin_log(const PluginInstance& from, const CallContext* ctx, int32_t level,
                  std::string_view message) override;
  void plugin_progress(CallContext&, double, double, std::string_view) override {}
  // Re-reads the instance's catalog, then tells every session.
  void plugin_list_changed(PluginInstance& from, int32_t what) override;
  void plugin_resource_updated(PluginInstance& from, std::string_view uri) override;
  int32_t plugin_client_request(CallContext&, std::string_view, std::string_view,
                                std::string* out) override;

 private:
  Registry& registry_;
  std::mutex mutex_;
  std::vector<Session*> sessions_;
};

}  // namespace keyhold
