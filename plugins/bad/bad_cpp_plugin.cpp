// Broken C++ plugins, one flaw per build (see CMakeLists.txt).
#include <keyhold/plugin.hpp>

namespace {
class BadPlugin : public keyhold::Plugin {
 public:
  BadPlugin(keyhold::Host host, std::string_view, const keyhold::json&) : keyhold::Plugin(host) {
#ifdef BAD_CREATE_THROWS
    throw std::runtime_error("option 'path' is required");
#endif
  }
  keyhold::json describe() override {
#ifdef BAD_SCHEMA
    return {
        { "tools",
          {
            { {"name", "broken"},
              { "inputSchema",
                { {"type", "object"},
                  { "properties",
                    {
                      { "x",
                        {
                          { "type",
                            12 }
                        } }
                    } } } } }
          } }};
#elif defined(COLLIDE_ECHO)
    // Exposed as "echo_echo" when mounted with prefix "echo_": collides with echo.
    return {{ "tools", { { {"name", "echo"}, { "inputSchema", { { "type", "object" } } } } } }};
#else
    return {{"tools", keyhold::json::array()}};
#endif
  }
  keyhold::json call_tool(keyhold::Context&, std::string_view, const keyhold::json&) override {
    return keyhold::text_result("unreachable");
  }
};
}  // namespace

KEYHOLD_PLUGIN(BadPlugin, "bad_cpp", "0.0.0", "a deliberately broken plugin")
