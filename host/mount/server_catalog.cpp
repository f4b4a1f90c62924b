#include "mount/server_catalog.hpp"

#include <set>

#include "loader/registry.hpp"
#include "loader/tool_schema.hpp"

namespace keyhold::mount {

using nlohmann::json;

namespace {

// The entries of list whose `key` is a non-empty string not seen before.
json unique_by(const json& list, const char* key, const char* what,
               std::vector<std::string>* dropped) {
  json out = json::array();
  std::set<std::string> seen;
  if (!list.is_array()) return out;
  for (const auto& item : list) {
    auto field = item.is_object() ? item.find(key) : item.end();
    if (!item.is_object() || field == item.end() || !field->is_string() ||
        field->get_ref<const std::string&>().empty()) {
      if (dropped) dropped->push_back(std::string("a ") + what + " without a " + key);
      continue;
    }
    const std::string& name = field->get_ref<const std::string&>();
    if (!seen.insert(name).second) {
      if (dropped) dropped->push_back(std::string(what) + " '" + name + "' is listed twice");
      continue;
    }
    out.push_back(item);
  }
  return out;
}

}  // namespace

json catalog_from_server_lists(const ServerLists& lists, std::vector<std::string>* dropped) {
  json tools = json::array();
  for (auto& tool : unique_by(lists.tools, "name", "tool", dropped)) {
    const std::string name = tool["name"].get<std::string>();
    if (!valid_tool_name(name)) {
      if (dropped)
        dropped->push_back("tool '" + name +
                           "': its name is not 1-128 characters of [A-Za-z0-9_.-]");
      continue;
    }
    auto input = tool.find("inputSchema");
    Status schema_status = ToolSchema::compile(input == tool.end() ? json() : *input).status();
    if (auto output = tool.find("outputSchema"); schema_status.is_ok() && output != tool.end())
      schema_status = ToolSchema::compile(*output, ToolSchema::Kind::kOutput).status();
    if (!schema_status.is_ok()) {
      if (dropped) dropped->push_back("tool '" + name + "': " + schema_status.message());
      continue;
    }
    tools.push_back(std::move(tool));
  }
  return json{{"tools", std::move(tools)},
              {"resources", unique_by(lists.resources, "uri", "resource", dropped)},
              {"resourceTemplates",
               unique_by(lists.resource_templates, "uriTemplate", "resource template", dropped)},
              {"prompts", unique_by(lists.prompts, "name", "prompt", dropped)}};
}

std::string append_page(const json& page, const char* key, json* items) {
  if (!page.is_object()) return {};
  if (auto list = page.find(key); list != page.end() && list->is_array())
    for (const auto& item : *list) items->push_back(item);
  auto cursor = page.find("nextCursor");
  if (cursor == page.end() || !cursor->is_string()) return {};
  return cursor->get<std::string>();
}

}  // namespace keyhold::mount
