// session_fuzzer: arbitrary bytes into keyhold::Session::handle_text, in process, with the
// echo and conformance plugins loaded and the redactor on, as `keyhold serve` runs it.
//
// Input: newline-separated messages, split and trimmed exactly as the stdio transport
// does (one handle_text per non-empty line, a trailing CR dropped). The low bit of the
// first byte picks the session state, and the byte still belongs to the input:
//   odd  ('{', '[', ...)       the session is initialized first (initialize, then
//                              notifications/initialized), so tool calls reach plugins;
//   even (' ', '\n', '"', ...) a fresh session, as a client finds it before initialize.
// After the last line the harness waits, at most kSettleTime, until every line that looked
// like a request (an object with "method" and "id") has been answered, so tool results
// are checked too; then the session is closed, which cancels what still runs and waits.
//
// Oracles besides ASan/UBSan and crashes: every message the session sends serializes to
// valid JSON that parses back to a JSON-RPC 2.0 message, and never contains the value of
// the known secret (kFuzzSecret) the redactor is told about.
//
// KEYHOLD_FUZZ_VERBOSE=1 prints every outbound message to stderr (replaying a reproducer).
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz_plugins.hpp"
#include "secrets/credential_rules.hpp"
#include "secrets/redactor.hpp"
#include "server/outbound.hpp"
#include "server/session.hpp"

namespace {

using nlohmann::json;

// A secret the host "can release": the dictionary has it, so inputs carry it to tools.
constexpr std::string_view kFuzzSecret = "fuzz-secret-Zq7xW3";

// How long an input's requests may run before the session is closed under them.
constexpr std::chrono::milliseconds kSettleTime{100};

constexpr std::string_view kInitialize =
    R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",)"
    R"("capabilities":{"sampling":{},"elicitation":{},"roots":{}},)"
    R"("clientInfo":{"name":"session_fuzzer","version":"1"}}})";
constexpr std::string_view kInitialized =
    R"({"jsonrpc":"2.0","method":"notifications/initialized"})";

[[noreturn]] void fail(const char* what, const std::string& text) {
  std::fprintf(stderr, "session_fuzzer: %s: %.4000s\n", what, text.c_str());
  __builtin_trap();
}

// Why message is not a JSON-RPC 2.0 message (request, notification or response), or null.
const char* jsonrpc_shape_error(const json& message) {
  if (!message.is_object()) return "not an object";
  auto version = message.find("jsonrpc");
  if (version == message.end() || *version != "2.0") return "jsonrpc is not \"2.0\"";
  if (auto method = message.find("method"); method != message.end())
    return method->is_string() ? nullptr : "method is not a string";
  if (!message.contains("id")) return "neither a method nor an id";
  const bool has_result = message.contains("result");
  auto error = message.find("error");
  if (has_result == (error != message.end())) return "not exactly one of result and error";
  if (error != message.end()) {
    if (!error->is_object()) return "error is not an object";
    auto code = error->find("code");
    auto text = error->find("message");
    if (code == error->end() || !code->is_number_integer()) return "error.code is not an integer";
    if (text == error->end() || !text->is_string()) return "error.message is not a string";
  }
  return nullptr;
}

const bool g_verbose = [] {
  const char* verbose = std::getenv("KEYHOLD_FUZZ_VERBOSE");
  return verbose != nullptr && std::string_view(verbose) == "1";
}();

// Checks each outgoing message and counts the responses; thread-safe, as Outbound requires.
class CheckingOutbound : public keyhold::Outbound {
 public:
  // Waits until at least `requests` responses were sent, or until `limit` passes.
  void wait_for_responses(std::size_t requests, std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    answered_.wait_for(lock, limit, [&] { return responses_ >= requests; });
  }

  void send(const json& message, const keyhold::CallContext*) override {
    const std::string text = keyhold::rpc::serialize(message);
    if (g_verbose) std::fprintf(stderr, "<- %.2000s\n", text.c_str());
    const json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) fail("an outbound message is not valid JSON", text);
    if (const char* why = jsonrpc_shape_error(parsed))
      fail((std::string("an outbound message is not JSON-RPC 2.0: ") + why).c_str(), text);
    if (text.find(kFuzzSecret) != std::string::npos)
      fail("an outbound message carries the known secret unredacted", text);
    if (!parsed.contains("method")) {
      std::lock_guard lock(mutex_);
      ++responses_;
      answered_.notify_all();
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable answered_;
  std::size_t responses_ = 0;
};

keyhold::SessionOptions& session_options() {
  static keyhold::SessionOptions* options = [] {
    auto* created = new keyhold::SessionOptions;
    auto built = keyhold::secrets::Redactor::create(keyhold::secrets::builtin_credential_rules());
    if (!built.is_ok()) fail("cannot build the redactor", built.status().message());
    std::shared_ptr<keyhold::secrets::Redactor> redactor = std::move(built).value();
    std::vector<keyhold::secrets::KnownSecret> secrets;
    secrets.push_back({"fuzz-secret", keyhold::vault::SecretBuffer::copy_of(kFuzzSecret)});
    if (auto known = redactor->set_secrets(secrets); !known.is_ok())
      fail("cannot set the secret", known.message());
    created->redactor = std::move(redactor);
    return created;
  }();
  return *options;
}

// True when line parses (here) to an object with "method" and "id": a request the session
// should answer.
bool looks_like_request(std::string_view line) {
  const json message = json::parse(line, nullptr, /*allow_exceptions=*/false);
  return message.is_object() && message.contains("method") && message.contains("id");
}

// Feeds text to the session line by line, as run_stdio does. Returns how many lines
// looked like requests.
std::size_t feed_lines(keyhold::Session& session, std::string_view text) {
  std::size_t requests = 0;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) {
      if (looks_like_request(line)) ++requests;
      session.handle_text(line);
    }
    if (newline == std::string_view::npos) break;
    text.remove_prefix(newline + 1);
  }
  return requests;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  keyhold::fuzz::silence_host_logging();
  keyhold::fuzz::fuzz_fixture();
  session_options();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& fixture = keyhold::fuzz::fuzz_fixture();
  CheckingOutbound out;
  keyhold::Session session(fixture.registry, out, fixture.pool, session_options());
  fixture.hub.attach(&session);
  std::size_t requests = 0;
  if (size > 0 && (data[0] & 1) != 0) {
    session.handle_text(kInitialize);
    session.handle_text(kInitialized);
    requests = 1;
  }
  requests += feed_lines(session, std::string_view(reinterpret_cast<const char*>(data), size));
  out.wait_for_responses(requests, kSettleTime);
  fixture.hub.detach(&session);
  session.close();
  return 0;
}
