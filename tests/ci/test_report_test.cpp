#include "test_report.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace keyhold::ci;
using Catch::Matchers::Contains;

namespace {
// Feeds text line by line; returns how many lines finished a test.
int feed_all(LineReader& reader, const std::string& text) {
  std::istringstream in(text);
  std::string line;
  int finished = 0;
  while (std::getline(in, line)) finished += reader.feed(line) ? 1 : 0;
  reader.finish();
  return finished;
}
}  // namespace

TEST_CASE("tap: Perl Test::More output (plan first, # diagnostics, skip, todo)") {
  TapReader tap;
  const int finished = feed_all(tap,
                                "1..7\n"
                                "ok 1 - adds\n"
                                "ok 2 - subtracts\n"
                                "not ok 3 - multiplies\n"
                                "#   Failed test 'multiplies'\n"
                                "#   at t/basics.t line 14.\n"
                                "#          got: '6'\n"
                                "#     expected: '7'\n"
                                "ok 4 # skip no network in this sandbox\n"
                                "ok 5 - matches\n"
                                "not ok 6 - fails plainly\n"
                                "#   Failed test 'fails plainly'\n"
                                "#   at t/basics.t line 20.\n"
                                "not ok 7 - future feature # TODO not written yet\n"
                                "#   Failed (TODO) test 'future feature'\n"
                                "#   at t/basics.t line 23.\n"
                                "# Looks like you failed 2 tests of 7.\n");
  CHECK(finished == 7);
  CHECK(tap.total() == 7);
  const auto& o = tap.outcome();
  CHECK(o.passed == 3);
  CHECK(o.failed == 2);
  CHECK(o.skipped == 2);
  REQUIRE(o.failures.size() == 2);
  CHECK(o.failures[0].name == "multiplies");
  CHECK(o.failures[0].message == "Failed test 'multiplies'\ngot: '6'\nexpected: '7'");
  CHECK(o.failures[0].location == "t/basics.t:14");
  CHECK(o.failures[1].name == "fails plainly");
  CHECK(o.failures[1].message == "Failed test 'fails plainly'");
  CHECK(o.failures[1].location == "t/basics.t:20");
}

TEST_CASE("tap: node's TAP with subtests and YAML diagnostics; suites are not tests") {
  TapReader tap;
  feed_all(tap,
           "TAP version 13\n"
           "# Subtest: math\n"
           "    # Subtest: adds\n"
           "    ok 1 - adds\n"
           "      ---\n"
           "      duration_ms: 0.96\n"
           "      ...\n"
           "    # Subtest: multiplies wrongly\n"
           "    not ok 2 - multiplies wrongly\n"
           "      ---\n"
           "      location: '/p/test/math.test.mjs:12:3'\n"
           "      error: |-\n"
           "        two times three is seven\n"
           "        \n"
           "        6 !== 7\n"
           "        \n"
           "      code: 'ERR_ASSERTION'\n"
           "      ...\n"
           "    ok 3 - skipped on purpose # SKIP not ready\n"
           "    1..3\n"
           "not ok 1 - math\n"
           "  ---\n"
           "  error: '1 subtest failed'\n"
           "  ...\n"
           "ok 2 - divides\n"
           "not ok 3 - throws an error\n"
           "  ---\n"
           "  location: '/p/test/math.test.mjs:22:1'\n"
           "  error: 'boom: the widget''s broken'\n"
           "  ...\n"
           "1..3\n"
           "# tests 5\n");
  const auto& o = tap.outcome();
  CHECK(o.passed == 2);
  CHECK(o.failed == 2);
  CHECK(o.skipped == 1);
  REQUIRE(o.failures.size() == 2);
  CHECK(o.failures[0].name == "multiplies wrongly");
  CHECK(o.failures[0].message == "two times three is seven\n\n6 !== 7");
  CHECK(o.failures[0].location == "/p/test/math.test.mjs:12:3");
  CHECK(o.failures[1].name == "throws an error");
  CHECK(o.failures[1].message == "boom: the widget's broken");
}

TEST_CASE("tap: Bail out! is a failure; escaped # stays in the name") {
  TapReader tap;
  feed_all(tap, "ok 1 - issue \\#12 fixed\nBail out! database is down\n");
  CHECK(tap.outcome().passed == 1);
  CHECK(tap.last_test() == "issue #12 fixed");
  REQUIRE(tap.outcome().failures.size() == 1);
  CHECK(tap.outcome().failures[0].name == "Bail out!");
  CHECK(tap.outcome().failures[0].message == "database is down");
}

TEST_CASE("ctest: results, skipped and disabled, output of failed tests as message") {
  CtestReader ctest;
  const int finished =
      feed_all(ctest,
               "Test project /tmp/ctb\n"
               "    Start 1: adds\n"
               "1/6 Test #1: adds .............................   Passed    0.01 sec\n"
               "    Start 3: multiplies\n"
               "3/6 Test #3: multiplies .......................***Failed    0.00 sec\n"
               "check.c:12: expected 2 * 3 == 7, got 6\n"
               "\n"
               "    Start 4: divides_by_zero\n"
               "4/6 Test #4: divides_by_zero ..................***Failed    0.00 sec\n"
               "refusing to divide by zero\n"
               "\n"
               "    Start 5: needs_network\n"
               "5/6 Test #5: needs_network ....................***Skipped   0.01 sec\n"
               "6/6 Test #6: disabled_one .....................***Not Run (Disabled)   0.00 sec\n"
               "7/7 Test #7: crashes ..........................***Exception: SegFault  0.01 sec\n"
               "\n"
               "60% tests passed, 2 tests failed out of 5\n");
  CHECK(finished == 6);
  CHECK(ctest.total() == 7);
  const auto& o = ctest.outcome();
  CHECK(o.passed == 1);
  CHECK(o.failed == 3);
  CHECK(o.skipped == 2);
  REQUIRE(o.failures.size() == 3);
  CHECK(o.failures[0].name == "multiplies");
  CHECK(o.failures[0].message == "check.c:12: expected 2 * 3 == 7, got 6");
  CHECK(o.failures[0].location == "check.c:12");
  CHECK(o.failures[1].name == "divides_by_zero");
  CHECK(o.failures[1].message == "refusing to divide by zero");
  CHECK(o.failures[1].location.empty());
  CHECK(o.failures[2].name == "crashes");
  CHECK(o.failures[2].message == "Exception: SegFault");
}

TEST_CASE("junit: node's report, nested suites, failure/error/skipped, locations") {
  const std::string xml = R"(<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testsuite name="math" tests="3">
    <testcase name="adds" classname="test"/>
    <testcase name="multiplies wrongly" classname="test">
      <failure type="testCodeFailure" message="two times three is seven6 !== 7">
  AssertionError: two times three is seven
      at TestContext.&lt;anonymous> (file:///p/test/math.test.mjs:13:12)
      at Test.run (node:internal/test_runner/test:1047:25)
      </failure>
    </testcase>
    <testcase name="skipped on purpose" classname="test"><skipped message="not ready"/></testcase>
  </testsuite>
  <testcase name="divides" classname="test"/>
  <testcase name="explodes" classname="test" file="/p/test/x.mjs" line="7"><error>TypeError: x is undefined
more</error></testcase>
</testsuites>)";
  std::string error;
  const auto o = parse_junit(xml, "/p", &error);
  REQUIRE(o.has_value());
  CHECK(o->passed == 2);
  CHECK(o->failed == 2);
  CHECK(o->skipped == 1);
  REQUIRE(o->failures.size() == 2);
  CHECK(o->failures[0].name == "math > multiplies wrongly");
  CHECK(o->failures[0].message == "two times three is seven6 !== 7");
  CHECK(o->failures[0].location == "test/math.test.mjs:13:12");
  CHECK(o->failures[1].name == "explodes");
  CHECK(o->failures[1].message == "TypeError: x is undefined");
  CHECK(o->failures[1].location == "/p/test/x.mjs:7");
}

TEST_CASE("junit: broken XML and a wrong root are errors that say where") {
  std::string error;
  CHECK_FALSE(parse_junit("<testsuites><testcase>", "", &error).has_value());
  CHECK_THAT(error, Contains("not well-formed XML"));
  CHECK_FALSE(parse_junit("<html/>", "", &error).has_value());
  CHECK(error == "the JUnit report's root element is <html>, expected <testsuites> or <testsuite>");
}

TEST_CASE("auth lines: 401/403 next to HTTP words count, other numbers do not") {
  CHECK(auth_failure_line("HTTP 401 Unauthorized from GET /whoami") ==
        "HTTP 401 Unauthorized from GET /whoami");
  CHECK(auth_failure_line("  Error: Request failed with status code 403  ").value() ==
        "Error: Request failed with status code 403");
  CHECK(auth_failure_line("response: 401").has_value());
  CHECK_FALSE(auth_failure_line("expected 401 items, got 400").has_value());
  CHECK_FALSE(auth_failure_line("HTTP 4013 bytes").has_value());
  CHECK_FALSE(auth_failure_line("HTTP 500 Internal Server Error").has_value());
  CHECK_FALSE(auth_failure_line("all good").has_value());
}

TEST_CASE("utf8: invalid sequences become U+FFFD, control characters spaces") {
  CHECK(valid_utf8("ok \xc3\xa9") == "ok \xc3\xa9");
  CHECK(valid_utf8("bad \xff!") == "bad \xEF\xBF\xBD!");
  CHECK(valid_utf8("cut \xe2\x82") == "cut \xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(valid_utf8("bell\x07") == "bell ");
  CHECK(valid_utf8("tab\tnl\n") == "tab\tnl\n");
}

TEST_CASE("long lines do not overflow the stack in the regex readers (2 KiB cut)") {
  SECTION("TAP: '# at ' followed by 40000 characters") {
    TapReader tap;
    feed_all(tap, "1..1\nnot ok 1 - x\n# at " + std::string(40000, 'x') + "\n");
    REQUIRE(tap.outcome().failed == 1);
    REQUIRE(tap.outcome().failures.at(0).location.empty());
  }
  SECTION("TAP: a long '# at FILE line N.' keeps no location but does not crash") {
    TapReader tap;
    feed_all(tap, "1..1\nnot ok 1 - x\n# at " + std::string(80000, 'x') + " line 3.\n");
    REQUIRE(tap.outcome().failed == 1);
  }
  SECTION("ctest: a 60000-character result line and output line") {
    CtestReader ctest;
    feed_all(ctest, "1/1 Test #1: " + std::string(60000, 'a') + "\n" +
                        "1/1 Test #1: t .......***Failed    0.01 sec\n" + std::string(60000, 'b') +
                        ":12: boom\n" + std::string(60000, ' ') + "Start 2: x\n");
    REQUIRE(ctest.outcome().failed == 1);
  }
  SECTION("junit: a failure text that is one long path-like token") {
    std::string error;
    const std::string xml = "<testsuites><testsuite name='s'><testcase name='t'><failure>/" +
                            std::string(80000, 'p') +
                            " at /w/t.js:3:4</failure></testcase></testsuite></testsuites>";
    const auto out = parse_junit(xml, "/w", &error);
    REQUIRE(out);
    REQUIRE(out->failed == 1);
  }
}
