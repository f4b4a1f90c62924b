// The provider interface and the command: source (issue 19, acceptance 5): option syntax,
// the TTL cache counted by a script that counts its own calls, stale_ok, the timeout, and
// stderr reaching the log without the value.
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>
#include <sstream>
#include <thread>

#include "test_support.hpp"

using namespace keyhold::secrets;
using namespace keyhold::secrets::testing;

namespace {

// A script that appends a line to DIR/calls on every run and prints DIR/value; it fails
// (exit 3, a message on stderr) while DIR/fail exists.
std::string counting_script(const TempDir& dir) {
  const std::string d = dir.path.string();
  return dir
      .write("counting.sh",
             "#!/bin/sh\necho call >> '" + d + "/calls'\n" + "if [ -e '" + d +
                 "/fail' ]; then echo 'counting.sh: store unreachable' >&2; exit 3; fi\n" +
                 "cat '" + d + "/value'\n",
             true)
      .string();
}

int calls(const TempDir& dir) {
  const std::string text = dir.read("calls");
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

std::shared_ptr<ExternalSource> parse_ok(const std::string& text) {
  auto parsed = ExternalSource::parse(text);
  INFO(parsed.status().message());
  REQUIRE(parsed.is_ok());
  return parsed.value();
}

}  // namespace

TEST_CASE("source options: ttl, stale_ok, timeout and a JSON argv with spaces and brackets",
          "[sources]") {
  auto source = parse_ok(R"(command:["printf", "%s", "a ] b"]  ttl=90s stale_ok timeout=2s)");
  CHECK(source->describe() == R"(command:["printf", "%s", "a ] b"])");
  CHECK(source->options().ttl == std::chrono::seconds(90));
  CHECK(source->options().stale_ok);
  CHECK(source->options().timeout == std::chrono::seconds(2));
  CHECK(text_of(source->value(nullptr)) == "a ] b");

  auto defaults = parse_ok("command:true");
  CHECK(defaults->options().ttl == std::chrono::minutes(5));
  CHECK_FALSE(defaults->options().stale_ok);
}

TEST_CASE("source options: malformed mappings are refused with the reason", "[sources]") {
  const auto error = [](const std::string& text) {
    auto parsed = ExternalSource::parse(text);
    REQUIRE_FALSE(parsed.is_ok());
    return parsed.status().message();
  };
  CHECK_THAT(error("command:[\"a\""), Catch::Contains("not closed"));
  CHECK_THAT(error("command:[]"), Catch::Contains("non-empty JSON array of strings"));
  CHECK_THAT(error("command:[1]"), Catch::Contains("non-empty JSON array of strings"));
  CHECK_THAT(error("command:true ttl=10"), Catch::Contains("option ttl"));
  CHECK_THAT(error("command:true stale_ok=maybe"), Catch::Contains("true or false"));
  CHECK_THAT(error("command:true colour=red"), Catch::Contains("unknown option 'colour'"));
  CHECK_THAT(error("command:"), Catch::Contains("names nothing"));
}

TEST_CASE("command: the TTL is respected, counted by the script's own calls", "[sources]") {
  TempDir dir;
  const std::string value = canary("ttl");
  dir.write("value", value + "\n");
  auto source = parse_ok("command:[\"" + counting_script(dir) + "\"] ttl=400ms");
  for (int i = 0; i < 5; ++i) CHECK(text_of(source->value(nullptr)) == value);
  CHECK(calls(dir) == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  CHECK(text_of(source->value(nullptr)) == value);
  CHECK(text_of(source->value(nullptr)) == value);
  CHECK(calls(dir) == 2);

  auto every_use = parse_ok("command:[\"" + counting_script(dir) + "\"] ttl=0s");
  for (int i = 0; i < 3; ++i) CHECK(text_of(every_use->value(nullptr)) == value);
  CHECK(calls(dir) == 5);
}

TEST_CASE("command: concurrent uses of an expired value cause one fetch", "[sources]") {
  TempDir dir;
  dir.write("value", canary("threads"));
  auto source = parse_ok("command:[\"" + counting_script(dir) + "\"] ttl=1m");
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back([&] { (void)source->value(nullptr); });
  for (auto& t : threads) t.join();
  CHECK(calls(dir) == 1);
}

TEST_CASE("command: a failed refresh errors without stale_ok and uses the last value with it",
          "[sources]") {
  TempDir dir;
  const std::string value = canary("stale");
  dir.write("value", value);
  EventRecorder recorder;
  auto strict = parse_ok("command:[\"" + counting_script(dir) + "\"] ttl=0s");
  auto lenient = parse_ok("command:[\"" + counting_script(dir) + "\", \"x\"] ttl=0s stale_ok");
  CHECK(text_of(strict->value(nullptr)) == value);
  CHECK(text_of(lenient->value(nullptr)) == value);
  dir.write("fail", "");

  auto failed = strict->value(nullptr);
  REQUIRE_FALSE(failed.is_ok());
  CHECK_THAT(failed.status().message(), Catch::Contains("exited with status 3"));
  CHECK_THAT(failed.status().message(), Catch::Contains("set stale_ok to allow it"));
  CHECK_THAT(failed.status().message(), !Catch::Contains(value));
  CHECK(text_of(lenient->value(nullptr)) == value);
  CHECK(recorder.outcomes() == "ok,ok,error,stale");
  for (const auto& event : recorder.events) {
    CHECK_THAT(event.detail, !Catch::Contains(value));
    CHECK_THAT(event.source, !Catch::Contains(value));
  }

  // Inside a redactor reload the held value is handed out without a fetch.
  const int before = calls(dir);
  {
    const RedactorReloadScope reload;
    CHECK(text_of(strict->value(nullptr)) == value);
  }
  CHECK(calls(dir) == before);
}

TEST_CASE("command: a new value tells the redactor, which keeps the previous one too",
          "[sources]") {
  TempDir dir;
  dir.write("value", canary("first"));
  EventRecorder recorder;
  auto source = parse_ok("command:[\"" + counting_script(dir) + "\"] ttl=0s");
  (void)source->value(nullptr);
  (void)source->value(nullptr);
  CHECK(recorder.changes == 1);
  const auto previous_of = [&] {
    for (auto& known : previous_external_values())
      if (known.label == source->describe()) return std::string(known.value.view());
    return std::string("<none>");
  };
  CHECK(previous_of() == "<none>");
  const std::string first = text_of(source->value(nullptr));
  dir.write("value", canary("second"));
  (void)source->value(nullptr);
  CHECK(recorder.changes == 2);
  // The redactor keeps matching the value a plugin may still hold.
  CHECK(previous_of() == first);
}

TEST_CASE("command: a program that hangs is killed at the timeout", "[sources]") {
  auto source = parse_ok(R"(command:["sleep", "30"] timeout=1s)");
  const auto start = std::chrono::steady_clock::now();
  auto result = source->value(nullptr);
  REQUIRE_FALSE(result.is_ok());
  CHECK_THAT(result.status().message(), Catch::Contains("did not finish within 1s"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("command: a missing program and empty output are clear errors", "[sources]") {
  auto missing = parse_ok(R"(command:["/nonexistent/keyhold-test-program"])");
  CHECK_THAT(missing->value(nullptr).status().message(), Catch::Contains("exited with status 127"));
  auto empty = parse_ok(R"(command:["true"])");
  CHECK_THAT(empty->value(nullptr).status().message(), Catch::Contains("printed nothing"));
}

TEST_CASE("command: stderr goes to the log with the value cut out", "[sources]") {
  TempDir dir;
  const std::string value = canary("stderr");
  const auto script = dir.write(
      "noisy.sh",
      "#!/bin/sh\necho \"fetching, got " + value + " from the store\" >&2\necho " + value + "\n",
      true);
  std::ostringstream log;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  auto source = parse_ok("command:" + script.string());
  const std::string got = text_of(source->value(nullptr));
  spdlog::set_default_logger(previous);
  CHECK(got == value);
  CHECK_THAT(log.str(), Catch::Contains("fetching, got [REDACTED:command:" + script.string() +
                                        "] from the store"));
  CHECK_THAT(log.str(), !Catch::Contains(value));
}
