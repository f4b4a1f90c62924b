#include "loader/runner_channel.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <new>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace keyhold::runner {

namespace {

constexpr std::size_t kFixedBytes = 1 + 1 + 8 + 8 + 4 + 8 + 8 + 8 + 8 + 4;

template <typename T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

// Reads fixed-size fields from a body, refusing to read past its end.
class Reader {
 public:
  explicit Reader(std::string_view body) : body_(body) {}
  template <typename T>
  bool get(T* value) {
    if (body_.size() - at_ < sizeof(T)) return false;
    std::memcpy(value, body_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return true;
  }
  bool bytes(std::size_t n, std::string* out) {
    if (body_.size() - at_ < n) return false;
    out->assign(body_.data() + at_, n);
    at_ += n;
    return true;
  }
  bool done() const { return at_ == body_.size(); }

 private:
  std::string_view body_;
  std::size_t at_ = 0;
};

// Writes every byte. With a limit (> 0) the whole frame must leave within it: a peer that
// stops reading fails the write with errno ETIMEDOUT instead of holding the writer.
bool write_all(int fd, const char* data, std::size_t size, std::chrono::milliseconds limit) {
  using Clock = std::chrono::steady_clock;
  const bool limited = limit.count() > 0;
  const auto deadline = Clock::now() + limit;
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL | (limited ? MSG_DONTWAIT : 0));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (!limited || (errno != EAGAIN && errno != EWOULDBLOCK)) return false;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd pfd{fd, POLLOUT, 0};
      if (left <= 0 || (::poll(&pfd, 1, static_cast<int>(left)) == 0)) {
        errno = ETIMEDOUT;
        return false;
      }
      continue;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

constexpr std::size_t kReadAhead = 16 * 1024;

// explicit_bzero (glibc): a zeroing the compiler may not drop. The runner links this file
// and does without libsodium (one library less to map into every runner).
void wipe_bytes(void* at, std::size_t n) {
  if (n > 0) ::explicit_bzero(at, n);
}

bool known_type(std::uint8_t t) { return (t >= 1 && t <= 7) || (t >= 20 && t <= 23); }

// The body size of m's frame, or 0 when it is over the frame limits.
std::size_t body_size(const Message& m) {
  std::size_t size = kFixedBytes;
  for (const auto& p : m.parts) size += 4 + p.size();
  return size > kMaxFrameBytes || m.parts.size() > kMaxParts ? 0 : size;
}

// Makes room for `more` bytes in *bytes; a move to a larger buffer zeroes the old one (the
// bytes may be a frame carrying a secret value).
void reserve_wiped(std::string* bytes, std::size_t more) {
  const std::size_t need = bytes->size() + more;
  if (need <= bytes->capacity()) return;
  std::string bigger;
  bigger.reserve(std::max({need, 2 * bytes->capacity(), std::size_t{4096}}));
  bigger.append(*bytes);
  wipe_bytes(bytes->data(), bytes->size());
  bytes->swap(bigger);
}

}  // namespace

const std::string& Message::part(std::size_t i) const {
  static const std::string kEmpty;
  return i < parts.size() ? parts[i] : kEmpty;
}

void Message::wipe() {
  for (auto& p : parts) wipe_bytes(p.data(), p.size());
}

bool Channel::encode(const Message& m, std::string* out) {
  const std::size_t size = body_size(m);
  if (size == 0) return false;
  std::string& frame = *out;
  frame.reserve(frame.size() + 4 + size);
  put(frame, static_cast<std::uint32_t>(size));
  put(frame, static_cast<std::uint8_t>(m.type));
  put(frame, static_cast<std::uint8_t>(m.service));
  put(frame, m.id);
  put(frame, m.call);
  put(frame, m.status);
  put(frame, m.a);
  put(frame, m.b);
  put(frame, m.x);
  put(frame, m.y);
  put(frame, static_cast<std::uint32_t>(m.parts.size()));
  for (const auto& p : m.parts) {
    put(frame, static_cast<std::uint32_t>(p.size()));
    frame.append(p);
  }
  return true;
}

bool Channel::send_encoded(std::string* frames) {
  bool ok;
  int error = 0;
  {
    std::lock_guard lock(write_mutex_);
    std::string held = take_held_locked();
    ok = write_all(fd_, held.data(), held.size(), send_limit_) &&
         write_all(fd_, frames->data(), frames->size(), send_limit_);
    error = errno;
    wipe_bytes(held.data(), held.size());
    if (ok) write_held_now_locked();  // what was held while this wrote
  }
  wipe_bytes(frames->data(), frames->size());
  frames->clear();
  errno = error;
  return ok;
}

bool Channel::try_send(const Message& m) {
  std::string frame;
  if (!encode(m, &frame)) {
    errno = EMSGSIZE;
    return false;
  }
  bool ok = false;
  int error = 0;
  {
    std::unique_lock lock(write_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) {
      error = EAGAIN;
    } else if (!write_held_now_locked()) {  // held frames go first; this one waits
      error = errno;
    } else {
      ssize_t n;
      do {
        n = ::send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      } while (n < 0 && errno == EINTR);
      if (n < 0) {
        error = errno;
      } else {
        const auto sent = static_cast<std::size_t>(n);
        ok = write_all(fd_, frame.data() + sent, frame.size() - sent, send_limit_);
        error = errno;
        if (ok) write_held_now_locked();  // what was held while this wrote
      }
    }
  }
  wipe_bytes(frame.data(), frame.size());
  errno = error == EWOULDBLOCK ? EAGAIN : error;
  return ok;
}

bool Channel::send(const Message& m) {
  std::string frame;
  if (!encode(m, &frame)) {
    errno = EMSGSIZE;
    return false;
  }
  return send_encoded(&frame);
}

bool Channel::hold(const Message& m, std::size_t* held_frames) {
  const std::size_t size = body_size(m);
  if (size == 0) {
    errno = EMSGSIZE;
    return false;
  }
  std::lock_guard lock(held_mutex_);
  if (held_.size() + 4 + size > kMaxHeldBytes) {
    errno = ENOBUFS;
    return false;
  }
  reserve_wiped(&held_, 4 + size);  // encode() then appends without moving the bytes
  if (held_.empty()) held_since_ = std::chrono::steady_clock::now();
  encode(m, &held_);
  *held_frames = ++held_count_;
  return true;
}

bool Channel::flush_held() {
  std::unique_lock lock(write_mutex_, std::try_to_lock);
  if (!lock.owns_lock()) {  // the sender writes the held bytes after its frame
    errno = EAGAIN;
    return false;
  }
  return write_held_now_locked();
}

std::size_t Channel::held_bytes() const {
  std::lock_guard lock(held_mutex_);
  return held_.size();
}

std::chrono::steady_clock::time_point Channel::held_since() const {
  std::lock_guard lock(held_mutex_);
  return held_since_;
}

std::string Channel::take_held_locked() {
  std::string taken;
  std::lock_guard lock(held_mutex_);
  taken.swap(held_);
  held_count_ = 0;
  return taken;
}

void Channel::put_back_held_locked(std::string_view tail,
                                   std::chrono::steady_clock::time_point since) {
  std::lock_guard lock(held_mutex_);
  std::string merged;
  merged.reserve(tail.size() + held_.size());
  merged.append(tail);
  merged.append(held_);
  wipe_bytes(held_.data(), held_.size());
  held_.swap(merged);
  ++held_count_;
  held_since_ = since;  // the tail's: older than what was held meanwhile
}

bool Channel::write_held_now_locked() {
  std::chrono::steady_clock::time_point since;
  {
    std::lock_guard lock(held_mutex_);
    if (held_.empty()) return true;
    since = held_since_;
  }
  std::string bytes = take_held_locked();
  std::size_t sent = 0;
  int error = 0;
  while (sent < bytes.size()) {
    const ssize_t n =
        ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = errno == EWOULDBLOCK ? EAGAIN : errno;
      break;
    }
    sent += static_cast<std::size_t>(n);
  }
  // The send limit counts from the last progress: a runner that reads, if slowly, is not
  // one that stopped reading.
  if (sent > 0) since = std::chrono::steady_clock::now();
  if (sent < bytes.size()) put_back_held_locked(std::string_view(bytes).substr(sent), since);
  wipe_bytes(bytes.data(), bytes.size());
  errno = error;
  return error == 0;
}

Channel::~Channel() {
  if (buffer_) wipe_bytes(buffer_.get() + begin_, end_ - begin_);
  wipe_bytes(held_.data(), held_.size());
}

bool Channel::make_room(std::size_t need) {
  if (end_ == begin_ && capacity_ > kReadAhead) {
    // After a large frame (already zeroed): give the memory back.
    buffer_.reset();
    capacity_ = begin_ = end_ = 0;
  }
  if (begin_ > 0) {  // move the unparsed tail to the front, zeroing what it leaves behind
    const std::size_t tail = end_ - begin_;
    std::memmove(buffer_.get(), buffer_.get() + begin_, tail);
    wipe_bytes(buffer_.get() + tail, end_ - tail);
    begin_ = 0;
    end_ = tail;
  }
  if (capacity_ < need) {
    const std::size_t capacity = std::max(need, kReadAhead);
    std::unique_ptr<char[]> bigger(new (std::nothrow) char[capacity]);
    if (!bigger) return false;
    if (end_ > 0) {
      std::memcpy(bigger.get(), buffer_.get(), end_);
      wipe_bytes(buffer_.get(), end_);
    }
    buffer_ = std::move(bigger);
    capacity_ = capacity;
  }
  return true;
}

int Channel::fill(std::size_t need) {
  if (end_ - begin_ >= need) return 1;
  if (!make_room(need)) return -1;
  while (end_ < need) {
    const ssize_t n = ::read(fd_, buffer_.get() + end_, capacity_ - end_);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) return end_ == 0 ? 0 : -1;
    end_ += static_cast<std::size_t>(n);
  }
  return 1;
}

int Channel::read_some() {
  std::size_t need = end_ - begin_ + 1;
  std::uint32_t size = 0;
  if (end_ - begin_ >= sizeof size) {
    std::memcpy(&size, buffer_.get() + begin_, sizeof size);
    if (size >= kFixedBytes && size <= kMaxFrameBytes) need = std::max(need, sizeof size + size);
  }
  if (!make_room(need)) return -1;
  for (;;) {
    const ssize_t n = ::read(fd_, buffer_.get() + end_, capacity_ - end_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) return 0;
    end_ += static_cast<std::size_t>(n);
    return 1;
  }
}

bool Channel::frame_buffered() const noexcept {
  std::uint32_t size = 0;
  if (end_ - begin_ < sizeof size) return false;
  std::memcpy(&size, buffer_.get() + begin_, sizeof size);
  // An impossible size is "whole" too: receive() fails it without reading more.
  return size < kFixedBytes || size > kMaxFrameBytes || end_ - begin_ >= sizeof size + size;
}

Status Channel::receive(Message* m) {
  const int head = fill(sizeof(std::uint32_t));
  if (head == 0) return unavailable("the peer closed the channel");
  if (head < 0) return io_error("the channel broke inside a frame header");
  std::uint32_t size = 0;
  std::memcpy(&size, buffer_.get() + begin_, sizeof size);
  if (size < kFixedBytes || size > kMaxFrameBytes)
    return invalid_argument("a frame of " + std::to_string(size) +
                            " bytes is outside the allowed size");
  if (fill(sizeof size + size) != 1) return io_error("the channel broke inside a frame");
  char* const frame = buffer_.get() + begin_;
  const std::string_view body(frame + sizeof size, size);
  begin_ += sizeof size + size;
  // The frame may carry a secret value (reveal): its bytes in the buffer are zeroed once
  // parsed, whatever the outcome.
  struct Wipe {
    char* at;
    std::size_t n;
    ~Wipe() { wipe_bytes(at, n); }
  } wipe{frame, sizeof size + size};
  if (begin_ == end_) begin_ = end_ = 0;
  Reader in(body);
  std::uint8_t type = 0, service = 0;
  std::uint32_t count = 0;
  in.get(&type);
  in.get(&service);
  in.get(&m->id);
  in.get(&m->call);
  in.get(&m->status);
  in.get(&m->a);
  in.get(&m->b);
  in.get(&m->x);
  in.get(&m->y);
  in.get(&count);
  if (!known_type(type) || count > kMaxParts) {
    return invalid_argument("a malformed frame (type " + std::to_string(type) + ")");
  }
  m->type = static_cast<Type>(type);
  m->service = static_cast<Service>(service);
  m->parts.assign(count, std::string());
  for (auto& part : m->parts) {
    std::uint32_t length = 0;
    if (!in.get(&length) || !in.bytes(length, &part)) {
      return invalid_argument("a frame whose parts overrun it");
    }
  }
  if (!in.done()) {
    return invalid_argument("a frame with trailing bytes");
  }
  return Status::ok();
}

}  // namespace keyhold::runner
