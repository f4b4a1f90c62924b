// test_report.hpp - what a run found out about its tests, and the readers that find it:
// a JUnit XML report (pugixml), TAP and ctest output read line by line as it streams (so
// progress can be reported as tests finish), and the lines that look like HTTP
// authentication failures. Pure: no process, no I/O; tests/ci/test_report_test.cpp.
#pragma once

#include <keyhold/sdk/utf8.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keyhold::ci {

struct TestFailure {
  std::string name;
  std::string message;
  std::string location;  // "file:line[:column]" or empty
};

struct TestOutcome {
  long passed = 0;
  long failed = 0;
  long skipped = 0;
  std::vector<TestFailure> failures;  // at most kMaxFailures; failed counts them all
};

inline constexpr std::size_t kMaxFailures = 100;
inline constexpr std::size_t kMaxMessageBytes = 4000;

// Reads streamed output (one line at a time, without the newline) of a test runner.
class LineReader {
 public:
  virtual ~LineReader() = default;
  // Returns true when the line finished a test (outcome() counts it).
  virtual bool feed(std::string_view line) = 0;
  // End of output: completes a failure still collecting its message.
  virtual void finish() {}
  const TestOutcome& outcome() const { return outcome_; }
  // Tests the output announced (TAP plan, ctest "i/N"), or -1.
  long total() const { return total_; }
  // The name of the test that finished last.
  const std::string& last_test() const { return last_test_; }

 protected:
  void add_failure(TestFailure failure);
  TestOutcome outcome_;
  long total_ = -1;
  std::string last_test_;
};

// TAP 12/13/14: "ok N - name", "not ok N - name # SKIP/TODO reason", plans, "Bail out!",
// indented subtests (a test point whose subtests came before it is a suite, not a test),
// YAML diagnostics (message/error, location/at) and "#" comment diagnostics after a failed
// point ("at FILE line N." becomes the location). TODO points count as skipped.
class TapReader : public LineReader {
 public:
  bool feed(std::string_view line) override;
  void finish() override;

 private:
  void close_failure();
  void yaml_line(std::string_view line);
  void finish_block();

  std::optional<std::size_t> last_point_indent_;
  std::optional<TestFailure> open_failure_;
  std::size_t open_indent_ = 0;
  std::vector<std::string> comment_lines_;
  bool in_yaml_ = false;
  std::size_t yaml_indent_ = 0;
  std::string yaml_key_;  // collecting a block scalar for this key
  std::size_t block_indent_ = 0;
  std::vector<std::string> block_lines_;
  std::string yaml_message_;
  std::string yaml_location_;
};

// ctest's console output: "i/N Test #k: name ....   Passed   0.01 sec", "***Failed",
// "***Skipped", "***Not Run (Disabled)", "***Timeout", "***Exception: ...". The lines a
// failed test printed (ctest --output-on-failure) become its message; a leading
// "file:line:" in them becomes the location.
class CtestReader : public LineReader {
 public:
  bool feed(std::string_view line) override;
  void finish() override;

 private:
  void close_failure();
  std::optional<TestFailure> open_failure_;
  std::vector<std::string> output_lines_;
};

// Parses a JUnit XML report (testsuites/testsuite/testcase with failure, error, skipped).
// A failure's name is the testcase name, prefixed by its enclosing testsuite names
// (" > "), message the failure's message attribute (or its first text line), location
// the file/line attributes or the first "path:line:col" of the failure text that is not a
// runtime-internal frame; paths under cwd are made relative. nullopt and *error when the
// XML cannot be read.
std::optional<TestOutcome> parse_junit(std::string_view xml, std::string_view cwd,
                                       std::string* error);

// When line looks like an HTTP authentication failure (401 or 403 next to HTTP, status,
// unauthorized, forbidden, ...), returns it trimmed to at most 300 bytes.
std::optional<std::string> auth_failure_line(std::string_view line);

// Text from a child or a report as it goes into a result: invalid UTF-8 replaced with
// U+FFFD (JSON needs valid UTF-8), control characters other than tab, LF and CR with a
// space (they would only confuse a reader).
inline std::string valid_utf8(std::string_view text) {
  return sdk::to_valid_utf8(text, sdk::ControlCharacters::kToSpace);
}

}  // namespace keyhold::ci
