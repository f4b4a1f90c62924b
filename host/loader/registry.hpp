#pragma once
// The catalog of every loaded instance: exposed tool/prompt names (prefix + name),
// resources by URI and resource templates, with collision checks. Readers take an
// immutable snapshot, so listing and lookups never block on a reload.
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "loader/plugin_instance.hpp"
#include "loader/tool_schema.hpp"

namespace keyhold {

struct ToolBinding {
  std::string exposed_name;  // what clients see: prefix + plugin name
  std::string plugin_name;   // what the plugin calls it
  PluginInstance* instance = nullptr;
  std::shared_ptr<const ToolSchema> input_schema;
  std::shared_ptr<const ToolSchema> output_schema;  // null when the tool declares none
};

struct PromptBinding {
  std::string exposed_name;
  std::string plugin_name;
  PluginInstance* instance = nullptr;
};

struct CatalogSnapshot {
  nlohmann::json tools = nlohmann::json::array();  // definitions with exposed names
  nlohmann::json prompts = nlohmann::json::array();
  nlohmann::json resources = nlohmann::json::array();
  nlohmann::json resource_templates = nlohmann::json::array();
  std::unordered_map<std::string, ToolBinding> tool_by_name;
  std::unordered_map<std::string, PromptBinding> prompt_by_name;
  std::unordered_map<std::string, PluginInstance*> resource_by_uri;
  // (template, owner) in load order; matched by template_matches().
  std::vector<std::pair<std::string, PluginInstance*>> templates;
};

// True when name is 1-128 characters of [A-Za-z0-9_.-], the tool names MCP clients accept.
bool valid_tool_name(std::string_view name);

class Registry {
 public:
  Registry() = default;
  ~Registry();  // destroys instances in reverse load order
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Reads the created instance's catalog, validates it (names, input schemas) and adds
  // it unless a name or URI collides with an instance already loaded. On failure returns
  // a one-line cause, and the instance is destroyed.
  Status add(std::unique_ptr<PluginInstance> instance);
  // The same with the catalog the instance's describe() returned, read by the caller.
  Status add(std::unique_ptr<PluginInstance> instance, nlohmann::json catalog);

  // Re-reads one instance's catalog (after it signalled list_changed). On failure the
  // previous catalog stays in force and the Status says why.
  Status refresh(PluginInstance& instance);

  std::shared_ptr<const CatalogSnapshot> snapshot() const;

  // The owner of a URI: an exact resource first, then the first matching template.
  PluginInstance* resource_owner(std::string_view uri) const;

  // Instances in load order.
  std::vector<PluginInstance*> instances() const;

  // Destroys every instance in reverse load order; the registry is empty afterwards.
  void clear();

 private:
  struct Entry {
    std::unique_ptr<PluginInstance> instance;
    nlohmann::json catalog;
  };
  // Builds a snapshot from entries; a cause on a collision or invalid catalog.
  static Status build(const std::vector<const Entry*>& entries, CatalogSnapshot* out);

  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
  std::shared_ptr<const CatalogSnapshot> snapshot_ = std::make_shared<CatalogSnapshot>();
};

}  // namespace keyhold
