#include "loader/registry.hpp"

#include "protocol/uri_template.hpp"

namespace keyhold {

namespace {
const nlohmann::json& list_of(const nlohmann::json& catalog, const char* key) {
  static const nlohmann::json empty = nlohmann::json::array();
  auto it = catalog.find(key);
  return (it != catalog.end() && it->is_array()) ? *it : empty;
}

}  // namespace

bool valid_tool_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Status Registry::build(const std::vector<const Entry*>& entries, CatalogSnapshot* out) {
  CatalogSnapshot snap;
  std::unordered_map<std::string, std::string> tool_owner, prompt_owner, uri_owner;
  for (const Entry* entry : entries) {
    PluginInstance* inst = entry->instance.get();
    const std::string& who = inst->name();
    for (const auto& tool : list_of(entry->catalog, "tools")) {
      if (!tool.is_object() || !tool.contains("name") || !tool["name"].is_string()) {
        return invalid_argument("instance '" + who + "': a tool has no name");
      }
      const std::string name = tool["name"].get_ref<const std::string&>();
      const std::string exposed = inst->prefix() + name;
      if (!valid_tool_name(exposed)) {
        return invalid_argument("instance '" + who + "': tool name '" + exposed +
                                "' is not 1-128 characters of [A-Za-z0-9_.-]");
      }
      if (auto it = tool_owner.find(exposed); it != tool_owner.end()) {
        return invalid_argument("tool '" + exposed + "' of instance '" + who +
                                "' collides with instance '" + it->second +
                                "'; give one of them another prefix");
      }
      auto input = tool.find("inputSchema");
      auto schema = ToolSchema::compile(input == tool.end() ? nlohmann::json() : *input);
      if (!schema.is_ok()) {
        return invalid_argument("instance '" + who + "': tool '" + name +
                                "': " + schema.status().message());
      }
      std::shared_ptr<const ToolSchema> output_schema;
      if (auto output = tool.find("outputSchema"); output != tool.end()) {
        auto compiled = ToolSchema::compile(*output, ToolSchema::Kind::kOutput);
        if (!compiled.is_ok()) {
          return invalid_argument("instance '" + who + "': tool '" + name +
                                  "': " + compiled.status().message());
        }
        output_schema = std::move(compiled).value();
      }
      tool_owner[exposed] = who;
      nlohmann::json def = tool;
      def["name"] = exposed;
      snap.tools.push_back(std::move(def));
      snap.tool_by_name[exposed] =
          ToolBinding{exposed, name, inst, std::move(schema).value(), std::move(output_schema)};
    }
    for (const auto& prompt : list_of(entry->catalog, "prompts")) {
      if (!prompt.is_object() || !prompt.contains("name") || !prompt["name"].is_string()) {
        return invalid_argument("instance '" + who + "': a prompt has no name");
      }
      const std::string name = prompt["name"].get<std::string>();
      const std::string exposed = inst->prefix() + name;
      if (auto it = prompt_owner.find(exposed); it != prompt_owner.end()) {
        return invalid_argument("prompt '" + exposed + "' of instance '" + who +
                                "' collides with instance '" + it->second +
                                "'; give one of them another prefix");
      }
      prompt_owner[exposed] = who;
      nlohmann::json def = prompt;
      def["name"] = exposed;
      snap.prompts.push_back(std::move(def));
      snap.prompt_by_name[exposed] = PromptBinding{exposed, name, inst};
    }
    for (const auto& resource : list_of(entry->catalog, "resources")) {
      if (!resource.is_object() || !resource.contains("uri") || !resource["uri"].is_string()) {
        return invalid_argument("instance '" + who + "': a resource has no uri");
      }
      const std::string uri = resource["uri"].get<std::string>();
      if (auto it = uri_owner.find(uri); it != uri_owner.end()) {
        return invalid_argument("resource '" + uri + "' of instance '" + who +
                                "' collides with instance '" + it->second + "'");
      }
      uri_owner[uri] = who;
      snap.resources.push_back(resource);
      snap.resource_by_uri[uri] = inst;
    }
    for (const auto& tmpl : list_of(entry->catalog, "resourceTemplates")) {
      if (!tmpl.is_object() || !tmpl.contains("uriTemplate") || !tmpl["uriTemplate"].is_string()) {
        return invalid_argument("instance '" + who + "': a resource template has no uriTemplate");
      }
      const std::string uri_template = tmpl["uriTemplate"].get<std::string>();
      if (auto it = uri_owner.find(uri_template); it != uri_owner.end()) {
        return invalid_argument("resource template '" + uri_template + "' of instance '" + who +
                                "' collides with instance '" + it->second + "'");
      }
      uri_owner[uri_template] = who;
      snap.resource_templates.push_back(tmpl);
      snap.templates.emplace_back(uri_template, inst);
    }
  }
  *out = std::move(snap);
  return Status::ok();
}

Registry::~Registry() { clear(); }

Status Registry::add(std::unique_ptr<PluginInstance> instance) {
  auto catalog = instance->describe();
  if (!catalog.is_ok()) return catalog.status();
  return add(std::move(instance), std::move(catalog).value());
}

Status Registry::add(std::unique_ptr<PluginInstance> instance, nlohmann::json catalog) {
  Entry entry{std::move(instance), std::move(catalog)};
  std::lock_guard lock(mutex_);
  std::vector<const Entry*> all;
  for (const auto& e : entries_) all.push_back(&e);
  all.push_back(&entry);
  auto snap = std::make_shared<CatalogSnapshot>();
  if (Status built = build(all, snap.get()); !built.is_ok()) return built;
  entries_.push_back(std::move(entry));
  snapshot_ = std::move(snap);
  return Status::ok();
}

Status Registry::refresh(PluginInstance& instance) {
  auto catalog = instance.describe();
  if (!catalog.is_ok()) return catalog.status();
  std::lock_guard lock(mutex_);
  Entry* target = nullptr;
  for (auto& e : entries_)
    if (e.instance.get() == &instance) target = &e;
  if (target == nullptr) return not_found("instance is not registered");
  nlohmann::json previous = std::exchange(target->catalog, std::move(catalog).value());
  std::vector<const Entry*> all;
  for (const auto& e : entries_) all.push_back(&e);
  auto snap = std::make_shared<CatalogSnapshot>();
  if (Status built = build(all, snap.get()); !built.is_ok()) {
    target->catalog = std::move(previous);
    return built;
  }
  snapshot_ = std::move(snap);
  return Status::ok();
}

std::shared_ptr<const CatalogSnapshot> Registry::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

PluginInstance* Registry::resource_owner(std::string_view uri) const {
  auto snap = snapshot();
  if (auto it = snap->resource_by_uri.find(std::string(uri)); it != snap->resource_by_uri.end())
    return it->second;
  for (const auto& [uri_template, owner] : snap->templates)
    if (template_matches(uri_template, uri)) return owner;
  return nullptr;
}

std::vector<PluginInstance*> Registry::instances() const {
  std::lock_guard lock(mutex_);
  std::vector<PluginInstance*> out;
  for (const auto& e : entries_) out.push_back(e.instance.get());
  return out;
}

void Registry::clear() {
  std::vector<Entry> doomed;
  {
    std::lock_guard lock(mutex_);
    doomed.swap(entries_);
    snapshot_ = std::make_shared<CatalogSnapshot>();
  }
  while (!doomed.empty()) doomed.pop_back();  // reverse load order
}

}  // namespace keyhold
