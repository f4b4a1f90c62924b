#include "secrets/source_cache.hpp"

#include <spdlog/spdlog.h>

namespace keyhold::secrets {
namespace {

std::mutex events_mutex;
SourceEvents& events() {
  static SourceEvents installed;
  return installed;
}
SourceEvents current_events() {
  std::lock_guard lock(events_mutex);
  return events();
}

thread_local bool in_redactor_reload = false;

// Every source parsed in this process (for previous_external_values).
std::mutex registry_mutex;
std::vector<std::weak_ptr<ExternalSource>>& registry() {
  static std::vector<std::weak_ptr<ExternalSource>> sources;
  return sources;
}

void report(const std::string& source, const std::string& outcome, const std::string& detail) {
  const SourceEvents now = current_events();
  if (now.fetched) {
    now.fetched(source, outcome, detail);
    return;
  }
  if (outcome == "ok")
    spdlog::debug("fetched {}", source);
  else
    spdlog::warn("fetching {}: {} {}", source, outcome, detail);
}

}  // namespace

void set_source_events(SourceEvents installed) {
  std::lock_guard lock(events_mutex);
  events() = std::move(installed);
}

RedactorReloadScope::RedactorReloadScope() : outer_(in_redactor_reload) {
  in_redactor_reload = true;
}
RedactorReloadScope::~RedactorReloadScope() { in_redactor_reload = outer_; }

ExternalSource::ExternalSource(std::string name, SourceOptions options,
                               std::unique_ptr<SourceProvider> provider)
    : name_(std::move(name)), options_(std::move(options)), provider_(std::move(provider)) {}

Result<std::shared_ptr<ExternalSource>> ExternalSource::parse(std::string_view text) {
  const auto colon = text.find(':');
  const std::string_view scheme = text.substr(0, colon);
  const auto fail = [&](const Status& why) {
    return invalid_argument("\"" + std::string(text) + "\": " + why.message());
  };
  if (colon == std::string_view::npos || !is_external_scheme(scheme))
    return invalid_argument("\"" + std::string(text) + "\" is not an external source");
  auto parsed = parse_source_text(scheme, text.substr(colon + 1));
  if (!parsed.is_ok()) return fail(parsed.status());
  auto provider = make_source_provider(scheme, parsed.value().ref, parsed.value().options);
  if (!provider.is_ok()) return fail(provider.status());
  auto source = std::make_shared<ExternalSource>(std::string(scheme) + ":" + parsed.value().ref,
                                                 std::move(parsed.value().options),
                                                 std::move(provider).value());
  std::lock_guard lock(registry_mutex);
  std::erase_if(registry(), [](const auto& weak) { return weak.expired(); });
  registry().push_back(source);
  return source;
}

std::optional<vault::SecretBuffer> ExternalSource::previous_value() {
  std::lock_guard lock(mutex_);
  if (!previous_) return std::nullopt;
  return vault::SecretBuffer::copy_of(previous_->bytes());
}

std::vector<KnownSecret> previous_external_values() {
  std::vector<std::shared_ptr<ExternalSource>> live;
  {
    std::lock_guard lock(registry_mutex);
    for (const auto& weak : registry())
      if (auto source = weak.lock()) live.push_back(std::move(source));
  }
  std::vector<KnownSecret> out;
  for (const auto& source : live)
    if (auto previous = source->previous_value())
      out.push_back({source->describe(), std::move(*previous)});
  return out;
}

Result<vault::SecretBuffer> ExternalSource::value(SharedVault* vault) {
  bool changed = false;
  Result<vault::SecretBuffer> out = internal_error("unreached");
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (last_good_ && (in_redactor_reload || now - fetched_at_ < options_.ttl))
      return vault::SecretBuffer::copy_of(last_good_->bytes());
    auto fetched = provider_->fetch(vault);
    if (fetched.is_ok()) {
      changed = !last_good_ || !last_good_->equals(fetched.value());
      if (changed && last_good_) previous_ = std::move(last_good_);
      last_good_ = std::move(fetched).value();
      fetched_at_ = now;
      report(name_, "ok", "");
      out = vault::SecretBuffer::copy_of(last_good_->bytes());
    } else if (last_good_ && options_.stale_ok) {
      report(name_, "stale", fetched.status().message());
      spdlog::warn("{}: fetch failed, using the last good value (stale_ok): {}", name_,
                   fetched.status().message());
      out = vault::SecretBuffer::copy_of(last_good_->bytes());
    } else {
      report(name_, "error", fetched.status().message());
      return Status(
          fetched.status().code(),
          name_ + ": " + fetched.status().message() +
              (last_good_ ? " (the last good value is not used: set stale_ok to allow it)" : ""));
    }
  }
  if (changed && !in_redactor_reload) {
    if (const SourceEvents now = current_events(); now.value_changed) now.value_changed();
  }
  return out;
}

}  // namespace keyhold::secrets
