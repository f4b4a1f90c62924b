// The sql connector's instance options: defaults, checks and path resolution.
#include "sql_options.hpp"

#include <catch2/catch.hpp>

using keyhold::json;
using namespace keyhold::sql;

namespace {
const std::map<std::string, std::string> kEnv = {{"HOME", "/home/u"}, {"XDG_DATA_HOME", "/xdg"}};
}

TEST_CASE("defaults: sqlite, read-only, 500 rows, 15 s", "[sql]") {
  const auto o = parse_options(json{{"path", "/db/x.sqlite"}}, kEnv);
  CHECK(o.backend == "sqlite");
  CHECK(o.read_only);
  CHECK(o.limits.row_limit == 500);
  CHECK(o.limits.max_result_bytes == 4 * 1024 * 1024);
  CHECK(o.limits.statement_timeout == std::chrono::seconds(15));
  CHECK(o.path == "/db/x.sqlite");
  CHECK_FALSE(o.allow_privileged_role);
  CHECK_FALSE(o.create_demo);
}

TEST_CASE("a relative sqlite path resolves against data_dir, then XDG_DATA_HOME, then HOME",
          "[sql]") {
  CHECK(parse_options(json{{"path", "d.sqlite"}, {"data_dir", "/data/"}}, kEnv).path ==
        "/data/d.sqlite");
  CHECK(parse_options(json{{"path", "d.sqlite"}}, kEnv).path == "/xdg/keyhold/d.sqlite");
  CHECK(parse_options(json{{"path", "d.sqlite"}}, {{"HOME", "/home/u"}}).path ==
        "/home/u/.local/share/keyhold/d.sqlite");
  CHECK(parse_options(json{{"create_demo", true}}, kEnv).path == "/xdg/keyhold/demo.sqlite");
  CHECK_THROWS_AS(parse_options(json{{"path", "d.sqlite"}}, {}), std::invalid_argument);
}

TEST_CASE("postgres options become libpq keywords without secrets", "[sql]") {
  const auto o = parse_options(json{{"backend", "postgres"},
                                    {"host", "127.0.0.1"},
                                    {"port", 5433},
                                    {"dbname", "shop"},
                                    {"user", "app"},
                                    {"sslmode", "disable"},
                                    {"read_only", false},
                                    {"row_limit", 10},
                                    {"max_result_bytes", 65536},
                                    {"statement_timeout", "2s"},
                                    {"schemas", {"public"}},
                                    {"allow_privileged_role", true}},
                               kEnv);
  CHECK(o.backend == "postgres");
  CHECK_FALSE(o.read_only);
  CHECK(o.limits.row_limit == 10);
  CHECK(o.limits.max_result_bytes == 65536);
  CHECK(o.schemas == std::vector<std::string>{"public"});
  CHECK(o.allow_privileged_role);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"host", "127.0.0.1"},  {"dbname", "shop"}, {"user", "app"},
      {"sslmode", "disable"}, {"port", "5433"},   {"connect_timeout", "10"}};
  CHECK(o.connection == expected);
}

TEST_CASE("bad options are refused with a message naming the option", "[sql]") {
  const auto refuses = [](const json& options, const std::string& needle) {
    try {
      parse_options(options, kEnv);
      FAIL("accepted " << options.dump());
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
  };
  refuses(json{{"backend", "mysql"}}, "backend");
  refuses(json{{"path", "/x"}, {"row_limit", 0}}, "row_limit");
  refuses(json{{"path", "/x"}, {"max_result_bytes", 100}}, "max_result_bytes");
  refuses(json{{"path", "/x"}, {"read_only", "yes"}}, "read_only");
  refuses(json{{"path", "/x"}, {"password", "hunter2"}}, "unknown option password");
  refuses(json::object(), "path");
  refuses(json{{"path", "/x"}, {"host", "db"}}, "host");
  refuses(json{{"backend", "postgres"}, {"port", 70000}}, "port");
  refuses(json{{"backend", "postgres"}, {"path", "/x"}}, "path");
  refuses(json{{"path", "/x"}, {"allow_privileged_role", true}}, "allow_privileged_role");
  refuses(json{{"backend", "postgres"}, {"allow_privileged_role", "yes"}}, "allow_privileged_role");
}

TEST_CASE("statement_timeout reads the SDK duration grammar: 10m is ten minutes", "[sql]") {
  const auto timeout = [](const json& value) {
    return parse_options(json{{"path", "/db/x.sqlite"}, {"statement_timeout", value}}, kEnv)
        .limits.statement_timeout;
  };
  CHECK(timeout("10m") == std::chrono::minutes(10));
  CHECK(timeout("1m30s") == std::chrono::seconds(90));
  CHECK(timeout("2min") == std::chrono::minutes(2));
  CHECK(timeout("500ms") == std::chrono::milliseconds(500));
  CHECK(timeout(15) == std::chrono::seconds(15));  // a number is seconds, as before
  CHECK(timeout("0.25") == std::chrono::milliseconds(250));
  CHECK_THROWS_WITH(timeout("8d"), Catch::Contains("option statement_timeout must be a duration"));
  CHECK_THROWS_WITH(timeout("soon"),
                    Catch::Contains("option statement_timeout must be a duration"));
}
