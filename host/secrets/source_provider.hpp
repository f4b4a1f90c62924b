#pragma once
// External secret sources (issue 19): a mapping `SCHEME:REF [option=value ...]` whose value
// the host fetches from another store (`command:`, `pass:`, `systemd-creds:`, `aws-sm:`).
// Each scheme is one SourceProvider in its own file (source_<scheme>.cpp); what every
// scheme shares (the TTL cache, stale_ok, audit, telling the redactor) is ExternalSource
// (source_cache.hpp). Like env: and file:, the administrator's mapping is the grant.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.hpp"
#include "keyhold/vault/secret_buffer.hpp"
#include "secrets/secret_source.hpp"

namespace keyhold::secrets {

// The options after the reference, as whitespace-separated `key=value` words (a bare `key`
// means `key=true`): ttl, stale_ok and timeout for every scheme, the rest for one scheme.
struct SourceOptions {
  // How long a fetched value is used before the next use fetches again ("0s": every use).
  std::chrono::milliseconds ttl = std::chrono::minutes(5);
  // When a fetch fails after an earlier one succeeded: use the last good value (audited as
  // "stale") instead of failing the call.
  bool stale_ok = false;
  // How long one fetch may take (a command is killed, a request abandoned).
  std::chrono::seconds timeout = std::chrono::seconds(10);
  // Scheme-specific options, by key; a provider's factory takes out the ones it knows and
  // whatever is left is refused.
  std::map<std::string, std::string> extra;
};

// One way to fetch a value. Thread-compatible: ExternalSource serializes the calls.
class SourceProvider {
 public:
  virtual ~SourceProvider() = default;
  // Fetches the current value. vault is the host's vault or null (a provider whose
  // credentials live there then fails). The error says what failed and what to do, and
  // never holds a value.
  virtual Result<vault::SecretBuffer> fetch(SharedVault* vault) = 0;
};

// True for the schemes a SourceProvider serves.
bool is_external_scheme(std::string_view scheme);

// The provider for scheme and ref (the text between "SCHEME:" and the options); takes the
// options it understands out of options.extra and refuses any left over.
Result<std::unique_ptr<SourceProvider>> make_source_provider(std::string_view scheme,
                                                             const std::string& ref,
                                                             SourceOptions& options);

// Splits "REF opt=v ..." (what follows "SCHEME:") into the reference and its options. A
// command: reference is a JSON array and ends at its closing bracket; any other ends at the
// first space.
struct SourceText {
  std::string ref;
  SourceOptions options;
};
Result<SourceText> parse_source_text(std::string_view scheme, std::string_view rest);

// Takes key out of options.extra: its value, or fallback when absent.
std::string take_option(SourceOptions& options, const std::string& key, std::string fallback = {});

}  // namespace keyhold::secrets
