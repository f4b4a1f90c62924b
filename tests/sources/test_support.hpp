#pragma once
// Helpers of the external source tests: a private temporary directory, executable scripts
// in it, canary values, and a recorder for the fetch events (source_cache.hpp).
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "secrets/source_cache.hpp"

namespace keyhold::secrets::testing {

// A fresh directory under $TMPDIR, removed with its contents at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "keyhold-sources-XXXXXX");
    path = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path write(const std::string& name, const std::string& text,
                              bool executable = false) const {
    const auto file = path / name;
    std::ofstream(file) << text;
    if (executable) ::chmod(file.c_str(), 0700);
    return file;
  }
  std::string read(const std::string& name) const {
    std::ifstream in(path / name);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
};

// A value that appears nowhere else, so a leak is unambiguous.
inline std::string canary(const std::string& tag) {
  unsigned char bytes[8];
  randombytes_buf(bytes, sizeof bytes);
  std::string out = "canary-" + tag + "-";
  for (unsigned char b : bytes)
    out += "0123456789abcdef"[b >> 4], out += "0123456789abcdef"[b & 15];
  return out;
}

// Records every fetch event while alive (installs itself with set_source_events).
struct EventRecorder {
  struct Event {
    std::string source, outcome, detail;
  };
  std::mutex mutex;
  std::vector<Event> events;
  int changes = 0;
  EventRecorder() {
    set_source_events(
        {[this](const std::string& source, const std::string& outcome, const std::string& detail) {
           std::lock_guard lock(mutex);
           events.push_back({source, outcome, detail});
         },
         [this] {
           std::lock_guard lock(mutex);
           ++changes;
         }});
  }
  ~EventRecorder() { set_source_events({}); }
  std::string outcomes() {
    std::lock_guard lock(mutex);
    std::string out;
    for (const auto& e : events) out += (out.empty() ? "" : ",") + e.outcome;
    return out;
  }
};

// The value of a Result<SecretBuffer> as text (for comparisons with canaries).
inline std::string text_of(const Result<vault::SecretBuffer>& value) {
  return value.is_ok() ? std::string(value.value().view())
                       : "<error: " + value.status().message() + ">";
}

}  // namespace keyhold::secrets::testing
