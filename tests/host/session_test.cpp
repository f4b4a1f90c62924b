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
};

struct Guarded {
  std::string detail;
  bool blocked = false;
};

// A registry with the echo plugin (in-process, prefix echo_), a redactor that knows the
// canary, and a session over a recording outbound.
struct Fixture {
  Registry registry;
  EventHub hub{registry};
  boost::asio::thread_pool pool{2};
  RecordingOutbound out;
  std::vector<Guarded> guarded;
  std::mutex guarded_mutex;
  std::optional<Session> session;

  Fixture() {
    Config config;
    config.path = "/nonexistent/keyhold.toml";
    config.plugin_dirs = {KEYHOLD_TEST_PLUGIN_DIR};
    InstanceConfig echo;
    echo.name = "echo";
    echo.plugin = "echo";
    echo.isolation = "in-process";
    config.instances = {echo};
    const auto results = load_instances(config, registry, &hub);
    REQUIRE(results.size() == 1);
    INFO(results[0].error);
    REQUIRE(results[0].loaded);
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
  void initialize() {
    auto answer = request(0, "initialize",
                          {{"protocolVersion", "2025-06-18"},
                           {"capabilities", json::object()},
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
