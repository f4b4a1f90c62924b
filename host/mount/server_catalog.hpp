#pragma once
// Turns what a mounted MCP server lists (tools/list, resources/list,
// resources/templates/list, prompts/list, every page joined) into the catalog a backend's
// describe() returns: {"tools":[...],"resources":[...],"resourceTemplates":[...],
// "prompts":[...]} with MCP field names, unprefixed (the registry adds the prefix).
//
// A server is not trusted to list well-formed entries: an entry the registry would refuse
// (no name, a name outside [A-Za-z0-9_.-], an input or output schema that does not
// compile, a duplicate) is left out, and why is added to *dropped, so one bad tool does
// not take the server's other tools away. Pure: no I/O, no logging.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace keyhold::mount {

struct ServerLists {
  nlohmann::json tools = nlohmann::json::array();
  nlohmann::json resources = nlohmann::json::array();
  nlohmann::json resource_templates = nlohmann::json::array();
  nlohmann::json prompts = nlohmann::json::array();
};

// The catalog for lists; *dropped (may be null) receives one line per entry left out.
nlohmann::json catalog_from_server_lists(const ServerLists& lists,
                                         std::vector<std::string>* dropped);

// Appends the items of one page of a list result (page[key], an array) to *items; returns
// the page's nextCursor, or an empty string when it is the last page. A page that is not
// an object, or whose key is not an array, adds nothing.
std::string append_page(const nlohmann::json& page, const char* key, nlohmann::json* items);

}  // namespace keyhold::mount
