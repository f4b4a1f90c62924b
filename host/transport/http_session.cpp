#include "transport/http_session.hpp"

#include <algorithm>
#include <set>
#include <vector>

#include "protocol/json_rpc.hpp"

namespace keyhold {

namespace {
constexpr std::size_t kMaxUndelivered = 256;  // session-wide messages kept for a late GET
}

bool SseStream::push(std::string data, bool final) {
  std::lock_guard lock(mutex_);
  if (done_) return false;
  events_.push_back({id_ + "_" + std::to_string(next_seq_++), std::move(data)});
  if (final) done_ = true;
  changed_.notify_all();
  return true;
}

void SseStream::prime() {
  std::lock_guard lock(mutex_);
  events_.push_back({id_ + "_" + std::to_string(next_seq_++), std::string()});
  changed_.notify_all();
}

void SseStream::end() {
  std::lock_guard lock(mutex_);
  done_ = true;
  changed_.notify_all();
}

std::vector<SseStream::Event> SseStream::next(std::size_t from, std::chrono::milliseconds wait,
                                              bool* finished) {
  std::unique_lock lock(mutex_);
  const std::uint64_t claim = claim_;
  changed_.wait_for(lock, wait, [&] { return end_index() > from || done_ || claim != claim_; });
  std::vector<Event> out;
  for (std::size_t i = std::max(from, first_); i < end_index(); ++i)
    out.push_back(events_[i - first_]);
  *finished = done_;
  return out;
}

std::optional<std::size_t> SseStream::position_after(const std::string& event_id) const {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < events_.size(); ++i)
    if (events_[i].id == event_id) return first_ + i + 1;
  return std::nullopt;
}

void SseStream::forget_before(std::size_t position) {
  std::lock_guard lock(mutex_);
  if (position <= first_) return;
  const std::size_t drop = std::min(position - first_, events_.size());
  events_.erase(events_.begin(), events_.begin() + static_cast<std::ptrdiff_t>(drop));
  first_ += drop;
}

std::uint64_t SseStream::attach() {
  std::lock_guard lock(mutex_);
  attached_ = true;
  changed_.notify_all();  // an earlier holder wakes up and sees it lost the claim
  return ++claim_;
}

bool SseStream::owned_by(std::uint64_t claim) const {
  std::lock_guard lock(mutex_);
  return claim == claim_;
}

bool SseStream::attached() const {
  std::lock_guard lock(mutex_);
  return attached_;
}

void SseStream::detach(std::uint64_t claim) {
  std::lock_guard lock(mutex_);
  if (claim == claim_) attached_ = false;
}

HttpSession::HttpSession(std::string id, std::string owner, Registry& registry,
                         boost::asio::thread_pool& pool, SessionOptions options)
    : id_(std::move(id)),
      owner_(std::move(owner)),
      core_(std::make_unique<Session>(registry, *this, pool, std::move(options))) {}

HttpSession::~HttpSession() { close(); }

std::shared_ptr<SseStream> HttpSession::open_request_stream(const std::string& id_key) {
  std::lock_guard lock(mutex_);
  if (request_streams_.contains(id_key)) return nullptr;
  forget_abandoned_locked();
  auto stream = std::make_shared<SseStream>(std::to_string(next_stream_++));
  streams_[stream->id()] = stream;
  request_streams_[id_key] = stream;
  return stream;
}

void HttpSession::forget_abandoned() {
  std::lock_guard lock(mutex_);
  forget_abandoned_locked();
}

void HttpSession::forget_abandoned_locked() {
  // Answered streams that no connection holds: kept for a resuming GET (Last-Event-ID),
  // the newest kMaxResumable of them. Without a bound, a client that sends requests and
  // leaves before their answers would grow the session by every answer.
  std::set<const SseStream*> in_flight;
  for (const auto& [key, stream] : request_streams_) in_flight.insert(stream.get());
  std::vector<std::uint64_t> answered;  // stream ids, numeric
  for (const auto& [id, stream] : streams_)
    if (stream != standalone_ && !in_flight.contains(stream.get()) && !stream->attached())
      answered.push_back(std::stoull(id));
  if (answered.size() <= kMaxResumable) return;
  std::sort(answered.begin(), answered.end());
  for (std::size_t i = 0; i + kMaxResumable < answered.size(); ++i)
    streams_.erase(std::to_string(answered[i]));
}

bool HttpSession::busy() {
  std::lock_guard lock(mutex_);
  if (!request_streams_.empty()) return true;
  for (const auto& [id, stream] : streams_)
    if (stream->attached()) return true;
  return false;
}

std::shared_ptr<SseStream> HttpSession::open_standalone_stream() {
  std::lock_guard lock(mutex_);
  if (!standalone_) {
    standalone_ = std::make_shared<SseStream>(std::to_string(next_stream_++));
    streams_[standalone_->id()] = standalone_;
  }
  if (standalone_->attached()) return nullptr;
  for (auto& message : undelivered_) standalone_->push(std::move(message), false);
  undelivered_.clear();
  return standalone_;
}

std::shared_ptr<SseStream> HttpSession::find_stream_of_event(const std::string& event_id) {
  const auto underscore = event_id.rfind('_');
  if (underscore == std::string::npos) return nullptr;
  std::lock_guard lock(mutex_);
  auto it = streams_.find(event_id.substr(0, underscore));
  return it == streams_.end() ? nullptr : it->second;
}

void HttpSession::forget_stream(const std::string& stream_id) {
  std::lock_guard lock(mutex_);
  streams_.erase(stream_id);
}

void HttpSession::send(const nlohmann::json& message, const CallContext* related) {
  const bool is_response = message.contains("id") && !message.contains("method");
  route(rpc::serialize(message), is_response,
        is_response ? rpc::id_key(message["id"])
                    : (related != nullptr ? rpc::id_key(related->request_id) : std::string()));
}

void HttpSession::send_response_text(std::string text, const CallContext& request) {
  route(std::move(text), true, rpc::id_key(request.request_id));
}

void HttpSession::route(std::string data, bool is_response, const std::string& key) {
  std::shared_ptr<SseStream> target;
  {
    std::lock_guard lock(mutex_);
    if (!key.empty()) {
      if (auto it = request_streams_.find(key); it != request_streams_.end()) {
        target = it->second;
        if (is_response) {
          request_streams_.erase(it);
          forget_abandoned_locked();  // it may join the answered streams nobody holds
        }
      }
    }
    if (!target) {
      if (is_response) return;  // nobody asked over HTTP (cannot happen for valid flows)
      if (standalone_) {
        target = standalone_;
      } else {
        if (undelivered_.size() >= kMaxUndelivered) undelivered_.pop_front();
        undelivered_.push_back(std::move(data));
        return;
      }
    }
  }
  target->push(std::move(data), is_response);
}

void HttpSession::abandoned(const CallContext& request) {
  std::shared_ptr<SseStream> stream;
  {
    std::lock_guard lock(mutex_);
    auto it = request_streams_.find(rpc::id_key(request.request_id));
    if (it == request_streams_.end()) return;
    stream = it->second;
    request_streams_.erase(it);
  }
  stream->end();
}

void HttpSession::close() {
  core_->close();
  std::lock_guard lock(mutex_);
  for (auto& [id, stream] : streams_) stream->end();
  request_streams_.clear();
}

}  // namespace keyhold
