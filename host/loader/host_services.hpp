#pragma once
// What a plugin instance asks of the host, seen from the host: implemented by the MCP
// session (request-bound services) and by the server (instance-wide events).
#include <cstdint>
#include <string>
#include <string_view>

#include "loader/call_context.hpp"

namespace keyhold {

class PluginInstance;

class HostServices {
 public:
  virtual ~HostServices() = default;
  // A log line from a plugin; ctx is null outside a request.
  virtual void plugin_log(const PluginInstance& from, const CallContext* ctx, int32_t level,
                          std::string_view message) = 0;
  virtual void plugin_progress(CallContext& ctx, double progress, double total,
                               std::string_view message) = 0;
  virtual void plugin_list_changed(PluginInstance& from, int32_t what) = 0;
  virtual void plugin_resource_updated(PluginInstance& from, std::string_view uri) = 0;
  // Sends a request to the client and waits; returns a KH_* status and the result (or the
  // error object / message) in *out.
  virtual int32_t plugin_client_request(CallContext& ctx, std::string_view method,
                                        std::string_view params_json, std::string* out) = 0;
};

}  // namespace keyhold
