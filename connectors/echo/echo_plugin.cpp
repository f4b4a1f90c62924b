// echo: the smallest useful connector, for trying keyhold and for tests.
// Tools: echo (returns its text, logs it), add (numbers, with structured output),
// slow (reports progress, honours cancellation). One resource, one prompt with
// completion. Option `extra_tools = N` adds N no-op tools (exercises pagination).
#include <keyhold/plugin.hpp>

#include <chrono>
#include <thread>

namespace {

using keyhold::json;

class EchoPlugin : public keyhold::Plugin {
 public:
  EchoPlugin(keyhold::Host host, std::string_view instance, const json& options)
      : keyhold::Plugin(host), instance_(instance) {
    greeting_ = options.value("greeting", std::string("hello from keyhold"));
    extra_tools_ = options.value("extra_tools", 0);
    if (extra_tools_ < 0 || extra_tools_ > 10000)
      throw std::invalid_argument("option extra_tools must be between 0 and 10000");
  }

  json describe() override {
    json tools = json::array();
    tools.push_back(
        {{"name", "echo"},
         {"title", "Echo"},
         {"description", "Returns the text it is given"},
         {"inputSchema",
          {{"type", "object"},
           {"properties", {{"text", {{"type", "string"}, {"description", "Text to echo"}}}}},
           {"required", {"text"}}}},
         {"annotations", {{"readOnlyHint", true}, {"openWorldHint", false}}}});
    tools.push_back({{"name", "add"},
                     {"title", "Add"},
                     {"description", "Adds two numbers"},
                     {"inputSchema",
                      {{"type", "object"},
                       {"properties", {{"a", {{"type", "number"}}}, {"b", {{"type", "number"}}}}},
                       {"required", {"a", "b"}}}},
                     {"outputSchema",
                      {{"type", "object"},
                       {"properties", {{"sum", {{"type", "number"}}}}},
                       {"required", {"sum"}}}},
                     {"annotations", {{"readOnlyHint", true}}}});
    tools.push_back({{"name", "slow"},
                     {"title", "Slow"},
                     {"description", "Counts steps slowly, reporting progress; can be cancelled"},
                     {"inputSchema",
                      {{"type", "object"},
                       {"properties",
                        {{"steps", {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}}},
                         {"delay_ms", {{"type", "integer"}, {"minimum", 0}, {"maximum", 60000}}}}},
                       {"required", {"steps"}}}},
                     {"annotations", {{"readOnlyHint", true}}}});
    for (int i = 0; i < extra_tools_; ++i)
      tools.push_back({{"name", "noop_" + std::to_string(i)},
                       {"description", "Does nothing (pagination fixture)"},
                       {"inputSchema", {{"type", "object"}}}});
    return {{"tools", tools},
            {"resources", json::array({{{"uri", "echo://" + instance_ + "/greeting"},
                                        {"name", "greeting"},
                                        {"title", "Greeting"},
                                        {"mimeType", "text/plain"}}})},
            {"resourceTemplates", json::array()},
            {"prompts", json::array({{{"name", "greet"},
                                      {"title", "Greet"},
                                      {"description", "Asks the model to greet someone"},
                                      {"arguments", json::array({{{"name", "name"},
                                                                  {"description", "Who to greet"},
                                                                  {"required", true}}})}}})}};
  }

  json call_tool(keyhold::Context& ctx, std::string_view name, const json& args) override {
    if (name == "echo") {
      const std::string text = args.at("text").get<std::string>();
      ctx.log(KH_LOG_INFO, "echoing " + std::to_string(text.size()) + " bytes");
      return keyhold::text_result(text);
    }
    if (name == "add") {
      const double sum = args.at("a").get<double>() + args.at("b").get<double>();
      json result = keyhold::text_result(json(sum).dump());
      result["structuredContent"] = {{"sum", sum}};
      return result;
    }
    if (name == "slow") {
      const int steps = args.at("steps").get<int>();
      const int delay = args.value("delay_ms", 100);
      for (int i = 1; i <= steps; ++i) {
        for (int waited = 0; waited < delay; waited += 10) {
          ctx.throw_if_cancelled();
          std::this_thread::sleep_for(std::chrono::milliseconds(std::min(10, delay - waited)));
        }
        ctx.throw_if_cancelled();
        ctx.progress(i, steps, "step " + std::to_string(i) + " of " + std::to_string(steps));
      }
      return keyhold::text_result("completed " + std::to_string(steps) + " steps");
    }
    if (name.starts_with("noop_")) return keyhold::text_result("ok");
    throw keyhold::InvalidArgument("unknown tool: " + std::string(name));
  }

  json read_resource(keyhold::Context&, std::string_view uri) override {
    if (uri != "echo://" + instance_ + "/greeting")
      throw keyhold::NotFound("no such resource: " + std::string(uri));
    return {{"contents",
             json::array(
                 {{{"uri", std::string(uri)}, {"mimeType", "text/plain"}, {"text", greeting_}}})}};
  }

  json get_prompt(keyhold::Context&, std::string_view name, const json& args) override {
    if (name != "greet") throw keyhold::NotFound("unknown prompt: " + std::string(name));
    if (!args.contains("name") || !args["name"].is_string())
      throw keyhold::InvalidArgument("prompt greet needs the argument 'name'");
    const std::string who = args["name"].get<std::string>();
    return {{"description", "Greet " + who},
            {"messages",
             json::array({{{"role", "user"},
                           {"content",
                            {{"type", "text"}, {"text", "Please greet " + who + " warmly."}}}}})}};
  }

  json complete(keyhold::Context&, const json& params) override {
    static const std::vector<std::string> names = {"Ada", "Alan", "Barbara", "Grace", "Linus"};
    const std::string prefix =
        params.value("argument", json::object()).value("value", std::string());
    json values = json::array();
    for (const auto& n : names)
      if (n.rfind(prefix, 0) == 0) values.push_back(n);
    return {{"completion", {{"values", values}, {"total", values.size()}, {"hasMore", false}}}};
  }

 private:
  std::string instance_;
  std::string greeting_;
  int extra_tools_ = 0;
};

}  // namespace

KEYHOLD_PLUGIN(EchoPlugin, "echo", "1.0.0", "Echo, add and slow tools for trying keyhold")
