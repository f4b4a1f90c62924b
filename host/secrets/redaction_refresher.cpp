#include "secrets/redaction_refresher.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

#include "secrets/source_cache.hpp"

namespace keyhold::secrets {

RedactionRefresher::RedactionRefresher(SecretServices& services) : services_(services) {
  services_.broker->set_change_listener([this] {
    if (Status reloaded = reload(); !reloaded.is_ok())
      spdlog::error("redactor reload failed: {}", reloaded.message());
  });
  // External sources (source_cache.hpp) audit their fetches through the broker and have
  // the redactor reloaded when a fetch brings a new value.
  set_source_events(
      {[this](const std::string& source, const std::string& outcome, const std::string& detail) {
         services_.broker->audit("", "source.fetch", source, "", outcome, detail);
       },
       [this] { services_.broker->forget_cached(); }});
  services_.broker->check_for_change();  // records the starting data_version
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    bool first = true;
    while (!wake_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stop_; })) {
      lock.unlock();
      // Once, a quarter second in (after the start, not beside it): what locating rule
      // matches needs, so no call pays for it.
      if (first) services_.redactor->prepare_rule_positions();
      first = false;
      services_.broker->check_for_change();
      // A value a call brought to the redactor went to its small delta database; the whole
      // set is compiled again here, off every call's path.
      if (services_.redactor->wants_rebuild()) {
        if (Status rebuilt = services_.redactor->rebuild(current_values()); !rebuilt.is_ok())
          spdlog::error("redactor rebuild failed: {}", rebuilt.message());
      }
      lock.lock();
    }
  });
}

RedactionRefresher::~RedactionRefresher() {
  set_source_events({});
  services_.broker->set_change_listener(nullptr);
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::vector<KnownSecret> RedactionRefresher::current_values() {
  const RedactorReloadScope no_fetches;  // external sources hand out what they hold
  auto values = services_.broker->releasable_values();
  for (auto& previous : previous_external_values()) values.push_back(std::move(previous));
  return values;
}

Status RedactionRefresher::reload() { return services_.redactor->set_secrets(current_values()); }

}  // namespace keyhold::secrets
