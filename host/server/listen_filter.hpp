#pragma once
// The notification filter of an MCP 2026-07-28 `subscriptions/listen` request: which change
// notifications a client opts in to on one listen stream. The server must send nothing the
// filter does not name, so every notification is checked against it before it leaves.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>

#include "protocol/params.hpp"

namespace keyhold {

// What a hostile client may ask of one listen stream.
struct ListenLimits {
  std::size_t max_resource_uris = 256;  // entries of resourceSubscriptions
  std::size_t max_uri_bytes = 2048;     // one URI
};

struct ListenFilter {
  bool tools_list_changed = false;
  bool prompts_list_changed = false;
  bool resources_list_changed = false;
  std::set<std::string> resource_uris;  // notifications/resources/updated for these

  // True when a notification with this method (and, for resources/updated, this URI)
  // was opted in to.
  bool wants(std::string_view method, std::string_view uri = {}) const;
  // The filter as the acknowledgement states it: only the fields honored, each true or a
  // non-empty list.
  nlohmann::json to_json() const;
};

// Reads params.notifications of a subscriptions/listen request. Every field is optional,
// the object itself is required; a boolean field must be a boolean, resourceSubscriptions
// an array of non-empty strings within `limits`. Unknown fields are ignored (a newer
// revision may add types; they are then simply not acknowledged). The error names the
// field and never quotes a client's value.
mcp::Result<ListenFilter> parse_listen_filter(const nlohmann::json& params,
                                              const ListenLimits& limits);

// The method of the list_changed notification for a KH_LIST_* value.
const char* list_changed_method(int32_t what);

}  // namespace keyhold
