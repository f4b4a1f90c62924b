#pragma once
// Server-sent events (the WHATWG EventSource stream format) read from bytes as they arrive:
// lines end with CRLF, LF or CR (also split across reads); "data:" lines join with '\n';
// a blank line ends an event; ':' lines are comments. Used for the text/event-stream
// answers of a Streamable HTTP server, which is not trusted: a line or an event over
// max_bytes is an error, never held whole.
//
// Not thread-safe: one transfer owns it.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace keyhold::mount {

struct SseEvent {
  std::string type;  // "event:" ("" means "message")
  std::string data;
  std::string id;
};

class SseParser {
 public:
  explicit SseParser(std::size_t max_bytes) : max_bytes_(max_bytes) {}
  // Feeds bytes; calls on_event for each complete event with data. False (and nothing
  // more is read) when a line or an event's data exceeds max_bytes.
  bool feed(std::string_view bytes, const std::function<void(SseEvent&)>& on_event);

 private:
  bool end_line(const std::function<void(SseEvent&)>& on_event);

  std::size_t max_bytes_;
  std::string line_;
  SseEvent event_;
  bool has_data_ = false;
  bool after_cr_ = false;  // the last byte was '\r': a '\n' next ends nothing more
  bool broken_ = false;
};

}  // namespace keyhold::mount
