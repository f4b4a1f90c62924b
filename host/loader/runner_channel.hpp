#pragma once
// The framed binary protocol between the host and a plugin runner (keyhold-runner), over
// one SOCK_STREAM socketpair. One message shape for every frame keeps the parser small:
//
//   u32 body length | u8 type | u8 service | u64 id | u64 call | i32 status |
//   u64 a | u64 b | f64 x | f64 y | u32 part count | (u32 length | bytes) per part
//
// (little-endian, host byte order: both ends are one machine). The host treats every
// frame from a runner as hostile: lengths, counts and types are checked before use, and
// a malformed frame ends the runner.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.hpp"

namespace keyhold::runner {

enum class Type : std::uint8_t {
  // host -> runner
  kInit = 1,          // parts: [init JSON: plugin path, sandbox policy]
  kCreate = 2,        // id; parts: [instance name, options JSON]
  kDescribe = 3,      // id
  kCall = 4,          // id = call; parts: [method, params JSON]
  kCancel = 5,        // id = call
  kDestroy = 6,       // id
  kServiceReply = 7,  // id = service request; status; a, b; parts: [body]
  // runner -> host
  kDefinition = 20,  // parts: [definition JSON: name, version, ABI, secrets, sandbox report]
  kFatal = 21,       // parts: [message]: the runner could not start
  kReply = 22,       // id (of create/describe/call/destroy); status; parts: [body]
  kService = 23,     // id = service request (0: one-way); call; service; fields per service
};

// The kh_host_api services a runner forwards. One-way services carry id 0.
enum class Service : std::uint8_t {
  kLog = 1,              // call; status = level; parts: [message]
  kProgress = 2,         // call; x = progress, y = total; parts: [message]
  kListChanged = 3,      // status = what
  kResourceUpdated = 4,  // parts: [uri]
  kClientRequest = 5,    // call; parts: [method, params]      -> status, [result]
  kSecretAcquire = 6,    // call; parts: [alias]               -> status, a/b = handle
  kSecretRelease = 7,    // a/b = handle                       -> status
  kSecretReveal = 8,     // call; a/b = handle                 -> status, [value]
  kSecretSign = 9,       // call; a/b; parts: [algorithm, data] -> status, [output]
  kProcessSpawn = 10,    // call; parts: [spec]                -> status, a = id, [error]
  kProcessRead = 11,     // a = process, b = stream, status = timeout -> status, [data]
  kProcessWait = 12,     // a = process, status = timeout      -> status, a = exit status
  kProcessKill = 13,     // a = process, status = signal       -> status
};

struct Message {
  Type type = Type::kFatal;
  Service service = Service::kLog;
  std::uint64_t id = 0;
  std::uint64_t call = 0;
  std::int32_t status = 0;
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  double x = 0;
  double y = 0;
  std::vector<std::string> parts;

  // The part at index i, or an empty string when the frame has fewer.
  const std::string& part(std::size_t i) const;
  // Zeroes every part (for frames that carried a secret value).
  void wipe();
};

inline constexpr std::size_t kMaxFrameBytes = 64u << 20;  // a result larger than this fails
inline constexpr std::size_t kMaxParts = 8;

// One end of the socketpair. send() is thread-safe (frames never interleave); receive()
// must be called from one thread at a time. Neither throws.
//
// receive() reads ahead into a buffer (one read(2) usually brings a whole frame, and a
// burst of pipelined frames at once); every byte it has parsed is zeroed there, since a
// frame may carry a secret value.
class Channel {
 public:
  explicit Channel(int fd) : fd_(fd) {}
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  int fd() const noexcept { return fd_; }
  // True when a whole or partial frame is already buffered (poll(2) on fd() would not
  // see it).
  bool buffered() const noexcept { return end_ > begin_; }
  // True when at least one whole frame is buffered: receive() returns it without a
  // system call (or fails it as malformed, also without one).
  bool frame_buffered() const noexcept;

  // Writes one frame whole; its encoded copy is zeroed afterwards (a frame may carry a
  // secret value). False once the peer is gone (errno from send(2)), over the frame limits
  // (errno EMSGSIZE) or past the send limit (errno ETIMEDOUT; the stream may then hold
  // part of the frame, so the channel is broken).
  bool send(const Message& message);
  // send(), but only when it can start at once: another sender holds the channel, or the
  // peer's buffer has no room for a byte now, and it returns false with errno EAGAIN and
  // nothing written. Once a byte has left it finishes the frame like send().
  bool try_send(const Message& message);
  // How long one frame (or batch) may take to leave; 0 (the default): no limit. The host
  // sets one, so that a runner that stops reading cannot hold a host thread in send().
  // Set before any send.
  void set_send_limit(std::chrono::milliseconds limit) { send_limit_ = limit; }
  // Appends the encoding of one frame to *out (false, nothing appended: over the limits),
  // and writes such a batch in one go, zeroing and clearing it afterwards.
  static bool encode(const Message& message, std::string* out);
  bool send_encoded(std::string* frames);

  // Frames held back to leave together: the host holds the calls of a burst of client
  // requests and writes them in one send(2), waking the runner once (base/send_batch.hpp).
  // Held frames keep their order: every send() and try_send() writes what is held before
  // its own frame, and after it tries to write what was held meanwhile. hold() never waits
  // for a sender, so a thread that must not wait for the runner may call it.
  //
  // Appends one frame to the held bytes. False with nothing held: over the frame limits
  // (errno EMSGSIZE), or the held bytes would pass kMaxHeldBytes (errno ENOBUFS).
  // *held_frames: how many frames are held now, this one included.
  bool hold(const Message& message, std::size_t* held_frames);
  // Writes as much of the held bytes as the socket takes now, without waiting. True when
  // nothing is left held. False with errno EAGAIN when some is (the peer's buffer is full,
  // or another thread is sending: it writes them after its frame); false with the errno of
  // send(2) when the peer is gone. Part of a frame may stay held: the next write starts
  // with its rest.
  bool flush_held();
  // True while bytes are held; how many.
  bool holding() const { return held_bytes() > 0; }
  std::size_t held_bytes() const;
  // Since when the held bytes wait (meaningful while holding()): the first hold, or the
  // last write that took part of them. The host ends a runner that leaves bytes held past
  // its send limit.
  std::chrono::steady_clock::time_point held_since() const;
  static constexpr std::size_t kMaxHeldBytes = 64 * 1024;
  // Reads one frame. kUnavailable at a clean end of stream (between frames); kIo when the
  // stream broke inside a frame; kInvalidArgument for a malformed frame. Blocks until the
  // whole frame is in: a reader that must not wait on its peer (the host, whose peer may be
  // hostile) calls it only once frame_buffered().
  Status receive(Message* message);
  // One read(2) of what the peer has sent, into the buffer (never a wait for the rest of a
  // frame: call it when poll(2) says fd() is readable). 1: bytes read; 0: end of stream;
  // -1: error (or no memory for the frame under way).
  int read_some();

 private:
  // Reads until at least `need` bytes are buffered. 1: done, 0: clean end of stream with
  // nothing buffered, -1: error or end of stream inside a frame.
  int fill(std::size_t need);
  // Compacts the buffer and grows it to hold `need` unparsed bytes; false without memory.
  bool make_room(std::size_t need);

  // write_mutex_ held: takes the held bytes out (wiped by the caller after writing).
  std::string take_held_locked();
  // write_mutex_ held: puts back the unwritten tail of what take_held_locked() took, ahead
  // of anything held since.
  void put_back_held_locked(std::string_view tail, std::chrono::steady_clock::time_point since);
  // write_mutex_ held: writes the held bytes that the socket takes now (no wait).
  bool write_held_now_locked();

  int fd_;
  // Lock order: write_mutex_, then held_mutex_. Only a writer holding write_mutex_ takes
  // bytes out of held_; hold() takes held_mutex_ alone.
  std::mutex write_mutex_;
  mutable std::mutex held_mutex_;
  std::string held_;
  std::size_t held_count_ = 0;  // frames in held_ (a part frame put back counts as one)
  std::chrono::steady_clock::time_point held_since_{};
  std::chrono::milliseconds send_limit_{0};
  // Read-ahead, allocated without initialising (pages a runner never fills are never
  // touched); bytes [begin_, end_) are not parsed yet, every byte before begin_ is zero.
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0, end_ = 0;
};

}  // namespace keyhold::runner
