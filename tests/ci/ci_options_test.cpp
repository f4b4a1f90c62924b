#include "ci_options.hpp"

#include <catch2/catch.hpp>

using Catch::Matchers::Contains;
using keyhold::ci::filter_problem;
using keyhold::ci::parse_options;
using keyhold::ci::ReportFormat;
using nlohmann::json;

namespace {
json one_suite(json suite) { return {{"suites", {{"api", std::move(suite)}}}}; }
const json kMinimal = {{"argv", {"npm", "test"}}, {"cwd", "/srv/app"}};
}  // namespace

TEST_CASE("ci options: a suite from the issue's example is read completely") {
  const auto o =
      parse_options(one_suite({{"argv", {"npm", "test", "--", "--reporter=junit"}},
                               {"cwd", "/srv/app"},
                               {"timeout", "10m"},
                               {"report", {{"format", "junit"}, {"path", "reports/junit.xml"}}},
                               {"env", {{"NODE_ENV", "test"}}},
                               {"secret_env", {{"MCP_AUTH_TOKEN", "api-token"}}},
                               {"filter_arg", "--grep"},
                               {"auth_failure_exit_code", 77}}));
  const auto& s = o.suites.at("api");
  CHECK(s.argv == std::vector<std::string>{"npm", "test", "--", "--reporter=junit"});
  CHECK(s.timeout == std::chrono::minutes(10));
  CHECK(s.format == ReportFormat::kJunit);
  CHECK(s.report_path == "reports/junit.xml");
  CHECK(s.env.at("NODE_ENV") == "test");
  CHECK(s.secret_env.at("MCP_AUTH_TOKEN") == "api-token");
  CHECK(s.filter_arg == "--grep");
  CHECK(s.auth_failure_exit_code == 77);
  CHECK(o.max_concurrent_runs == 1);
  CHECK(o.max_queued_runs == 4);
  CHECK(o.history == 50);
}

TEST_CASE("ci options: every instance-level option is accepted") {
  json options = one_suite(kMinimal);
  options.update({{"max_concurrent_runs", 2},
                  {"max_queued_runs", 0},
                  {"history", 5},
                  {"history_path", "/var/lib/keyhold/ci.sqlite"},
                  {"log_bytes", 4096},
                  {"tail_bytes", 512},
                  {"kill_grace", "2s"}});
  const auto o = parse_options(options);
  CHECK(o.max_concurrent_runs == 2);
  CHECK(o.max_queued_runs == 0);
  CHECK(o.history == 5);
  CHECK(o.history_path == "/var/lib/keyhold/ci.sqlite");
  CHECK(o.log_bytes == 4096);
  CHECK(o.tail_bytes == 512);
  CHECK(o.kill_grace == std::chrono::seconds(2));
}

TEST_CASE("ci options: defaults are exit-code, 10 minutes, no filter") {
  const auto o = parse_options(one_suite(kMinimal));
  const auto& s = o.suites.at("api");
  CHECK(s.format == ReportFormat::kExitCode);
  CHECK(s.timeout == std::chrono::minutes(10));
  CHECK(s.filter_arg.empty());
  CHECK_FALSE(s.auth_failure_exit_code.has_value());
}

TEST_CASE("ci options: mistakes are refused with a message naming the option") {
  CHECK_THROWS_WITH(parse_options(json::object()), Contains("option suites is required"));
  CHECK_THROWS_WITH(parse_options(one_suite({{"cwd", "/x"}})),
                    Contains("option suites.api.argv is required"));
  CHECK_THROWS_WITH(parse_options(one_suite({{"argv", {"x"}}, {"cwd", "rel"}})),
                    Contains("suites.api.cwd is required and must be an absolute"));
  json bad_format = kMinimal;
  bad_format["report"] = {{"format", "xunit"}};
  CHECK_THROWS_WITH(parse_options(one_suite(bad_format)),
                    Contains("report.format must be \"junit\", \"tap\""));
  json junit_no_path = kMinimal;
  junit_no_path["report"] = {{"format", "junit"}};
  CHECK_THROWS_WITH(parse_options(one_suite(junit_no_path)),
                    Contains("report.path is required for format \"junit\""));
  json undeclared = kMinimal;
  undeclared["secret_env"] = {{"TOKEN", "prod-db"}};
  CHECK_THROWS_WITH(parse_options(one_suite(undeclared)),
                    Contains("names the alias \"prod-db\"; the ci plugin declares: api-token"));
  json bad_var = kMinimal;
  bad_var["env"] = {{"A=B", "x"}};
  CHECK_THROWS_WITH(parse_options(one_suite(bad_var)), Contains("not a valid variable"));
  json unknown = kMinimal;
  unknown["shell"] = true;
  CHECK_THROWS_WITH(parse_options(one_suite(unknown)), Contains("unknown option suites.api.shell"));
  CHECK_THROWS_WITH(parse_options({{"suites", {{"a b", kMinimal}}}}),
                    Contains("needs a name of letters"));
}

TEST_CASE("ci options: timeout and kill_grace read the SDK duration grammar") {
  const auto timeout = [](const json& value) {
    json suite = kMinimal;
    suite["timeout"] = value;
    return parse_options(one_suite(suite)).suites.at("api").timeout;
  };
  CHECK(timeout("90s") == std::chrono::seconds(90));
  CHECK(timeout("10m") == std::chrono::minutes(10));
  CHECK(timeout("2min") == std::chrono::minutes(2));
  CHECK(timeout("1h30m") == std::chrono::minutes(90));
  CHECK(timeout(3) == std::chrono::seconds(3));
  CHECK_THROWS_WITH(timeout("0s"), Contains("option suites.api.timeout must be"));
  CHECK_THROWS_WITH(timeout("8d"), Contains("option suites.api.timeout must be"));
  json options = one_suite(kMinimal);
  options["kill_grace"] = "500ms";
  CHECK(parse_options(options).kill_grace == std::chrono::milliseconds(500));
  options["kill_grace"] = "soon";
  CHECK_THROWS_WITH(parse_options(options), Contains("option kill_grace must be"));
}

TEST_CASE("ci filter: plain test names pass, shell and option syntax is refused") {
  for (const char* ok : {"adds", "adds two", "api/whoami", "test_login*", "a.b:c@d+e,f=g#h-i"})
    CHECK(filter_problem(ok).empty());
  CHECK(filter_problem("math > x") ==
        "the filter contains '>'; allowed are letters, digits, space and _ . : / @ + , = * # -");
  CHECK(filter_problem("; rm -rf /") ==
        "the filter contains ';'; allowed are letters, digits, space and _ . : / @ + , = * # -");
  CHECK_THAT(filter_problem("$(id)"), Contains("contains '$'"));
  CHECK_THAT(filter_problem("`id`"), Contains("contains '`'"));
  CHECK(filter_problem("a\nb") == "the filter contains a line break");
  CHECK(filter_problem("--inspect") == "the filter starts with '-' (it would read as an option)");
  CHECK(filter_problem("-x") == "the filter starts with '-' (it would read as an option)");
  CHECK(filter_problem("") == "the filter is empty");
  CHECK(filter_problem(std::string(201, 'a')) == "the filter is longer than 200 characters");
  CHECK_THAT(filter_problem("a|b"), Contains("contains '|'"));
  CHECK_THAT(filter_problem("a'b"), Contains("contains '''"));
  CHECK(filter_problem(std::string("a\x01") + "b") == "the filter contains a control character");
}

TEST_CASE("ci filter: a non-ASCII character is quoted whole, with its code point") {
  const std::string allowed = "; allowed are letters, digits, space and _ . : / @ + , = * # -";
  CHECK(filter_problem("caf\u00e9") == "the filter contains '\u00e9' (U+00E9)" + allowed);
  CHECK(filter_problem("\uff54est") == "the filter contains '\uff54' (U+FF54)" + allowed);
  CHECK(filter_problem("ok \U0001F600") == "the filter contains '\U0001F600' (U+1F600)" + allowed);
  CHECK(filter_problem("a\u2028b") == "the filter contains a line break (U+2028)");
  CHECK(filter_problem("a\u2029b") == "the filter contains a line break (U+2029)");
  CHECK(filter_problem("a\u0085b") == "the filter contains a line break (U+0085)");
  CHECK(filter_problem("a\u202eb") ==
        "the filter contains an invisible formatting or control character (U+202E)");
  CHECK(filter_problem("a\u200bb") ==
        "the filter contains an invisible formatting or control character (U+200B)");
  // Not UTF-8 at all (a lone continuation byte, a truncated sequence, an overlong form, a
  // surrogate): said so, without quoting the bytes.
  for (const char* bad : {"a\x80", "a\xc3", "a\xc0\xaf", "a\xed\xa0\x80", "a\xf5\x80\x80\x80"})
    CHECK(filter_problem(bad) == "the filter is not valid UTF-8");
}

TEST_CASE("ci filter: every refusal message is valid UTF-8, whatever the filter") {
  // Each two-, three- and four-byte lead with each continuation: the message never
  // carries part of a character.
  const auto valid_utf8 = [](const std::string& text) {
    return nlohmann::json(text)
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::strict)
               .size() > 0;
  };
  for (int lead = 0x80; lead <= 0xFF; ++lead)
    for (int next = 0x80; next <= 0xBF; next += 7) {
      const std::string filter = std::string("x") + static_cast<char>(lead) +
                                 static_cast<char>(next) + static_cast<char>(0x80) +
                                 static_cast<char>(0x80);
      INFO(lead << " " << next);
      CHECK_NOTHROW(valid_utf8(filter_problem(filter)));
    }
}

TEST_CASE("ci filter: a leading '@' (response-file expansion) is refused, a later one is not") {
  CHECK(filter_problem("@/etc/passwd") ==
        "the filter starts with '@' (many runners read it as a file of arguments)");
  CHECK(filter_problem("@args.txt") ==
        "the filter starts with '@' (many runners read it as a file of arguments)");
  CHECK(filter_problem("user@host").empty());
}
