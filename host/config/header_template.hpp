#pragma once
// A header value of a remote mounted server (`server.headers`), with `{secret:ALIAS}`
// where the host puts the value of the instance's secret ALIAS when it sends a request,
// e.g. "Bearer {secret:api-token}". Anything else is literal text (a '{' that does not
// open "{secret:" included). Pure; used by the config to check the aliases and by the
// mount to fill the value in.
#include <string>
#include <string_view>
#include <vector>

#include "base/status.hpp"

namespace keyhold {

struct HeaderTemplate {
  struct Part {
    bool secret = false;  // text is an alias, else literal text
    std::string text;
  };
  std::vector<Part> parts;

  // The aliases it names, in order (repeats kept).
  std::vector<std::string> aliases() const;
};

// The parts of value; an error names what is wrong (an unclosed or empty placeholder, a
// control character).
Result<HeaderTemplate> parse_header_template(std::string_view value);

// A header name as HTTP allows it (RFC 9110 token characters).
bool valid_header_name(std::string_view name);

}  // namespace keyhold
