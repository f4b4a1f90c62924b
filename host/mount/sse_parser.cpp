#include "mount/sse_parser.hpp"

namespace keyhold::mount {

bool SseParser::feed(std::string_view bytes, const std::function<void(SseEvent&)>& on_event) {
  if (broken_) return false;
  for (const char c : bytes) {
    if (c == '\n' && after_cr_) {
      after_cr_ = false;
      continue;
    }
    after_cr_ = c == '\r';
    if (c == '\r' || c == '\n') {
      if (!end_line(on_event)) return !(broken_ = true);
      continue;
    }
    if (line_.size() >= max_bytes_) return !(broken_ = true);
    line_.push_back(c);
  }
  return true;
}

bool SseParser::end_line(const std::function<void(SseEvent&)>& on_event) {
  std::string line;
  line.swap(line_);
  if (line.empty()) {  // dispatch
    if (has_data_) {
      if (!event_.data.empty() && event_.data.back() == '\n') event_.data.pop_back();
      on_event(event_);
    }
    event_ = SseEvent{};
    has_data_ = false;
    return true;
  }
  if (line.front() == ':') return true;
  const auto colon = line.find(':');
  std::string_view field(line.data(), colon == std::string::npos ? line.size() : colon);
  std::string_view value;
  if (colon != std::string::npos) {
    value = std::string_view(line).substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (event_.data.size() + value.size() + 1 > max_bytes_) return false;
    event_.data.append(value);
    event_.data.push_back('\n');
    has_data_ = true;
  } else if (field == "event") {
    event_.type = value;
  } else if (field == "id" && value.find('\0') == std::string_view::npos) {
    event_.id = value;
  }
  return true;
}

}  // namespace keyhold::mount
