#include "cli/plugins_command.hpp"

#include <iostream>

#include "cli/config_loading.hpp"
#include "loader/instance_loader.hpp"
#include "server/event_hub.hpp"

namespace keyhold::cli {

namespace {

std::string ops_text(uint32_t ops) {
  std::string out;
  auto add = [&](uint32_t bit, const char* name) {
    if (ops & bit) out += (out.empty() ? "" : ",") + std::string(name);
  };
  add(KH_SECRET_OP_REVEAL, "reveal");
  add(KH_SECRET_OP_SIGN, "sign");
  add(KH_SECRET_OP_ENV, "env");
  return out.empty() ? "-" : out;
}

int list_instances(const std::string& config_path, bool as_json) {
  setup_stderr_logging("warn");
  auto config = load_cli_config(config_path, /*write_default=*/false);
  if (!config) return 1;
  Registry registry;
  EventHub hub(registry);
  const auto results = load_instances(*config, registry, &hub);
  auto snap = registry.snapshot();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : results) {
    std::size_t tools = 0;
    for (const auto& [name, binding] : snap->tool_by_name)
      if (binding.instance->name() == r.instance) ++tools;
    out.push_back({{"instance", r.instance},
                   {"plugin", r.plugin_path},
                   {"state", r.loaded ? "loaded" : "failed"},
                   {"tools", tools},
                   {"isolation", r.isolation},
                   {"sandbox", r.sandbox},
                   {"sandbox_applied", r.sandbox_applied},
                   {"sandbox_missing", r.sandbox_missing},
                   {"error", r.error}});
  }
  if (as_json) {
    std::cout << out.dump(2) << "\n";
  } else {
    for (const auto& row : out) {
      std::cout << row["instance"].get<std::string>() << "\t" << row["state"].get<std::string>()
                << "\t" << row["plugin"].get<std::string>();
      if (row["state"] == "loaded")
        std::cout << "\t" << row["tools"].get<std::size_t>() << " tools\t"
                  << row["isolation"].get<std::string>();
      else
        std::cout << "\t" << row["error"].get<std::string>();
      std::cout << "\n";
      if (row["state"] == "loaded" && row["isolation"] == "process") {
        std::cout << "  sandbox: " << row["sandbox"].dump() << "\n";
        for (const auto& line : row["sandbox_applied"])
          std::cout << "  applied: " << line.get<std::string>() << "\n";
        for (const auto& line : row["sandbox_missing"])
          std::cout << "  MISSING: " << line.get<std::string>() << "\n";
      }
    }
  }
  registry.clear();
  for (const auto& r : results)
    if (!r.loaded) return 3;
  return 0;
}

// The plugin runs in a sandboxed runner, as an instance with the default sandbox would
// (no network, no file outside the system libraries): inspecting an unknown .so runs no
// code of it in this process. --in-process loads it here (trusted code only).
int inspect(const std::string& path, const std::string& options_text, bool as_json,
            bool in_process) {
  setup_stderr_logging("warn");
  InstanceConfig config;
  config.name = "inspect";
  config.plugin = path;
  config.isolation = in_process ? "in-process" : "process";
  std::error_code ec;
  const std::filesystem::path resolved = std::filesystem::absolute(path, ec);
  auto started = start_backend(config, ec ? std::filesystem::path(path) : resolved);
  if (!started.is_ok()) {
    std::cerr << "keyhold: " << path << ": " << started.status().message() << "\n";
    return 1;
  }
  std::unique_ptr<PluginBackend> backend = std::move(started).value();
  const kh_plugin& def = backend->definition();
  nlohmann::json info{{"path", path},
                      {"name", def.name},
                      {"version", def.version ? def.version : ""},
                      {"description", def.description ? def.description : ""},
                      {"abi", std::to_string(def.abi_major) + "." + std::to_string(def.abi_minor)},
                      {"secrets", nlohmann::json::array()}};
  for (uint32_t i = 0; i < def.secret_count; ++i) {
    const kh_secret_decl& s = def.secrets[i];
    info["secrets"].push_back({{"alias", s.alias ? s.alias : ""},
                               {"description", s.description ? s.description : ""},
                               {"operations", ops_text(s.operations)}});
  }
  auto options = nlohmann::json::parse(options_text, nullptr, false);
  if (options.is_discarded() || !options.is_object()) {
    std::cerr << "keyhold: --options must be a JSON object\n";
    return 1;
  }
  Registry registry;
  EventHub hub(registry);
  PluginInstance instance(def.name, "", std::move(backend), options, &hub);
  const Status created = instance.create();
  Result<nlohmann::json> catalog = created.is_ok() ? instance.describe() : created;
  if (!catalog.is_ok()) {
    info["catalog_error"] = catalog.status().message();
  } else {
    info["catalog"] = std::move(catalog).value();
  }
  if (as_json) {
    std::cout << info.dump(2) << "\n";
    return 0;
  }
  std::cout << info["name"].get<std::string>() << " " << info["version"].get<std::string>()
            << " (ABI " << info["abi"].get<std::string>() << ")\n  "
            << info["description"].get<std::string>() << "\n";
  std::cout << "secrets wanted:" << (info["secrets"].empty() ? " none" : "") << "\n";
  for (const auto& s : info["secrets"])
    std::cout << "  " << s["alias"].get<std::string>() << " [" << s["operations"].get<std::string>()
              << "] " << s["description"].get<std::string>() << "\n";
  if (info.contains("catalog_error")) {
    std::cout << "catalog: unavailable (" << info["catalog_error"].get<std::string>()
              << "; pass --options)\n";
    return 0;
  }
  for (const char* kind : {"tools", "prompts", "resources", "resourceTemplates"}) {
    const auto& items = info["catalog"].value(kind, nlohmann::json::array());
    std::cout << kind << ":" << (items.empty() ? " none" : "") << "\n";
    for (const auto& item : items) {
      std::string id = item.value("name", item.value("uri", item.value("uriTemplate", "?")));
      std::cout << "  " << id;
      if (item.contains("description"))
        std::cout << " - " << item["description"].get<std::string>();
      std::cout << "\n";
    }
  }
  return 0;
}

}  // namespace

void add_plugins_command(CLI::App& app) {
  auto* plugins = app.add_subcommand("plugins", "Inspect plugins without serving");
  plugins->require_subcommand(1);

  auto* list =
      plugins->add_subcommand("list", "Load the configured instances and show their state");
  auto config = std::make_shared<std::string>();
  auto list_json = std::make_shared<bool>(false);
  list->add_option("-c,--config", *config, "Config file (default: the XDG config path)");
  list->add_flag("--json", *list_json, "Print JSON");
  list->footer("Exit codes: 0 all loaded; 1 bad config; 3 some instance failed to load.");
  list->callback([config, list_json] {
    if (int code = list_instances(*config, *list_json); code != 0) throw CLI::RuntimeError(code);
  });

  auto* inspect_cmd =
      plugins->add_subcommand("inspect", "Show a plugin's metadata, tools and wanted secrets");
  auto path = std::make_shared<std::string>();
  auto options = std::make_shared<std::string>("{}");
  auto inspect_json = std::make_shared<bool>(false);
  inspect_cmd->add_option("path", *path, "Path to the plugin's .so")->required();
  inspect_cmd->add_option("--options", *options, "Instance options as a JSON object");
  auto in_process = std::make_shared<bool>(false);
  inspect_cmd->add_flag("--json", *inspect_json, "Print JSON");
  inspect_cmd->add_flag("--in-process", *in_process,
                        "Load the plugin into this process instead of a sandboxed runner "
                        "(trusted code only)");
  inspect_cmd->footer(
      "The plugin runs in a sandboxed keyhold-runner with the default sandbox (no network, "
      "no files but the system libraries).\nExit codes: 0 shown; 1 not loadable.");
  inspect_cmd->callback([path, options, inspect_json, in_process] {
    if (int code = inspect(*path, *options, *inspect_json, *in_process); code != 0)
      throw CLI::RuntimeError(code);
  });
}

}  // namespace keyhold::cli
