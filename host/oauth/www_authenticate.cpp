#include "oauth/www_authenticate.hpp"

#include <algorithm>
#include <cctype>

namespace keyhold::oauth {

namespace {

constexpr std::size_t kMaxValue = 512;

bool token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool equals_ci(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

void skip_space(std::string_view& s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
}

std::string_view take_token(std::string_view& s) {
  std::size_t n = 0;
  while (n < s.size() && token_char(s[n])) ++n;
  const std::string_view out = s.substr(0, n);
  s.remove_prefix(n);
  return out;
}

// A token or a quoted string (backslash escapes); false when malformed.
bool take_value(std::string_view& s, std::string* out) {
  if (s.empty() || s.front() != '"') {
    *out = std::string(take_token(s));
    return true;
  }
  s.remove_prefix(1);
  out->clear();
  while (!s.empty()) {
    char c = s.front();
    s.remove_prefix(1);
    if (c == '"') return true;
    if (c == '\\') {
      if (s.empty()) return false;
      c = s.front();
      s.remove_prefix(1);
    }
    out->push_back(c);
  }
  return false;
}

bool printable(const std::string& v) {
  return v.size() <= kMaxValue &&
         std::all_of(v.begin(), v.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

}  // namespace

BearerChallenge parse_bearer_challenge(std::string_view value) {
  BearerChallenge out;
  std::string_view s = value;
  while (!s.empty()) {
    skip_space(s);
    while (!s.empty() && s.front() == ',') {
      s.remove_prefix(1);
      skip_space(s);
    }
    const std::string_view scheme = take_token(s);
    if (scheme.empty()) return out;  // malformed: nothing more is trusted
    const bool bearer = equals_ci(scheme, "Bearer");
    // auth-params: name=value, separated by commas, until the next scheme.
    for (;;) {
      skip_space(s);
      std::string_view rest = s;
      const std::string_view name = take_token(rest);
      skip_space(rest);
      if (name.empty() || rest.empty() || rest.front() != '=') break;  // the next challenge
      rest.remove_prefix(1);
      skip_space(rest);
      std::string v;
      if (!take_value(rest, &v)) return out;
      s = rest;
      if (bearer && printable(v)) {
        if (equals_ci(name, "error")) out.error = v;
        if (equals_ci(name, "scope")) out.scope = v;
        if (equals_ci(name, "resource_metadata") &&
            (v.starts_with("https://") || v.starts_with("http://")))
          out.resource_metadata = v;
      }
      skip_space(s);
      if (s.empty() || s.front() != ',') break;
      s.remove_prefix(1);
    }
    if (bearer) {
      out.bearer = true;
      return out;
    }
  }
  return out;
}

std::optional<std::string_view> challenge_header_value(std::string_view line) {
  static constexpr std::string_view kName = "www-authenticate:";
  if (line.size() > 4096 || line.size() < kName.size() ||
      !equals_ci(line.substr(0, kName.size()), kName))
    return std::nullopt;
  line.remove_prefix(kName.size());
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front())))
    line.remove_prefix(1);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
    line.remove_suffix(1);
  return line;
}

std::string BearerChallenge::describe() const {
  if (!bearer || (resource_metadata.empty() && scope.empty() && error.empty())) return {};
  std::string text = "; the server's challenge: Bearer";
  if (!error.empty()) text += " error=" + error;
  if (!scope.empty()) text += " scope=\"" + scope + "\"";
  if (!resource_metadata.empty())
    text += " resource_metadata=" + resource_metadata +
            " (its OAuth protected resource metadata, RFC 9728: it names the authorization "
            "server to configure as an [oauth.NAME] issuer; `keyhold oauth discover` with the "
            "server's URL prints that table)";
  return text;
}

}  // namespace keyhold::oauth
