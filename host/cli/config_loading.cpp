#include "cli/config_loading.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>

namespace keyhold::cli {

std::optional<Config> load_cli_config(const std::string& explicit_path, bool write_default,
                                      std::string_view error_prefix) {
  std::filesystem::path path = explicit_path;
  if (path.empty()) {
    path = default_config_path();
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      if (!write_default) {
        std::cerr << error_prefix << "no config file at " << path.string()
                  << "; run `keyhold serve` once to write the default, or pass --config FILE\n";
        return std::nullopt;
      }
      if (Status written = write_default_config(path); !written.is_ok()) {
        std::cerr << error_prefix << written.message() << "\n";
        return std::nullopt;
      }
      std::cerr << error_prefix << "wrote a default config to " << path.string() << "\n";
    }
  }
  auto config = load_config(path);
  if (!config.is_ok()) {
    std::cerr << error_prefix << config.status().message() << "\n";
    return std::nullopt;
  }
  return std::move(config).value();
}

namespace {
// A stderr sink that redacts each formatted line before writing it.
class RedactingStderrSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit RedactingStderrSink(std::shared_ptr<const secrets::Redactor> redactor)
      : redactor_(std::move(redactor)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::string line(formatted.data(), formatted.size());
    redactor_->redact(line);
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }

 private:
  std::shared_ptr<const secrets::Redactor> redactor_;
};
}  // namespace

void redact_stderr_logging(std::shared_ptr<const secrets::Redactor> redactor) {
  auto logger = spdlog::default_logger();
  auto sink = std::make_shared<RedactingStderrSink>(std::move(redactor));
  sink->set_pattern("keyhold %l: %v");
  logger->sinks().clear();
  logger->sinks().push_back(std::move(sink));
}

void setup_stderr_logging(const std::string& level) {
  auto logger = spdlog::get("keyhold");
  if (!logger) {
    logger = spdlog::stderr_logger_mt("keyhold");
    logger->set_pattern("keyhold %l: %v");
    spdlog::set_default_logger(logger);
  }
  auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    spdlog::warn("unknown log_level '{}'; using info", level);
    parsed = spdlog::level::info;
  }
  spdlog::set_level(parsed);
}

}  // namespace keyhold::cli
