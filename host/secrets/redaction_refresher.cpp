#include "secrets/redaction_refresher.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

namespace keyhold::secrets {

RedactionRefresher::RedactionRefresher(SecretServices& services) : services_(services) {
  services_.broker->set_change_listener([this] {
    std::string error;
    if (!reload(&error)) spdlog::error("redactor reload failed: {}", error);
  });
  services_.broker->check_for_change();  // records the starting data_version
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stop_; })) {
      lock.unlock();
      services_.broker->check_for_change();
      lock.lock();
    }
  });
}

RedactionRefresher::~RedactionRefresher() {
  services_.broker->set_change_listener(nullptr);
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool RedactionRefresher::reload(std::string* error) {
  auto values = services_.broker->releasable_values();
  return services_.redactor->set_secrets(values, error);
}

}  // namespace keyhold::secrets
