#pragma once
// One Streamable HTTP session: the MCP Session plus its SSE streams. Messages a session
// sends are routed to the stream of the request they belong to (responses by id,
// notifications and client requests by the request being served), else to the
// standalone GET stream. Every event carries an id unique within the session, and
// each stream keeps its events until they are delivered, so a client that lost the
// connection resumes with Last-Event-ID.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "server/outbound.hpp"
#include "server/session.hpp"

namespace keyhold {

// One SSE stream's events, written by the session's threads and read by the connection
// thread that serves the stream (or a later one that resumes it).
class SseStream {
 public:
  explicit SseStream(std::string id) : id_(std::move(id)) {}

  const std::string& id() const noexcept { return id_; }
  // Queues one event; `final` marks the last one (the response), after which the stream
  // ends once delivered. Returns false when the stream already ended.
  bool push(std::string data, bool final);
  // Queues an event with an id and empty data that primes the client to reconnect.
  void prime();
  // Marks the stream ended without a final event (session closed).
  void end();

  struct Event {
    std::string id;
    std::string data;  // a JSON message, or empty for a priming event
  };
  // Waits up to `wait` for events after position `from` (an index into the stream's
  // history). Returns the new events and sets *finished when nothing more will come.
  std::vector<Event> next(std::size_t from, std::chrono::milliseconds wait, bool* finished);
  // The history index just after the event with id `event_id`, or nothing.
  std::optional<std::size_t> position_after(const std::string& event_id) const;
  // Drops the events before history index `position` (delivered on a stream that cannot
  // be resumed, e.g. a 2026-07-28 one): a long-lived listen stream must not keep every
  // notification it ever carried. Indexes stay as they were.
  void forget_before(std::size_t position);
  // Claims the stream for one connection and returns its claim; a later claim (a client
  // resuming after a lost connection) takes the stream over from an earlier one.
  std::uint64_t attach();
  // True while `claim` is the newest claim.
  bool owned_by(std::uint64_t claim) const;
  // True while a connection holds the stream.
  bool attached() const;
  void detach(std::uint64_t claim);

 private:
  std::size_t end_index() const { return first_ + events_.size(); }  // mutex_ held

  std::string id_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Event> events_;  // history from index first_
  std::size_t first_ = 0;      // history index of events_[0]
  std::size_t next_seq_ = 0;
  bool done_ = false;
  std::uint64_t claim_ = 0;  // newest claim
  bool attached_ = false;
};

class HttpSession : public Outbound {
 public:
  // owner: the authenticated client (AuthDecision::client_id) the session belongs to;
  // empty when authentication is off.
  HttpSession(std::string id, std::string owner, Registry& registry, boost::asio::thread_pool& pool,
              SessionOptions options);
  ~HttpSession() override;

  const std::string& id() const noexcept { return id_; }
  const std::string& owner() const noexcept { return owner_; }
  Session& core() noexcept { return *core_; }

  // Opens the stream that will carry the answer to request `id_key` (and everything
  // sent while serving it). Must be called before the request is handed to core().
  // Returns null when a request with that id is still in flight on this session.
  std::shared_ptr<SseStream> open_request_stream(const std::string& id_key);
  // True while a request is in flight or a connection holds one of the session's streams.
  bool busy();
  // The standalone stream of a GET; nothing when a connection already holds it.
  std::shared_ptr<SseStream> open_standalone_stream();
  // The stream that issued `event_id`, for a resuming GET.
  std::shared_ptr<SseStream> find_stream_of_event(const std::string& event_id);
  // Drops a request stream once fully delivered.
  void forget_stream(const std::string& stream_id);
  // Keeps only the newest kMaxResumable answered streams no connection holds (called when
  // a connection leaves a stream).
  void forget_abandoned();

  void touch() { last_used_ = std::chrono::steady_clock::now().time_since_epoch().count(); }
  std::chrono::steady_clock::time_point last_used() const {
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(last_used_));
  }

  // Outbound: routes a message of the core session to its stream.
  void send(const nlohmann::json& message, const CallContext* related) override;
  void send_response_text(std::string text, const CallContext& request) override;
  void abandoned(const CallContext& request) override;

  // Ends every stream and closes the core session (cancels in-flight calls).
  void close();

 private:
  // To the stream of the request whose id key is key (a response ends it there), else a
  // session-wide message to the standalone stream or kept for it.
  void route(std::string data, bool is_response, const std::string& key);
  // forget_abandoned() with mutex_ held.
  void forget_abandoned_locked();
  static constexpr std::size_t kMaxResumable = 16;

  std::string id_;
  std::string owner_;
  std::unique_ptr<Session> core_;
  std::mutex mutex_;
  std::uint64_t next_stream_ = 1;
  std::map<std::string, std::shared_ptr<SseStream>> streams_;          // by stream id
  std::map<std::string, std::shared_ptr<SseStream>> request_streams_;  // by request id key
  std::shared_ptr<SseStream> standalone_;
  std::deque<std::string> undelivered_;  // session-wide messages before any GET stream
  // Written by connection threads, read by the reaper: atomic.
  std::atomic<std::chrono::steady_clock::rep> last_used_{
      std::chrono::steady_clock::now().time_since_epoch().count()};
};

}  // namespace keyhold
