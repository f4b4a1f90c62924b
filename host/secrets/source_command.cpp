#include "secrets/source_command.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "rotation/child_program.hpp"

namespace keyhold::secrets {
namespace {

class CommandProvider : public SourceProvider {
 public:
  CommandProvider(std::string label, std::vector<std::string> argv, std::chrono::seconds timeout)
      : label_(std::move(label)), argv_(std::move(argv)), timeout_(timeout) {}
  Result<vault::SecretBuffer> fetch(SharedVault*) override {
    return run_source_command(label_, argv_, timeout_);
  }

 private:
  std::string label_;
  std::vector<std::string> argv_;
  std::chrono::seconds timeout_;
};

// Every occurrence of value in text replaced by a marker naming label.
void cut_out(std::string& text, std::string_view value, const std::string& label) {
  if (value.empty()) return;
  const std::string marker = "[REDACTED:" + label + "]";
  for (auto at = text.find(value); at != std::string::npos;
       at = text.find(value, at + marker.size()))
    text.replace(at, value.size(), marker);
}

// Each line of what the program wrote on stderr, as a log line naming the source.
void log_stderr(const std::string& label, const std::string& text) {
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) spdlog::info("{} (stderr): {}", label, text.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace

Result<vault::SecretBuffer> run_source_command(const std::string& label,
                                               const std::vector<std::string>& argv,
                                               std::chrono::seconds timeout) {
  std::string stderr_text;
  auto run = rotation::run_program(argv, {}, timeout,
                                   [&](std::string_view chunk) { stderr_text.append(chunk); });
  if (!run.is_ok()) {
    log_stderr(label, stderr_text);
    return Status(run.status().code(), run.status().message());
  }
  vault::SecretBuffer value = std::move(run.value().stdout_bytes);
  std::size_t size = value.size();
  if (size > 0 && value.data()[size - 1] == '\n') --size;
  if (size > 0 && value.data()[size - 1] == '\r') --size;
  value.truncate(size);
  cut_out(stderr_text, value.view(), label);
  log_stderr(label, stderr_text);
  sodium_memzero(stderr_text.data(), stderr_text.size());
  if (value.size() == 0)
    return unavailable("'" + argv[0] + "' printed nothing on stdout (the value is its stdout)");
  return value;
}

Result<std::unique_ptr<SourceProvider>> make_command_provider(const std::string& ref,
                                                              SourceOptions& options) {
  std::vector<std::string> argv;
  if (ref.starts_with('[')) {
    const auto parsed = nlohmann::json::parse(ref, nullptr, false);
    if (!parsed.is_array() || parsed.empty())
      return invalid_argument("the argv must be a non-empty JSON array of strings");
    for (const auto& word : parsed) {
      if (!word.is_string())
        return invalid_argument("the argv must be a non-empty JSON array of strings");
      argv.push_back(word.get<std::string>());
    }
  } else {
    argv.push_back(ref);
  }
  if (argv[0].empty()) return invalid_argument("the program name is empty");
  return std::unique_ptr<SourceProvider>(
      std::make_unique<CommandProvider>("command:" + ref, std::move(argv), options.timeout));
}

}  // namespace keyhold::secrets
