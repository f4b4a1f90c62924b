#pragma once
// Text for a small HTML page keyhold answers itself (the OAuth callback pages): every
// character that could start markup or end an attribute is escaped, so a value that came
// from a query string (an error description, an issuer) is shown, never interpreted.
#include <string>
#include <string_view>

namespace keyhold {

inline std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace keyhold
