#include <catch2/catch.hpp>

#include "mount/server_catalog.hpp"

using keyhold::mount::append_page;
using keyhold::mount::catalog_from_server_lists;
using keyhold::mount::ServerLists;
using nlohmann::json;

TEST_CASE("a server's lists become the catalog describe() returns, field for field") {
  ServerLists lists;
  lists.tools = json::parse(R"([{"name":"echo","title":"Echo","description":"d",
    "inputSchema":{"type":"object","properties":{"message":{"type":"string"}}},
    "annotations":{"readOnlyHint":true}}])");
  lists.resources = json::parse(R"([{"uri":"demo://resource/static/1","name":"one"}])");
  lists.resource_templates = json::parse(R"([{"uriTemplate":"demo://x/{id}","name":"x"}])");
  lists.prompts = json::parse(R"([{"name":"simple-prompt","arguments":[]}])");
  std::vector<std::string> dropped;
  const json catalog = catalog_from_server_lists(lists, &dropped);
  CHECK(dropped.empty());
  CHECK(catalog["tools"] == lists.tools);
  CHECK(catalog["resources"] == lists.resources);
  CHECK(catalog["resourceTemplates"] == lists.resource_templates);
  CHECK(catalog["prompts"] == lists.prompts);
}

TEST_CASE("entries the registry would refuse are left out with a reason, the rest stay") {
  ServerLists lists;
  lists.tools = json::parse(R"([
    {"name":"good","inputSchema":{"type":"object"}},
    {"name":"has space","inputSchema":{"type":"object"}},
    {"name":"not-object","inputSchema":{"type":"string"}},
    {"name":"bad-output","inputSchema":{"type":"object"},"outputSchema":{"type":"array"}},
    {"description":"no name"},
    "not an object",
    {"name":"good","inputSchema":{"type":"object"}}])");
  lists.resources = json::parse(R"([{"name":"no uri"},{"uri":"a://b"}])");
  lists.prompts = json::parse(R"([{"name":""},{"name":"p"}])");
  std::vector<std::string> dropped;
  const json catalog = catalog_from_server_lists(lists, &dropped);
  REQUIRE(catalog["tools"].size() == 1);
  CHECK(catalog["tools"][0]["name"] == "good");
  CHECK(catalog["resources"].size() == 1);
  CHECK(catalog["prompts"].size() == 1);
  CHECK(catalog["resourceTemplates"].empty());
  CHECK(dropped.size() == 8);  // 6 tools, 1 resource, 1 prompt
  CHECK(std::find(dropped.begin(), dropped.end(),
                  "tool 'has space': its name is not 1-128 characters of [A-Za-z0-9_.-]") !=
        dropped.end());
  CHECK(std::find(dropped.begin(), dropped.end(), "tool 'good' is listed twice") != dropped.end());
}

TEST_CASE("pages are joined and the cursor handed back until the last page") {
  json items = json::array();
  CHECK(append_page(json::parse(R"({"tools":[{"name":"a"}],"nextCursor":"2"})"), "tools", &items) ==
        "2");
  CHECK(append_page(json::parse(R"({"tools":[{"name":"b"}]})"), "tools", &items).empty());
  CHECK(items.size() == 2);
  CHECK(append_page(json("not a page"), "tools", &items).empty());
  CHECK(append_page(json::parse(R"({"tools":"x","nextCursor":7})"), "tools", &items).empty());
  CHECK(items.size() == 2);
}
