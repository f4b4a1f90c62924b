#include "protocol/uri_template.hpp"

namespace keyhold {

bool template_matches(std::string_view uri_template, std::string_view uri) {
  std::size_t t = 0, u = 0;
  while (t < uri_template.size()) {
    if (uri_template[t] == '{') {
      const std::size_t close = uri_template.find('}', t);
      if (close == std::string_view::npos) return false;
      // RFC 6570: a simple {var} never spans '/' (its expansion would encode it); the
      // reserved {+var} and fragment {#var} expansions keep '/', so they may.
      const char op = close > t + 1 ? uri_template[t + 1] : '\0';
      const bool spans_slash = op == '+' || op == '#';
      if (op == '#') {  // expands to "#value"
        if (u >= uri.size() || uri[u] != '#') return false;
        ++u;
      }
      t = close + 1;
      // The variable runs to the next literal of the template.
      const char stop = t < uri_template.size() ? uri_template[t] : '\0';
      const std::size_t start = u;
      while (u < uri.size() && (spans_slash || uri[u] != '/') && (stop == '\0' || uri[u] != stop))
        ++u;
      if (u == start) return false;
      continue;
    }
    if (u >= uri.size() || uri[u] != uri_template[t]) return false;
    ++t;
    ++u;
  }
  return u == uri.size();
}

}  // namespace keyhold
