// conformance: the fixture the official MCP conformance suite
// (npm @modelcontextprotocol/conformance 0.1.16, `conformance server --url ...`) expects of a
// server under test. Mount it with prefix = "" so the names reach clients unprefixed.
//
// Tools: test_simple_text, test_image_content, test_audio_content, test_embedded_resource,
// test_multiple_content_types, test_tool_with_logging, test_error_handling,
// test_tool_with_progress, test_sampling, test_elicitation, test_elicitation_sep1034_defaults,
// test_elicitation_sep1330_enums.
// Resources: test://static-text, test://static-binary, test://watched-resource (subscribable;
// while subscribed it changes every 3 s and the host is told), template
// test://template/{id}/data. Prompts: test_simple_prompt, test_prompt_with_arguments (with
// completion of arg1/arg2), test_prompt_with_embedded_resource, test_prompt_with_image.
// The texts, shapes and payloads follow the scenario descriptions of the suite; it is a test
// fixture, not a connector to use for anything else.
#include <keyhold/plugin.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using keyhold::json;
using ordered_json = nlohmann::ordered_json;

// A 1x1 red pixel PNG (8-bit RGB).
constexpr const char* kPngBase64 =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR42mP4z8AAAAMBAQD3A0FDAAAAAElFTkSuQmCC";
// A RIFF/WAVE file: PCM, mono, 8 kHz, 8-bit, 8 samples of silence.
constexpr const char* kWavBase64 =
    "UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA==";

constexpr const char* kWatchedUri = "test://watched-resource";
constexpr const char* kTemplatePrefix = "test://template/";
constexpr const char* kTemplateSuffix = "/data";
constexpr auto kWatchedPeriod = std::chrono::seconds(3);

json no_arguments() {
  return {{"type", "object"}, {"properties", json::object()}, {"additionalProperties", false}};
}

json one_string_argument(const char* name, const char* description) {
  return {{"type", "object"},
          {"properties", {{name, {{"type", "string"}, {"description", description}}}}},
          {"required", {name}},
          {"additionalProperties", false}};
}

json tool(const char* name, const char* description, json input_schema = no_arguments()) {
  return {{"name", name}, {"description", description}, {"inputSchema", std::move(input_schema)}};
}

json text_block(std::string text) { return {{"type", "text"}, {"text", std::move(text)}}; }

json image_block() { return {{"type", "image"}, {"data", kPngBase64}, {"mimeType", "image/png"}}; }

json prompt_argument(const char* name, const char* description) {
  return {{"name", name}, {"description", description}, {"required", true}};
}

json user_message(json content) { return {{"role", "user"}, {"content", std::move(content)}}; }

// "action=accept, content={...}" from an ElicitResult.
std::string describe_elicitation(const json& result) {
  const std::string action = result.contains("action") && result["action"].is_string()
                                 ? result["action"].get<std::string>()
                                 : "unknown";
  const json content = result.contains("content") ? result["content"] : json::object();
  return "action=" + action + ", content=" + content.dump();
}

// The text of a CreateMessageResult (content is one block, or a list of blocks since 2025-11-25).
std::string sampled_text(const json& result) {
  json content = result.value("content", json());
  if (content.is_array()) content = content.empty() ? json() : content.front();
  if (content.is_object() && content.value("type", std::string()) == "text" &&
      content.contains("text") && content["text"].is_string())
    return content["text"].get<std::string>();
  return "(no text in the client's answer: " + result.dump() + ")";
}

// The {id} of test://template/{id}/data, or "" when uri does not match the template.
std::string template_id(std::string_view uri) {
  const std::string_view prefix = kTemplatePrefix, suffix = kTemplateSuffix;
  if (!uri.starts_with(prefix) || !uri.ends_with(suffix)) return {};
  if (uri.size() <= prefix.size() + suffix.size()) return {};
  std::string_view id = uri.substr(prefix.size(), uri.size() - prefix.size() - suffix.size());
  return id.find('/') == std::string_view::npos ? std::string(id) : std::string();
}

class ConformancePlugin : public keyhold::Plugin {
 public:
  ConformancePlugin(keyhold::Host host, std::string_view, const json&) : keyhold::Plugin(host) {}

  ~ConformancePlugin() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (updater_.joinable()) updater_.join();
  }

  json describe() override {
    json tools = json::array({
        tool("test_simple_text", "Returns one text block"),
        tool("test_image_content", "Returns one image block (1x1 PNG)"),
        tool("test_audio_content", "Returns one audio block (audio/wav)"),
        tool("test_embedded_resource", "Returns one embedded text resource"),
        tool("test_multiple_content_types", "Returns a text, an image and an embedded resource"),
        tool("test_tool_with_logging", "Sends three info log notifications while it runs"),
        tool("test_error_handling", "Always fails with isError: true"),
        tool("test_tool_with_progress", "Reports progress 0, 50 and 100 of 100"),
        tool("test_sampling",
             "Asks the client's LLM (sampling/createMessage) and returns the answer",
             one_string_argument("prompt", "The prompt to send to the LLM")),
        tool("test_elicitation", "Asks the user (elicitation/create) for a username and email",
             one_string_argument("message", "The message to show the user")),
        tool("test_elicitation_sep1034_defaults",
             "Elicitation whose schema has defaults for every primitive type (SEP-1034)"),
        tool("test_elicitation_sep1330_enums",
             "Elicitation whose schema has all five enum variants (SEP-1330)"),
    });
    json resources = json::array({
        {{"uri", "test://static-text"},
         {"name", "static-text"},
         {"title", "Static Text Resource"},
         {"description", "A static text resource for testing"},
         {"mimeType", "text/plain"}},
        {{"uri", "test://static-binary"},
         {"name", "static-binary"},
         {"title", "Static Binary Resource"},
         {"description", "A static binary resource (1x1 PNG) for testing"},
         {"mimeType", "image/png"}},
        {{"uri", kWatchedUri},
         {"name", "watched-resource"},
         {"title", "Watched Resource"},
         {"description", "A subscribable resource that changes every 3 seconds while subscribed"},
         {"mimeType", "text/plain"}},
    });
    json templates =
        json::array({{{"uriTemplate", "test://template/{id}/data"},
                      {"name", "template"},
                      {"title", "Resource Template"},
                      {"description", "A resource template with parameter substitution"},
                      {"mimeType", "application/json"}}});
    json prompts = json::array({
        {{"name", "test_simple_prompt"},
         {"title", "Simple Test Prompt"},
         {"description", "A simple prompt without arguments"}},
        {{"name", "test_prompt_with_arguments"},
         {"title", "Prompt With Arguments"},
         {"description", "A prompt with two required arguments"},
         {"arguments", json::array({prompt_argument("arg1", "First test argument"),
                                    prompt_argument("arg2", "Second test argument")})}},
        {{"name", "test_prompt_with_embedded_resource"},
         {"title", "Prompt With Embedded Resource"},
         {"description", "A prompt that embeds a resource"},
         {"arguments",
          json::array({prompt_argument("resourceUri", "URI of the resource to embed")})}},
        {{"name", "test_prompt_with_image"},
         {"title", "Prompt With Image"},
         {"description", "A prompt with image content"}},
    });
    return {{"tools", tools},
            {"resources", resources},
            {"resourceTemplates", templates},
            {"prompts", prompts}};
  }

  json call_tool(keyhold::Context& ctx, std::string_view name, const json& args) override {
    if (name == "test_simple_text")
      return keyhold::text_result("This is a simple text response for testing.");
    if (name == "test_image_content") return {{"content", json::array({image_block()})}};
    if (name == "test_audio_content")
      return {
          {"content",
           json::array({{{"type", "audio"}, {"data", kWavBase64}, {"mimeType", "audio/wav"}}})}};
    if (name == "test_embedded_resource")
      return {{"content", json::array({{{"type", "resource"},
                                        {"resource",
                                         {{"uri", "test://embedded-resource"},
                                          {"mimeType", "text/plain"},
                                          {"text", "This is an embedded resource content."}}}}})}};
    if (name == "test_multiple_content_types") {
      const ordered_json data{{"test", "data"}, {"value", 123}};
      return {{"content", json::array({text_block("Multiple content types test:"),
                                       image_block(),
                                       {{"type", "resource"},
                                        {"resource",
                                         {{"uri", "test://mixed-content-resource"},
                                          {"mimeType", "application/json"},
                                          {"text", data.dump()}}}}})}};
    }
    if (name == "test_tool_with_logging") {
      ctx.log(KH_LOG_INFO, "Tool execution started");
      pause(ctx, std::chrono::milliseconds(50));
      ctx.log(KH_LOG_INFO, "Tool processing data");
      pause(ctx, std::chrono::milliseconds(50));
      ctx.log(KH_LOG_INFO, "Tool execution completed");
      return keyhold::text_result("Tool with logging executed successfully");
    }
    if (name == "test_error_handling")
      return keyhold::text_result("This tool intentionally returns an error for testing", true);
    if (name == "test_tool_with_progress") {
      for (int step : {0, 50, 100}) {
        if (step != 0) pause(ctx, std::chrono::milliseconds(50));
        ctx.progress(step, 100, "Completed step " + std::to_string(step) + " of 100");
      }
      return keyhold::text_result("Tool with progress executed successfully");
    }
    if (name == "test_sampling") return sampling(ctx, args.at("prompt").get<std::string>());
    if (name == "test_elicitation") {
      const json schema{
          {"type", "object"},
          {"properties",
           {{"username", {{"type", "string"}, {"description", "User's response"}}},
            {"email", {{"type", "string"}, {"description", "User's email address"}}}}},
          {"required", {"username", "email"}}};
      return elicit(ctx, args.at("message").get<std::string>(), schema, "User response: ");
    }
    if (name == "test_elicitation_sep1034_defaults")
      return elicit(ctx, "Please review and update the form fields with defaults", sep1034_schema(),
                    "Elicitation completed: ");
    if (name == "test_elicitation_sep1330_enums")
      return elicit(ctx, "Please choose from the enum fields", sep1330_schema(),
                    "Elicitation completed: ");
    throw keyhold::InvalidArgument("unknown tool: " + std::string(name));
  }

  json read_resource(keyhold::Context&, std::string_view uri) override {
    json content{{"uri", std::string(uri)}};
    if (uri == "test://static-text") {
      content["mimeType"] = "text/plain";
      content["text"] = "This is the content of the static text resource.";
    } else if (uri == "test://static-binary") {
      content["mimeType"] = "image/png";
      content["blob"] = kPngBase64;
    } else if (uri == kWatchedUri) {
      std::lock_guard lock(mutex_);
      content["mimeType"] = "text/plain";
      content["text"] = "Watched resource content (version " + std::to_string(version_) + ")";
    } else if (const std::string id = template_id(uri); !id.empty()) {
      const ordered_json data{{"id", id}, {"templateTest", true}, {"data", "Data for ID: " + id}};
      content["mimeType"] = "application/json";
      content["text"] = data.dump();
    } else {
      throw keyhold::NotFound("unknown resource: " + std::string(uri));
    }
    return {{"contents", json::array({content})}};
  }

  json get_prompt(keyhold::Context&, std::string_view name, const json& args) override {
    if (name == "test_simple_prompt")
      return {{"messages",
               json::array({user_message(text_block("This is a simple prompt for testing."))})}};
    if (name == "test_prompt_with_arguments") {
      const std::string arg1 = string_argument(args, "arg1"), arg2 = string_argument(args, "arg2");
      return {
          {"messages", json::array({user_message(text_block("Prompt with arguments: arg1='" + arg1 +
                                                            "', arg2='" + arg2 + "'"))})}};
    }
    if (name == "test_prompt_with_embedded_resource") {
      const std::string uri = string_argument(args, "resourceUri");
      return {
          {"messages",
           json::array({user_message({{"type", "resource"},
                                      {"resource",
                                       {{"uri", uri},
                                        {"mimeType", "text/plain"},
                                        {"text", "Embedded resource content for testing."}}}}),
                        user_message(text_block("Please process the embedded resource above."))})}};
    }
    if (name == "test_prompt_with_image")
      return {
          {"messages", json::array({user_message(image_block()),
                                    user_message(text_block("Please analyze the image above."))})}};
    throw keyhold::NotFound("unknown prompt: " + std::string(name));
  }

  json complete(keyhold::Context&, const json& params) override {
    const json ref = params.value("ref", json::object());
    const json argument = params.value("argument", json::object());
    const std::string arg = argument.value("name", std::string());
    const std::string prefix = argument.value("value", std::string());
    std::vector<std::string> candidates;
    if (ref.value("type", std::string()) == "ref/prompt" &&
        ref.value("name", std::string()) == "test_prompt_with_arguments") {
      if (arg == "arg1") candidates = {"paris", "park", "party", "testValue1"};
      if (arg == "arg2") candidates = {"hello", "testValue2", "world"};
    } else if (ref.value("type", std::string()) == "ref/resource" &&
               ref.value("uri", std::string()) == "test://template/{id}/data" && arg == "id") {
      candidates = {"123", "456", "789"};
    }
    json values = json::array();
    for (const auto& c : candidates)
      if (c.starts_with(prefix)) values.push_back(c);
    return {{"completion", {{"values", values}, {"total", values.size()}, {"hasMore", false}}}};
  }

  void subscribe(keyhold::Context& ctx, std::string_view uri) override {
    ctx.log(KH_LOG_INFO, "Subscribed to resource: " + std::string(uri));
    if (uri != kWatchedUri) return;  // the other resources never change
    std::lock_guard lock(mutex_);
    ++watchers_;
    if (!updater_.joinable()) updater_ = std::thread([this] { update_watched(); });
    wake_.notify_all();
  }

  void unsubscribe(keyhold::Context& ctx, std::string_view uri) override {
    ctx.log(KH_LOG_INFO, "Unsubscribed from resource: " + std::string(uri));
    if (uri != kWatchedUri) return;
    std::lock_guard lock(mutex_);
    if (watchers_ > 0) --watchers_;
    wake_.notify_all();
  }

 private:
  static std::string string_argument(const json& args, const char* name) {
    if (!args.contains(name) || !args[name].is_string())
      throw keyhold::InvalidArgument(std::string("missing string argument '") + name + "'");
    return args[name].get<std::string>();
  }

  // Sleeps, giving up early when the client cancels the request.
  static void pause(keyhold::Context& ctx, std::chrono::milliseconds total) {
    const auto until = std::chrono::steady_clock::now() + total;
    while (std::chrono::steady_clock::now() < until) {
      ctx.throw_if_cancelled();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ctx.throw_if_cancelled();
  }

  static json sampling(keyhold::Context& ctx, const std::string& prompt) {
    const json params{
        {"messages", json::array({user_message(text_block(prompt))})},
        {"maxTokens", 100},
    };
    try {
      return keyhold::text_result(
          "LLM response: " + sampled_text(ctx.request_client("sampling/createMessage", params)));
    } catch (const keyhold::ClientRequestError& e) {
      return keyhold::text_result(std::string("Sampling not supported or failed: ") + e.what(),
                                  true);
    }
  }

  static json elicit(keyhold::Context& ctx, const std::string& message, const json& schema,
                     const std::string& lead) {
    try {
      const json result = ctx.request_client("elicitation/create",
                                             {{"message", message}, {"requestedSchema", schema}});
      return keyhold::text_result(lead + describe_elicitation(result));
    } catch (const keyhold::ClientRequestError& e) {
      return keyhold::text_result(std::string("Elicitation not supported or failed: ") + e.what(),
                                  true);
    }
  }

  static json sep1034_schema() {
    return {{"type", "object"},
            {"properties",
             {{"name", {{"type", "string"}, {"description", "User name"}, {"default", "John Doe"}}},
              {"age", {{"type", "integer"}, {"description", "User age"}, {"default", 30}}},
              {"score", {{"type", "number"}, {"description", "User score"}, {"default", 95.5}}},
              {"status",
               {{"type", "string"},
                {"description", "User status"},
                {"enum", {"active", "inactive", "pending"}},
                {"default", "active"}}},
              {"verified",
               {{"type", "boolean"}, {"description", "Verification status"}, {"default", true}}}}},
            {"required", json::array()}};
  }

  static json titled(const char* value, const char* title) {
    return {{"const", value}, {"title", title}};
  }

  static json sep1330_schema() {
    const json options = {"option1", "option2", "option3"};
    return {{"type", "object"},
            {"properties",
             {{"untitledSingle",
               {{"type", "string"}, {"description", "Untitled single-select"}, {"enum", options}}},
              {"titledSingle",
               {{"type", "string"},
                {"description", "Titled single-select"},
                {"oneOf",
                 {titled("value1", "First Option"), titled("value2", "Second Option"),
                  titled("value3", "Third Option")}}}},
              {"legacyEnum",
               {{"type", "string"},
                {"description", "Legacy titled enum (enumNames, deprecated)"},
                {"enum", {"opt1", "opt2", "opt3"}},
                {"enumNames", {"Option One", "Option Two", "Option Three"}}}},
              {"untitledMulti",
               {{"type", "array"},
                {"description", "Untitled multi-select"},
                {"items", {{"type", "string"}, {"enum", options}}}}},
              {"titledMulti",
               {{"type", "array"},
                {"description", "Titled multi-select"},
                {"items",
                 {{"anyOf",
                   {titled("value1", "First Choice"), titled("value2", "Second Choice"),
                    titled("value3", "Third Choice")}}}}}}}},
            {"required", json::array()}};
  }

  // Runs from the first subscription to the destructor: while test://watched-resource has
  // watchers, changes it every kWatchedPeriod and tells the host.
  void update_watched() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (watchers_ == 0) {
        wake_.wait(lock, [this] { return stopping_ || watchers_ > 0; });
        continue;
      }
      if (wake_.wait_for(lock, kWatchedPeriod, [this] { return stopping_ || watchers_ == 0; }))
        continue;
      ++version_;
      lock.unlock();
      host().notify_resource_updated(kWatchedUri);
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread updater_;
  // Subscriptions minus unsubscriptions of test://watched-resource, over all sessions: the
  // SDK does not say which session a call comes from; the host itself only forwards
  // notifications/resources/updated to sessions that are subscribed.
  int watchers_ = 0;
  bool stopping_ = false;
  long version_ = 1;
};

}  // namespace

KEYHOLD_PLUGIN(ConformancePlugin, "conformance", "1.0.0",
               "Fixture for the official MCP conformance suite (mount with prefix \"\")")
