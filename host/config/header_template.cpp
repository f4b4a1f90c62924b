#include "config/header_template.hpp"

#include <algorithm>
#include <cstring>

namespace keyhold {

std::vector<std::string> HeaderTemplate::aliases() const {
  std::vector<std::string> out;
  for (const auto& part : parts)
    if (part.secret) out.push_back(part.text);
  return out;
}

Result<HeaderTemplate> parse_header_template(std::string_view value) {
  static constexpr std::string_view kOpen = "{secret:";
  for (const char c : value)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
      return invalid_argument("a header value may not hold control characters (CR, LF, NUL)");
  HeaderTemplate out;
  while (!value.empty()) {
    const auto open = value.find(kOpen);
    if (open != 0) {
      out.parts.push_back({false, std::string(value.substr(0, open))});
      if (open == std::string_view::npos) break;
      value.remove_prefix(open);
    }
    const auto close = value.find('}');
    if (close == std::string_view::npos)
      return invalid_argument("'{secret:' without its closing '}'");
    const std::string_view alias = value.substr(kOpen.size(), close - kOpen.size());
    if (alias.empty()) return invalid_argument("'{secret:}' names no alias");
    out.parts.push_back({true, std::string(alias)});
    value.remove_prefix(close + 1);
  }
  return out;
}

bool valid_header_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
  });
}

}  // namespace keyhold
