// The session (host/server/session.cpp) driven directly, without a transport: the
// handshake rules, JSON-RPC errors, routing to a real echo plugin, the argument guard,
// duplicate in-flight ids and cancellation. The outbound side records every message.
#include <catch2/catch.hpp>

#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "loader/instance_loader.hpp"
#include "loader/registry.hpp"
#include "protocol/json_rpc.hpp"
#include "secrets/credential_rules.hpp"
#include "secrets/redactor.hpp"
#include "server/event_hub.hpp"
#include "server/outbound.hpp"
#include "server/session.hpp"

using namespace keyhold;
using nlohmann::json;

namespace {

constexpr std::string_view kCanary = "CANARY-session-51c0de";

// Every message the session sends, serialized as the wire would carry it.
class RecordingOutbound : public Outbound {
 public:
  void send(const json& message, const CallContext*) override {
    std::lock_guard lock(mutex_);
    sent_.push_back(rpc::serialize(message));
    arrived_.notify_all();
  }
  // As the transports do: the text as it is (checked to be one JSON-RPC response line).
  void send_response_text(std::string text, const CallContext& request) override {
    const json message = json::parse(text);
    CHECK(message.value("id", json()) == request.request_id);
    CHECK(message.value("jsonrpc", json()) == "2.0");
    CHECK(message.contains("result"));
    CHECK(text.find_first_of("\n\r") == std::string::npos);
    std::lock_guard lock(mutex_);
    sent_.push_back(std::move(text));
    ++texts_;
    arrived_.notify_all();
  }
  // How many responses were sent as text (Session::response_text).
  int texts() {
    std::lock_guard lock(mutex_);
    return texts_;
  }
  // The response to id, waiting up to two seconds for it; nullopt when none came.
  std::optional<json> response(const json& id) {
    std::unique_lock lock(mutex_);
    std::optional<json> found;
    arrived_.wait_for(lock, std::chrono::seconds(2), [&] {
      for (const auto& text : sent_) {
        auto message = json::parse(text);
        if (!message.contains("method") && message.value("id", json()) == id) {
          found = std::move(message);
          return true;
        }
      }
      return false;
    });
    return found;
  }
  std::vector<std::string> all() {
    std::lock_guard lock(mutex_);
    return sent_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<std::string> sent_;
  int texts_ = 0;
};

struct Guarded {
  std::string detail;
  bool blocked = false;
};

// A registry with the echo plugin (in-process, prefix echo_; with_conformance: also the
// conformance fixture, prefix conf_), a redactor that knows the canary, and a session over a
// recording outbound.
struct Fixture {
  Registry registry;
  EventHub hub{registry};
  boost::asio::thread_pool pool{2};
  RecordingOutbound out;
  std::vector<Guarded> guarded;
  std::mutex guarded_mutex;
  std::optional<Session> session;

  explicit Fixture(bool with_conformance = false) {
    Config config;
    config.path = "/nonexistent/keyhold.toml";
    config.plugin_dirs = {KEYHOLD_TEST_PLUGIN_DIR};
    InstanceConfig echo;
    echo.name = "echo";
    echo.plugin = "echo";
    echo.isolation = "in-process";
    config.instances = {echo};
    if (with_conformance) {
      InstanceConfig conf;
      conf.name = "conf";
      conf.plugin = "conformance";
      conf.isolation = "in-process";
      config.instances.push_back(conf);
    }
    const auto results = load_instances(config, registry, &hub);
    REQUIRE(results.size() == config.instances.size());
    for (const auto& result : results) {
      INFO(result.error);
      REQUIRE(result.loaded);
    }
    auto redactor = secrets::Redactor::create(secrets::builtin_credential_rules()).value();
    REQUIRE(redactor);
    std::vector<secrets::KnownSecret> known;
    known.push_back({"db-password", vault::SecretBuffer::copy_of(kCanary)});
    REQUIRE(redactor->set_secrets(known).is_ok());
    SessionOptions options;
    options.redactor = std::move(redactor);
    options.on_guard = [this](const PluginInstance&, const std::string&, const std::string& detail,
                              bool blocked) {
      std::lock_guard lock(guarded_mutex);
      guarded.push_back({detail, blocked});
    };
    session.emplace(registry, out, pool, std::move(options));
    hub.attach(&*session);
  }
  ~Fixture() {
    hub.detach(&*session);
    session->close();
    session.reset();
    pool.join();
    registry.clear();
  }
  json request(const json& id, const std::string& method, json params = json::object()) {
    session->handle_text(rpc::make_request(id, method, std::move(params)).dump());
    auto answer = out.response(id);
    REQUIRE(answer);
    return *answer;
  }
  void initialize(json capabilities = json::object()) {
    auto answer = request(0, "initialize",
                          {{"protocolVersion", "2025-06-18"},
                           {"capabilities", std::move(capabilities)},
                           {"clientInfo", {{"name", "session_test"}, {"version", "1"}}}});
    REQUIRE(answer.contains("result"));
    session->handle_text(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  }
};

int error_code(const json& answer) { return answer.at("error").at("code").get<int>(); }

}  // namespace

TEST_CASE("session: only initialize and ping are served before the handshake") {
  Fixture f;
  CHECK(f.request(1, "ping").contains("result"));
  CHECK(error_code(f.request(2, "tools/list")) == rpc::kInvalidRequest);
  CHECK(error_code(f.request(3, "no/such/method")) == rpc::kInvalidRequest);
  f.initialize();
  CHECK(f.request(4, "tools/list").contains("result"));
  CHECK(error_code(f.request(5, "no/such/method")) == rpc::kMethodNotFound);
}

TEST_CASE("session: initialize negotiates the version once") {
  Fixture f;
  auto answer = f.request(1, "initialize",
                          {{"protocolVersion", "1999-01-01"},
                           {"capabilities", json::object()},
                           {"clientInfo", {{"name", "t"}, {"version", "1"}}}});
  REQUIRE(answer.contains("result"));
  CHECK(answer["result"]["protocolVersion"] != "1999-01-01");  // the server's own, not ours
  CHECK(answer["result"]["capabilities"].contains("tools"));
  CHECK(error_code(f.request(2, "initialize",
                             {{"protocolVersion", "2025-06-18"},
                              {"capabilities", json::object()},
                              {"clientInfo", {{"name", "t"}, {"version", "1"}}}})) ==
        rpc::kInvalidRequest);
  // Malformed params are invalid params, and leave the session usable.
  CHECK(error_code(f.request(3, "tools/call", {{"name", 42}})) == rpc::kInvalidParams);
}

TEST_CASE("session: malformed input is a JSON-RPC error with the id when it can be read") {
  Fixture f;
  f.session->handle_text("{not json");
  auto parse_error = f.out.response(nullptr);
  REQUIRE(parse_error);
  CHECK(error_code(*parse_error) == rpc::kParseError);
  f.session->handle_text(R"({"jsonrpc":"2.0","id":7,"method":5})");
  auto invalid = f.out.response(7);
  REQUIRE(invalid);
  CHECK(error_code(*invalid) == rpc::kInvalidRequest);
}

TEST_CASE("session: tools are listed with the instance prefix and calls reach the plugin") {
  Fixture f;
  f.initialize();
  auto list = f.request(1, "tools/list");
  bool found = false;
  for (const auto& tool : list["result"]["tools"]) found |= tool["name"] == "echo_echo";
  CHECK(found);
  auto call = f.request(2, "tools/call", {{"name", "echo_echo"}, {"arguments", {{"text", "hi"}}}});
  REQUIRE(call.contains("result"));
  CHECK(call["result"]["content"][0]["text"] == "hi");
  auto unknown = f.request(3, "tools/call", {{"name", "nope"}, {"arguments", json::object()}});
  CHECK(unknown.contains("error"));
}

TEST_CASE(
    "session: a plain or conforming result leaves as text; a broken or secret-bearing one "
    "through the tree") {
  Fixture f;
  f.initialize();
  auto call = f.request(2, "tools/call", {{"name", "echo_echo"}, {"arguments", {{"text", "hi"}}}});
  CHECK(call["result"]["content"][0]["text"] == "hi");
  CHECK(f.out.texts() == 1);
  // A string id is written as JSON; escapes in the result are read as the client will.
  call =
      f.request("id \"2\"", "tools/call", {{"name", "echo_echo"}, {"arguments", {{"text", "x"}}}});
  CHECK(call["result"]["content"][0]["text"] == "x");
  call = f.request(4, "tools/call",
                   {{"name", "echo_echo"}, {"arguments", {{"text", "a \"quoted\"\nline \u00e9"}}}});
  CHECK(call["result"]["content"][0]["text"] == "a \"quoted\"\nline \u00e9");
  CHECK(f.out.texts() == 3);
  // A resource takes the same path as a tool.
  auto read = f.request(5, "resources/read", {{"uri", "echo://echo/greeting"}});
  CHECK(read["result"]["contents"][0]["text"] == "hello from keyhold");
  CHECK(f.out.texts() == 4);
  // A result that meets its outputSchema leaves as text too (structuredContent is checked on
  // a tree of its own); one that breaks it (1e308 + 1e308 is written as null) becomes a
  // tool error on the tree.
  auto sum =
      f.request(3, "tools/call", {{"name", "echo_add"}, {"arguments", {{"a", 1}, {"b", 2}}}});
  CHECK(sum["result"]["structuredContent"]["sum"] == 3);
  CHECK(f.out.texts() == 5);
  auto broken = f.request(6, "tools/call",
                          {{"name", "echo_add"}, {"arguments", {{"a", 1e308}, {"b", 1e308}}}});
  CHECK(broken["result"]["isError"] == true);
  CHECK(broken["result"]["content"][0]["text"].get<std::string>().find("outputSchema") !=
        std::string::npos);
  CHECK_FALSE(broken["result"].contains("structuredContent"));
  CHECK(f.out.texts() == 5);
  // A response that would carry a secret (here in the client's own id) is redacted on the
  // tree.
  f.session->handle_text(rpc::make_request("id " + std::string(kCanary), "tools/call",
                                           {{"name", "echo_echo"}, {"arguments", {{"text", "z"}}}})
                             .dump());
  auto redacted = f.out.response("id [REDACTED:db-password]");
  REQUIRE(redacted);
  CHECK((*redacted)["result"]["content"][0]["text"] == "z");
  CHECK(f.out.texts() == 5);
  for (const auto& text : f.out.all()) CHECK(text.find(kCanary) == std::string::npos);
}

TEST_CASE("session: an argument carrying a known secret is refused before the plugin") {
  Fixture f;
  f.initialize();
  auto call = f.request(
      1, "tools/call",
      {{"name", "echo_echo"}, {"arguments", {{"text", "pw is " + std::string(kCanary)}}}});
  REQUIRE(call.contains("result"));
  CHECK(call["result"]["isError"] == true);
  const std::string text = call["result"]["content"][0]["text"];
  CHECK(text.find("refused") != std::string::npos);
  CHECK(text.find("db-password") != std::string::npos);  // named, never shown
  {
    std::lock_guard lock(f.guarded_mutex);
    REQUIRE(f.guarded.size() == 1);
    CHECK(f.guarded[0].blocked);
  }
  for (const auto& sent : f.out.all()) CHECK(sent.find(kCanary) == std::string::npos);
}

TEST_CASE("session: a secret in an argument's key, a prompt, a completion or a URI is refused") {
  Fixture f;
  f.initialize();
  const std::string secret(kCanary);
  // In a key, at the top and nested: refused, and the finding never spells the key.
  for (const json& arguments :
       {json{{"text", "x"}, {secret, "x"}}, json{{"text", "x"}, {"n", {{"a" + secret, 1}}}}}) {
    auto call = f.request(2, "tools/call", {{"name", "echo_echo"}, {"arguments", arguments}});
    REQUIRE(call.contains("result"));
    CHECK(call["result"]["isError"] == true);
    const std::string text = call["result"]["content"][0]["text"];
    CHECK(text.find("key") != std::string::npos);
    CHECK(text.find("db-password") != std::string::npos);
  }
  // Other requests whose params reach a plugin: an invalid-params error.
  auto prompt =
      f.request(3, "prompts/get", {{"name", "echo_greet"}, {"arguments", {{"name", secret}}}});
  REQUIRE(prompt.contains("error"));
  CHECK(prompt["error"]["message"].get<std::string>().find("refused") != std::string::npos);
  auto complete = f.request(4, "completion/complete",
                            {{"ref", {{"type", "ref/prompt"}, {"name", "echo_greet"}}},
                             {"argument", {{"name", "name"}, {"value", secret}}}});
  REQUIRE(complete.contains("error"));
  CHECK(complete["error"]["message"].get<std::string>().find("refused") != std::string::npos);
  {
    std::lock_guard lock(f.guarded_mutex);
    CHECK(f.guarded.size() == 4);
    for (const auto& g : f.guarded) {
      CHECK(g.blocked);
      CHECK(g.detail.find(secret) == std::string::npos);
    }
  }
  for (const auto& sent : f.out.all()) CHECK(sent.find(kCanary) == std::string::npos);
}

// Waits up to two seconds for a request from the session (a method with an id).
std::optional<json> request_sent(Fixture& f, std::string_view method) {
  for (int i = 0; i < 200; ++i) {
    for (const auto& text : f.out.all()) {
      auto message = json::parse(text);
      if (message.value("method", "") == method && message.contains("id")) return message;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::nullopt;
}

TEST_CASE("session: a client's answer carrying a known secret is refused before the plugin") {
  for (const bool with_secret : {false, true}) {
    INFO("answer with the secret: " << with_secret);
    Fixture f(true);
    f.initialize({{"elicitation", json::object()}});
    f.session->handle_text(rpc::make_request(1, "tools/call",
                                             {{"name", "conf_test_elicitation"},
                                              {"arguments", {{"message", "Your name?"}}}})
                               .dump());
    auto asked = request_sent(f, "elicitation/create");
    REQUIRE(asked);
    const std::string name = with_secret ? "me " + std::string(kCanary) : "alice";
    f.session->handle_text(
        json{{"jsonrpc", "2.0"},
             {"id", (*asked)["id"]},
             {"result", {{"action", "accept"}, {"content", {{"username", name}}}}}}
            .dump());
    auto call = f.out.response(1);
    REQUIRE(call);
    const std::string reply = call->dump();
    std::lock_guard lock(f.guarded_mutex);
    if (!with_secret) {
      CHECK(reply.find("alice") != std::string::npos);  // the plugin got the answer
      CHECK(f.guarded.empty());
      continue;
    }
    // The plugin got a refusal instead of the answer, and the guard action is on record.
    CHECK(reply.find("[REDACTED") == std::string::npos);
    REQUIRE(f.guarded.size() == 1);
    CHECK(f.guarded[0].blocked);
    CHECK(f.guarded[0].detail.find("answer to elicitation/create") != std::string::npos);
    CHECK(f.guarded[0].detail.find("db-password") != std::string::npos);
    for (const auto& sent : f.out.all()) CHECK(sent.find(kCanary) == std::string::npos);
  }
}

TEST_CASE("session: a second request with an id in flight is refused, the first completes") {
  Fixture f;
  f.initialize();
  const json slow{{"name", "echo_slow"}, {"arguments", {{"steps", 2}, {"delay_ms", 200}}}};
  f.session->handle_text(rpc::make_request(9, "tools/call", slow).dump());
  f.session->handle_text(rpc::make_request(9, "tools/call", slow).dump());
  auto first = f.out.response(9);
  REQUIRE(first);
  CHECK(error_code(*first) == rpc::kInvalidRequest);  // the duplicate, answered at once
  // Then the original's result arrives under the same id.
  bool completed = false;
  for (int i = 0; i < 50 && !completed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (const auto& sent : f.out.all()) {
      auto message = json::parse(sent);
      if (message.value("id", json()) == 9 && message.contains("result")) completed = true;
    }
  }
  CHECK(completed);
}

TEST_CASE("session: a cancelled call gets no response") {
  Fixture f;
  f.initialize();
  f.session->handle_text(
      rpc::make_request(11, "tools/call",
                        {{"name", "echo_slow"}, {"arguments", {{"steps", 5}, {"delay_ms", 200}}}})
          .dump());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  f.session->handle_text(
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":11}})");
  CHECK_FALSE(f.out.response(11));                  // waits two seconds: the call would take one
  CHECK(f.request(12, "ping").contains("result"));  // and the session goes on
}

namespace {
const json kMeta2026 = {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
                        {"io.modelcontextprotocol/clientCapabilities", json::object()}};
constexpr const char* kSubscriptionId = "io.modelcontextprotocol/subscriptionId";

json listen_request(const json& id, json notifications) {
  return rpc::make_request(id, "subscriptions/listen",
                           {{"_meta", kMeta2026}, {"notifications", std::move(notifications)}});
}

// The messages sent after the first `from`, parsed.
std::vector<json> sent_since(RecordingOutbound& out, std::size_t from) {
  std::vector<json> messages;
  const auto all = out.all();
  for (std::size_t i = from; i < all.size(); ++i) messages.push_back(json::parse(all[i]));
  return messages;
}
}  // namespace

TEST_CASE("session: subscriptions/listen acknowledges first, then sends only what it asked for") {
  Fixture f;
  f.session->handle_text(
      listen_request("L", {{"toolsListChanged", true},
                           {"resourceSubscriptions", {"echo://echo/greeting", "nope://unknown"}}})
          .dump());
  auto sent = sent_since(f.out, 0);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0] == json{{"jsonrpc", "2.0"},
                        {"method", "notifications/subscriptions/acknowledged"},
                        {"params",
                         {{"_meta", {{kSubscriptionId, "L"}}},
                          {"notifications",
                           {{"toolsListChanged", true},
                            {"resourceSubscriptions", {"echo://echo/greeting"}}}}}}});

  f.session->notify_list_changed(KH_LIST_PROMPTS);
  f.session->notify_list_changed(KH_LIST_RESOURCES);
  f.session->notify_resource_updated("echo://echo/other");
  CHECK(f.out.all().size() == 1);  // none of these was asked for
  f.session->notify_list_changed(KH_LIST_TOOLS);
  f.session->notify_resource_updated("echo://echo/greeting");
  sent = sent_since(f.out, 1);
  REQUIRE(sent.size() == 2);
  CHECK(sent[0]["method"] == "notifications/tools/list_changed");
  CHECK(sent[0]["params"] == json{{"_meta", {{kSubscriptionId, "L"}}}});
  CHECK(sent[1]["method"] == "notifications/resources/updated");
  CHECK(sent[1]["params"] ==
        json{{"_meta", {{kSubscriptionId, "L"}}}, {"uri", "echo://echo/greeting"}});

  // Cancelled: nothing more for it, not even a response.
  f.session->handle_text(
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"L"}})");
  CHECK(f.session->open_listens() == 0);
  f.session->notify_list_changed(KH_LIST_TOOLS);
  CHECK(f.out.all().size() == 3);
}

TEST_CASE("session: a cancelled 2026-07-28 request frees its id and its scope") {
  Fixture f;
  auto call = [&](const char* tool, json arguments) {
    f.session->handle_text(
        rpc::make_request(
            21, "tools/call",
            {{"_meta", kMeta2026}, {"name", tool}, {"arguments", std::move(arguments)}})
            .dump());
  };
  call("echo_slow", {{"steps", 5}, {"delay_ms", 200}});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  f.session->handle_text(
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":21}})");
  CHECK_FALSE(f.out.response(21));  // no response; the call has ended by now
  // The same id again: a new request, answered (not "already in flight").
  call("echo_echo", {{"text", "again"}});
  auto again = f.out.response(21);
  REQUIRE(again);
  INFO(again->dump());
  REQUIRE(again->contains("result"));
  CHECK((*again)["result"]["content"][0]["text"] == "again");
}

TEST_CASE("session: a listen filter URI carrying a secret is refused before any instance") {
  Fixture f(true);
  const std::string uri = "test://template/" + std::string(kCanary) + "/data";
  f.session->handle_text(listen_request("G", {{"resourceSubscriptions", {uri}}}).dump());
  auto answer = f.out.response("G");
  REQUIRE(answer);
  CHECK(error_code(*answer) == rpc::kInvalidParams);
  CHECK((*answer)["error"]["message"].get<std::string>().find("db-password") != std::string::npos);
  CHECK(f.session->open_listens() == 0);
  {
    std::lock_guard lock(f.guarded_mutex);
    CHECK(f.guarded.size() == 1);
  }
  for (const auto& sent : f.out.all()) CHECK(sent.find(kCanary) == std::string::npos);
}

TEST_CASE("session: malformed listen filters are -32602 and the number of streams is bounded") {
  Fixture f;
  for (const json& bad :
       {json(nullptr), json::array(), json{{"toolsListChanged", "yes"}},
        json{{"resourceSubscriptions", "test://x"}}, json{{"resourceSubscriptions", {""}}}}) {
    f.session->handle_text(listen_request("bad", bad).dump());
    auto answer = f.out.response("bad");
    REQUIRE(answer);
    CHECK(error_code(*answer) == rpc::kInvalidParams);
  }
  f.session->handle_text(
      rpc::make_request("none", "subscriptions/listen", {{"_meta", kMeta2026}}).dump());
  auto none = f.out.response("none");
  REQUIRE(none);
  CHECK(error_code(*none) == rpc::kInvalidParams);

  const std::size_t bound = SessionOptions{}.max_listens;
  for (std::size_t i = 0; i < bound; ++i)
    f.session->handle_text(listen_request(static_cast<int>(i) + 100, json::object()).dump());
  CHECK(f.session->open_listens() == bound);
  f.session->handle_text(listen_request("over", json::object()).dump());
  auto over = f.out.response("over");
  REQUIRE(over);
  CHECK(error_code(*over) == rpc::kInvalidRequest);
  CHECK(over->at("error").at("message").get<std::string>().find("too many open") !=
        std::string::npos);

  // A listen id still open cannot be reused.
  f.session->handle_text(listen_request(100, json::object()).dump());
  auto again = f.out.response(100);
  REQUIRE(again);
  CHECK(error_code(*again) == rpc::kInvalidRequest);

  // The server's own end: each stream gets its empty result, tagged with its id.
  const std::size_t before = f.out.all().size();
  f.session->close();
  auto ended = sent_since(f.out, before);
  REQUIRE(ended.size() == bound);
  for (const auto& message : ended) {
    CHECK(message["result"]["resultType"] == "complete");
    CHECK(message["result"]["_meta"][kSubscriptionId] == message["id"]);
  }
  CHECK(f.session->open_listens() == 0);
}
