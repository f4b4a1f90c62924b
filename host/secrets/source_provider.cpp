#include "secrets/source_provider.hpp"

#include <keyhold/sdk/duration.hpp>

#include "secrets/source_aws_sm.hpp"
#include "secrets/source_command.hpp"
#include "secrets/source_pass.hpp"
#include "secrets/source_systemd_creds.hpp"

namespace keyhold::secrets {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

// The length of the JSON array that opens text (strings may hold brackets), or 0 when it
// does not close.
std::size_t json_array_length(std::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[') {
      ++depth;
    } else if (c == ']' && --depth == 0) {
      return i + 1;
    }
  }
  return 0;
}

Result<std::chrono::milliseconds> duration_option(const std::string& key, const std::string& text) {
  auto parsed = sdk::parse_duration(text);
  if (!parsed.is_ok()) return invalid_argument("option " + key + ": " + parsed.error());
  return parsed.value();
}

}  // namespace

bool is_external_scheme(std::string_view scheme) {
  return scheme == "command" || scheme == "pass" || scheme == "systemd-creds" || scheme == "aws-sm";
}

std::string take_option(SourceOptions& options, const std::string& key, std::string fallback) {
  auto it = options.extra.find(key);
  if (it == options.extra.end()) return fallback;
  std::string value = std::move(it->second);
  options.extra.erase(it);
  return value;
}

Result<SourceText> parse_source_text(std::string_view scheme, std::string_view rest) {
  SourceText out;
  std::size_t ref_end = 0;
  if (scheme == "command" && rest.starts_with('[')) {
    ref_end = json_array_length(rest);
    if (ref_end == 0) return invalid_argument("the argv array is not closed with ']'");
  } else {
    while (ref_end < rest.size() && !is_space(rest[ref_end])) ++ref_end;
  }
  out.ref = std::string(rest.substr(0, ref_end));
  if (out.ref.empty()) return invalid_argument("names nothing after the ':'");
  std::string_view tail = rest.substr(ref_end);
  if (!tail.empty() && !is_space(tail.front()))
    return invalid_argument("expected a space between the reference and its options");
  while (!tail.empty()) {
    while (!tail.empty() && is_space(tail.front())) tail.remove_prefix(1);
    std::size_t end = 0;
    while (end < tail.size() && !is_space(tail[end])) ++end;
    if (end == 0) break;
    const std::string_view word = tail.substr(0, end);
    tail.remove_prefix(end);
    const auto eq = word.find('=');
    const std::string key(word.substr(0, eq));
    const std::string value =
        eq == std::string_view::npos ? "true" : std::string(word.substr(eq + 1));
    if (key.empty()) return invalid_argument("an option has no name before '='");
    if (key == "ttl") {
      auto ttl = duration_option(key, value);
      if (!ttl.is_ok()) return ttl.status();
      out.options.ttl = ttl.value();
    } else if (key == "timeout") {
      auto timeout = duration_option(key, value);
      if (!timeout.is_ok()) return timeout.status();
      out.options.timeout = std::chrono::ceil<std::chrono::seconds>(
          std::max(timeout.value(), std::chrono::milliseconds(1)));
    } else if (key == "stale_ok") {
      if (value != "true" && value != "false")
        return invalid_argument("option stale_ok must be true or false");
      out.options.stale_ok = value == "true";
    } else if (!out.options.extra.emplace(key, value).second) {
      return invalid_argument("option " + key + " is given twice");
    }
  }
  return out;
}

Result<std::unique_ptr<SourceProvider>> make_source_provider(std::string_view scheme,
                                                             const std::string& ref,
                                                             SourceOptions& options) {
  Result<std::unique_ptr<SourceProvider>> made = internal_error("unknown scheme");
  if (scheme == "command") made = make_command_provider(ref, options);
  if (scheme == "pass") made = make_pass_provider(ref, options);
  if (scheme == "systemd-creds") made = make_systemd_creds_provider(ref, options);
  if (scheme == "aws-sm") made = make_aws_sm_provider(ref, options);
  if (made.is_ok() && !options.extra.empty())
    return invalid_argument("unknown option '" + options.extra.begin()->first +
                            "' (every source takes ttl, stale_ok and timeout; see the README)");
  return made;
}

}  // namespace keyhold::secrets
