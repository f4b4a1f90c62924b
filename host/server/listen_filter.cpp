#include "server/listen_filter.hpp"

#include <keyhold/plugin.h>

namespace keyhold {

using nlohmann::json;

namespace {
constexpr std::string_view kToolsChanged = "notifications/tools/list_changed";
constexpr std::string_view kPromptsChanged = "notifications/prompts/list_changed";
constexpr std::string_view kResourcesChanged = "notifications/resources/list_changed";
constexpr std::string_view kResourceUpdated = "notifications/resources/updated";

mcp::Status invalid(std::string message) {
  return mcp::Status(vault::ErrorCode::kInvalidArgument, std::move(message));
}
}  // namespace

const char* list_changed_method(int32_t what) {
  return what == KH_LIST_TOOLS       ? kToolsChanged.data()
         : what == KH_LIST_RESOURCES ? kResourcesChanged.data()
                                     : kPromptsChanged.data();
}

bool ListenFilter::wants(std::string_view method, std::string_view uri) const {
  if (method == kToolsChanged) return tools_list_changed;
  if (method == kPromptsChanged) return prompts_list_changed;
  if (method == kResourcesChanged) return resources_list_changed;
  if (method == kResourceUpdated) return resource_uris.contains(std::string(uri));
  return false;
}

json ListenFilter::to_json() const {
  json out = json::object();
  if (tools_list_changed) out["toolsListChanged"] = true;
  if (prompts_list_changed) out["promptsListChanged"] = true;
  if (resources_list_changed) out["resourcesListChanged"] = true;
  if (!resource_uris.empty()) {
    out["resourceSubscriptions"] = json::array();
    for (const auto& uri : resource_uris) out["resourceSubscriptions"].push_back(uri);
  }
  return out;
}

mcp::Result<ListenFilter> parse_listen_filter(const json& params, const ListenLimits& limits) {
  auto field = params.find("notifications");
  if (field == params.end()) return invalid("\"notifications\" is required");
  if (!field->is_object()) return invalid("\"notifications\" must be an object");
  ListenFilter filter;
  const std::pair<const char*, bool ListenFilter::*> flags[] = {
      {"toolsListChanged", &ListenFilter::tools_list_changed},
      {"promptsListChanged", &ListenFilter::prompts_list_changed},
      {"resourcesListChanged", &ListenFilter::resources_list_changed},
  };
  for (const auto& [name, member] : flags) {
    auto flag = field->find(name);
    if (flag == field->end()) continue;
    if (!flag->is_boolean())
      return invalid("\"notifications." + std::string(name) + "\" must be a boolean");
    filter.*member = flag->get<bool>();
  }
  auto uris = field->find("resourceSubscriptions");
  if (uris != field->end()) {
    if (!uris->is_array())
      return invalid("\"notifications.resourceSubscriptions\" must be an array of strings");
    if (uris->size() > limits.max_resource_uris)
      return invalid("\"notifications.resourceSubscriptions\" lists " +
                     std::to_string(uris->size()) + " URIs; at most " +
                     std::to_string(limits.max_resource_uris) +
                     " per stream (open another subscriptions/listen for more)");
    for (std::size_t i = 0; i < uris->size(); ++i) {
      const json& uri = (*uris)[i];
      const std::string where =
          "\"notifications.resourceSubscriptions[" + std::to_string(i) + "]\"";
      if (!uri.is_string() || uri.get_ref<const std::string&>().empty())
        return invalid(where + " must be a non-empty string");
      if (uri.get_ref<const std::string&>().size() > limits.max_uri_bytes)
        return invalid(where + " is longer than " + std::to_string(limits.max_uri_bytes) +
                       " bytes");
      filter.resource_uris.insert(uri.get<std::string>());
    }
  }
  return filter;
}

}  // namespace keyhold
