#pragma once
// Keeps the redactor's value set current while serving.
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.hpp"
#include "secrets/secret_services.hpp"

namespace keyhold::secrets {

// Re-reads the releasable values into the redactor whenever the vault changes (checked
// every 250 ms, and by every call before a value leaves), so a rotation is redacted at
// once. New values reach the redactor's small delta database on the caller's path; this
// thread then compiles the whole set again (Redactor::rebuild) off every call's path.
// Stops in its destructor.
class RedactionRefresher {
 public:
  explicit RedactionRefresher(SecretServices& services);
  ~RedactionRefresher();
  // Reloads now; an error when the redactor refused the new set.
  Status reload();

 private:
  // Every value the host can release now, and the previous values of external sources.
  std::vector<KnownSecret> current_values();

  SecretServices& services_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace keyhold::secrets
