#pragma once
// ExternalSource: one configured external mapping (source_provider.hpp) with what every
// scheme shares: the fetched value cached in guarded memory for its TTL, stale_ok, an audit
// entry per fetch (source, outcome; never the value) and a signal to the redactor whenever
// a fetch brings a value it has not seen.
//
// Thread-safe: fetches of one source are serialized, so concurrent uses of an expired value
// cause one fetch.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "secrets/redactor.hpp"
#include "secrets/source_provider.hpp"

namespace keyhold::secrets {

// Where ExternalSource reports, process-wide (the serving host connects the broker's audit
// and redactor reload here; without them an outcome goes to the log).
struct SourceEvents {
  // One fetch: source is "SCHEME:REF", outcome "ok", "stale" or "error", detail the error.
  std::function<void(const std::string& source, const std::string& outcome,
                     const std::string& detail)>
      fetched;
  // A fetch returned a new value: the redactor must learn it before it is handed out.
  // Called with no lock of this file held.
  std::function<void()> value_changed;
};
void set_source_events(SourceEvents events);

// While one lives on a thread, ExternalSource::value hands out the value it holds without
// fetching (however old it is): the redactor's reload reads every bound value, and must
// neither wait for nor trigger fetches (a fetch then reports to the reload in progress).
class RedactorReloadScope {
 public:
  RedactorReloadScope();
  ~RedactorReloadScope();
  RedactorReloadScope(const RedactorReloadScope&) = delete;
  RedactorReloadScope& operator=(const RedactorReloadScope&) = delete;

 private:
  bool outer_;
};

// The value each live external source held before its last change (a plugin may still hold
// it, or have put it into output), labelled "SCHEME:REF", for the redactor: the broker
// reports only current values.
std::vector<KnownSecret> previous_external_values();

class ExternalSource {
 public:
  // Parses "SCHEME:REF [options]" for an external scheme; the error names the text.
  static Result<std::shared_ptr<ExternalSource>> parse(std::string_view text);

  // The value: the cached one while its TTL lasts, else a fresh fetch; on a failed fetch the
  // last good value when stale_ok, else the fetch's error prefixed with describe().
  Result<vault::SecretBuffer> value(SharedVault* vault);
  // "SCHEME:REF" (names only, never values; options left out).
  const std::string& describe() const { return name_; }
  const SourceOptions& options() const { return options_; }

  ExternalSource(std::string name, SourceOptions options, std::unique_ptr<SourceProvider> provider);

  // The value before the last change, if any (a copy).
  std::optional<vault::SecretBuffer> previous_value();

 private:
  const std::string name_;
  const SourceOptions options_;
  std::mutex mutex_;  // held across a fetch
  std::unique_ptr<SourceProvider> provider_;
  std::optional<vault::SecretBuffer> last_good_;
  std::optional<vault::SecretBuffer> previous_;  // last_good_ before it last changed
  std::chrono::steady_clock::time_point fetched_at_;
};

}  // namespace keyhold::secrets
