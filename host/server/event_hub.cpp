#include "server/event_hub.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace keyhold {

void EventHub::attach(Session* session) {
  std::lock_guard lock(mutex_);
  sessions_.push_back(session);
}

void EventHub::detach(Session* session) {
  std::lock_guard lock(mutex_);
  sessions_.erase(std::remove(sessions_.begin(), sessions_.end(), session), sessions_.end());
}

void EventHub::plugin_log(const PluginInstance& from, const CallContext*, int32_t level,
                          std::string_view message) {
  if (plugin_level_logged(level) && admit_plugin_line(from))
    log_plugin_line(from.name(), level, message);
}

void EventHub::plugin_list_changed(PluginInstance& from, int32_t what) {
  if (Status refreshed = registry_.refresh(from); !refreshed.is_ok()) {
    spdlog::warn("instance '{}' changed its catalog, but the new one is refused: {}", from.name(),
                 refreshed.message());
    return;
  }
  std::lock_guard lock(mutex_);
  for (Session* session : sessions_) session->notify_list_changed(what);
}

void EventHub::plugin_resource_updated(PluginInstance&, std::string_view uri) {
  std::lock_guard lock(mutex_);
  for (Session* session : sessions_) session->notify_resource_updated(uri);
}

int32_t EventHub::plugin_client_request(CallContext&, std::string_view, std::string_view,
                                        std::string* out) {
  *out = "client requests need a request context";
  return KH_UNAVAILABLE;
}

}  // namespace keyhold
