#include "run_log.hpp"

#include "test_report.hpp"

#include <algorithm>

namespace keyhold::ci {

namespace {
bool continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }
}  // namespace

RunLog::RunLog(std::size_t budget_bytes)
    : head_budget_(budget_bytes / 2), tail_budget_(budget_bytes - budget_bytes / 2) {}

RunLog::RunLog(std::size_t budget_bytes, std::string head, std::string tail, std::uint64_t total)
    : RunLog(budget_bytes) {
  head_ = std::move(head);
  tail_ = std::move(tail);
  total_ = std::max<std::uint64_t>(total, head_.size() + tail_.size());
}

void RunLog::append(std::string_view bytes) {
  total_ += bytes.size();
  if (head_.size() < head_budget_) {
    const std::size_t n = std::min(bytes.size(), head_budget_ - head_.size());
    head_.append(bytes.substr(0, n));
    bytes.remove_prefix(n);
  }
  if (bytes.empty()) return;
  if (bytes.size() >= tail_budget_) {
    tail_.assign(bytes.substr(bytes.size() - tail_budget_));
    return;
  }
  tail_.append(bytes);
  if (tail_.size() > 2 * tail_budget_) tail_.erase(0, tail_.size() - tail_budget_);
}

LogSlice RunLog::read(std::uint64_t offset, std::size_t limit) const {
  LogSlice s;
  s.total_bytes = total_;
  const std::uint64_t tail_begin = tail_start();
  std::string_view source;
  std::uint64_t source_begin = 0;
  if (offset < head_.size()) {
    source = head_;
  } else {
    if (offset < tail_begin) {
      s.dropped_from = head_.size();
      s.dropped_to = tail_begin;
      offset = tail_begin;
    }
    source = tail_;
    source_begin = tail_begin;
  }
  std::size_t from =
      static_cast<std::size_t>(std::min<std::uint64_t>(offset - source_begin, source.size()));
  while (from < source.size() && continuation(source[from])) ++from;  // whole characters only
  std::size_t to = std::min(source.size(), from + limit);
  if (to < source.size())
    while (to > from && continuation(source[to])) --to;
  s.offset = source_begin + from;
  s.text = valid_utf8(source.substr(from, to - from));
  s.next_offset = source_begin + to;
  return s;
}

std::string RunLog::tail_text(std::size_t max_bytes) const {
  std::string joined;
  if (tail_.size() < max_bytes) {
    const std::size_t from_head = std::min(head_.size(), max_bytes - tail_.size());
    joined = head_.substr(head_.size() - from_head);
    if (truncated())
      joined += "\n[... " + std::to_string(tail_start() - head_.size()) + " bytes not kept ...]\n";
  }
  joined += tail_.size() > max_bytes ? tail_.substr(tail_.size() - max_bytes) : tail_;
  std::size_t from = 0;
  if (joined.size() > max_bytes) from = joined.size() - max_bytes;
  // Start at a line start when one is in the first quarter.
  const std::size_t newline = joined.find('\n', from);
  if (from > 0 && newline != std::string::npos && newline - from < max_bytes / 4)
    from = newline + 1;
  while (from < joined.size() && continuation(joined[from])) ++from;
  return valid_utf8(std::string_view(joined).substr(from));
}

}  // namespace keyhold::ci
