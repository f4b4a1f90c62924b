// The host <-> runner channel: frames round-trip whole, and every malformed frame a
// hostile runner could write is refused with a reason instead of being trusted.
#include <sys/socket.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <thread>

#include "loader/runner_channel.hpp"

using namespace keyhold::runner;

namespace {
struct Pair {
  int fds[2];
  Pair() { REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0); }
  ~Pair() {
    ::close(fds[0]);
    if (fds[1] >= 0) ::close(fds[1]);
  }
  void write_raw(const std::string& bytes) {
    REQUIRE(::write(fds[1], bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  }
  void close_writer() {
    ::close(fds[1]);
    fds[1] = -1;
  }
};

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// A frame body with the fixed fields and the given part count; parts appended by caller.
std::string body(std::uint8_t type, std::uint32_t parts) {
  std::string b;
  put<std::uint8_t>(b, type);
  put<std::uint8_t>(b, 0);
  put<std::uint64_t>(b, 7);
  put<std::uint64_t>(b, 0);
  put<std::int32_t>(b, 0);
  put<std::uint64_t>(b, 0);
  put<std::uint64_t>(b, 0);
  put<double>(b, 0);
  put<double>(b, 0);
  put<std::uint32_t>(b, parts);
  return b;
}
std::string framed(const std::string& b) {
  std::string f;
  put<std::uint32_t>(f, static_cast<std::uint32_t>(b.size()));
  return f + b;
}
}  // namespace

TEST_CASE("a frame round-trips with all its fields and parts") {
  Pair p;
  Channel writer(p.fds[1]), reader(p.fds[0]);
  Message m;
  m.type = Type::kService;
  m.service = Service::kSecretSign;
  m.id = 42;
  m.call = 9;
  m.status = -3;
  m.a = 1ull << 63;
  m.b = 5;
  m.x = 0.5;
  m.y = -1;
  m.parts = {"hmac-sha256", std::string("\0binary\xff", 8), ""};
  REQUIRE(writer.send(m));
  Message got;
  REQUIRE(reader.receive(&got).is_ok());
  CHECK(got.type == Type::kService);
  CHECK(got.service == Service::kSecretSign);
  CHECK(got.id == 42);
  CHECK(got.call == 9);
  CHECK(got.status == -3);
  CHECK(got.a == (1ull << 63));
  CHECK(got.x == 0.5);
  CHECK(got.parts == m.parts);
  CHECK(got.part(7).empty());
}

TEST_CASE("a clean end of stream is not an error; a truncated frame is") {
  {
    Pair p;
    p.close_writer();
    Channel reader(p.fds[0]);
    Message m;
    CHECK(reader.receive(&m).code() == keyhold::ErrorCode::kUnavailable);
  }
  {
    Pair p;
    p.write_raw(framed(body(22, 0)).substr(0, 20));
    p.close_writer();
    Channel reader(p.fds[0]);
    Message m;
    const keyhold::Status got = reader.receive(&m);
    CHECK(got.code() == keyhold::ErrorCode::kIo);
    CHECK(got.message() == "the channel broke inside a frame");
  }
}

TEST_CASE("malformed frames from a runner are refused with a reason") {
  struct Case {
    std::string bytes;
    std::string why;
  };
  std::string overrun = body(22, 1);
  put<std::uint32_t>(overrun, 1000);  // a part longer than the frame
  overrun += "abc";
  std::string trailing = body(22, 0) + "x";
  std::string huge;
  put<std::uint32_t>(huge, 0xffffffffu);
  const Case cases[] = {
      {huge, "outside the allowed size"},       {framed(body(99, 0)), "malformed frame (type 99)"},
      {framed(body(22, 9)), "malformed frame"}, {framed(overrun), "parts overrun"},
      {framed(trailing), "trailing bytes"},
  };
  for (const auto& c : cases) {
    Pair p;
    p.write_raw(c.bytes);
    p.close_writer();
    Channel reader(p.fds[0]);
    Message m;
    const keyhold::Status got = reader.receive(&m);
    CHECK_FALSE(got.is_ok());
    CHECK(got.message().find(c.why) != std::string::npos);
  }
}

TEST_CASE("send refuses a frame over the size or part limits") {
  Pair p;
  Channel writer(p.fds[1]);
  Message m;
  m.type = Type::kReply;
  m.parts.assign(kMaxParts + 1, "x");
  CHECK_FALSE(writer.send(m));
}

TEST_CASE("frames arriving together, split or larger than the read-ahead parse in order") {
  Pair p;
  // Three frames in one write, the middle one 1 MiB (larger than the read-ahead buffer).
  std::string big(1u << 20, 'b');
  std::string b1 = body(22, 1), b2 = body(22, 1), b3 = body(22, 0);
  put<std::uint32_t>(b1, 3);
  b1 += "one";
  put<std::uint32_t>(b2, static_cast<std::uint32_t>(big.size()));
  b2 += big;
  const std::string all = framed(b1) + framed(b2) + framed(b3);
  const int out = p.fds[1];
  p.fds[1] = -1;
  std::thread writer([&all, out] {
    // Byte-sized pieces first (a header split across reads), then the rest at once.
    // (No Catch2 assertion on this thread.)
    std::size_t at = 0;
    while (at < all.size()) {
      const ssize_t n = ::write(out, all.data() + at, at < 7 ? 1 : all.size() - at);
      if (n <= 0) break;
      at += static_cast<std::size_t>(n);
    }
    ::close(out);
  });
  Channel reader(p.fds[0]);
  Message m;
  REQUIRE(reader.receive(&m).is_ok());
  CHECK(m.parts == std::vector<std::string>{"one"});
  REQUIRE(reader.receive(&m).is_ok());
  REQUIRE(m.parts.size() == 1);
  CHECK(m.parts[0] == big);
  REQUIRE(reader.receive(&m).is_ok());
  CHECK(m.parts.empty());
  CHECK_FALSE(reader.buffered());
  CHECK(reader.receive(&m).code() == keyhold::ErrorCode::kUnavailable);
  writer.join();
}

TEST_CASE("read_some never waits for the rest of a frame; frame_buffered says when it is whole") {
  Pair p;
  Channel reader(p.fds[0]);
  std::string reply = body(22, 1);
  put<std::uint32_t>(reply, 5);
  reply += "hello";
  const std::string frame = framed(reply);
  CHECK_FALSE(reader.frame_buffered());
  // Half a frame: one read takes it and returns, though the frame is not whole.
  p.write_raw(frame.substr(0, 9));
  REQUIRE(reader.read_some() == 1);
  CHECK(reader.buffered());
  CHECK_FALSE(reader.frame_buffered());
  p.write_raw(frame.substr(9) + frame);  // the rest, then a second whole frame
  REQUIRE(reader.read_some() == 1);
  REQUIRE(reader.frame_buffered());
  Message m;
  REQUIRE(reader.receive(&m).is_ok());
  CHECK(m.part(0) == "hello");
  REQUIRE(reader.frame_buffered());  // the second came with the same read
  REQUIRE(reader.receive(&m).is_ok());
  CHECK_FALSE(reader.buffered());
  // A header announcing an impossible size counts as whole: receive() refuses it at once.
  std::string huge;
  put<std::uint32_t>(huge, 0xffffffffu);
  p.write_raw(huge);
  REQUIRE(reader.read_some() == 1);
  CHECK(reader.frame_buffered());
  CHECK(reader.receive(&m).code() == keyhold::ErrorCode::kInvalidArgument);
}

TEST_CASE("read_some reports the end of the stream") {
  Pair p;
  Channel reader(p.fds[0]);
  p.write_raw("\x40\x00");
  p.close_writer();
  REQUIRE(reader.read_some() == 1);
  CHECK_FALSE(reader.frame_buffered());
  CHECK(reader.read_some() == 0);
  CHECK(reader.buffered());  // the end came inside a frame
}

TEST_CASE("try_send writes whole frames while there is room, then EAGAIN with nothing written") {
  Pair pair;
  Channel writer(pair.fds[0]), reader(pair.fds[1]);
  writer.set_send_limit(std::chrono::milliseconds(1000));
  Message m;
  m.type = Type::kCall;
  m.parts = {"tools/call", std::string(1000, 'x')};
  int sent = 0;
  for (; sent < 100000; ++sent) {
    m.id = static_cast<std::uint64_t>(sent + 1);
    if (!writer.try_send(m)) break;
  }
  REQUIRE(sent < 100000);  // the socket buffer filled
  CHECK(errno == EAGAIN);
  CHECK(sent > 0);
  // Every frame that went is whole: a unix stream socket queues a small send as one piece
  // or refuses it (the host sends only frames of up to 64 KiB this way).
  for (int i = 0; i < sent; ++i) {
    Message got;
    REQUIRE(reader.receive(&got).is_ok());
    CHECK(got.id == static_cast<std::uint64_t>(i + 1));
  }
  CHECK_FALSE(reader.buffered());
}

namespace {
Message call_frame(std::uint64_t id, std::size_t bytes) {
  Message m;
  m.type = Type::kCall;
  m.id = id;
  m.parts = {"tools/call", std::string(bytes, static_cast<char>('a' + id % 26))};
  return m;
}
// Receives frames until `count` arrived; their ids, in order (parts checked whole).
std::vector<std::uint64_t> receive_ids(Channel& reader, std::size_t count) {
  std::vector<std::uint64_t> ids;
  for (std::size_t i = 0; i < count; ++i) {
    Message got;
    if (!reader.receive(&got).is_ok()) break;
    const std::string& body = got.part(1);
    if (body.find_first_not_of(static_cast<char>('a' + got.id % 26)) != std::string::npos) break;
    ids.push_back(got.id);
  }
  return ids;
}
}  // namespace

TEST_CASE("held frames leave in order, ahead of any frame sent after them") {
  Pair pair;
  Channel writer(pair.fds[0]), reader(pair.fds[1]);
  std::size_t held = 0;
  CHECK_FALSE(writer.holding());
  REQUIRE(writer.hold(call_frame(1, 10), &held));
  CHECK(held == 1);
  REQUIRE(writer.hold(call_frame(2, 20), &held));
  CHECK(held == 2);
  CHECK(writer.holding());
  // A later frame (a cancellation, a worker's call) never overtakes them.
  REQUIRE(writer.send(call_frame(3, 30)));
  CHECK_FALSE(writer.holding());
  REQUIRE(writer.hold(call_frame(4, 40), &held));
  CHECK(held == 1);
  REQUIRE(writer.try_send(call_frame(5, 50)));
  REQUIRE(writer.hold(call_frame(6, 60), &held));
  REQUIRE(writer.flush_held());
  CHECK_FALSE(writer.holding());
  CHECK(receive_ids(reader, 6) == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6});
  CHECK_FALSE(reader.buffered());
}

TEST_CASE("hold refuses past the frame limits and past kMaxHeldBytes, holding nothing") {
  Pair pair;
  Channel writer(pair.fds[0]);
  std::size_t held = 0;
  Message huge = call_frame(1, 0);
  huge.parts[1].assign(kMaxFrameBytes, 'x');
  CHECK_FALSE(writer.hold(huge, &held));
  CHECK(errno == EMSGSIZE);
  CHECK_FALSE(writer.holding());
  REQUIRE(writer.hold(call_frame(1, Channel::kMaxHeldBytes / 2), &held));
  CHECK_FALSE(writer.hold(call_frame(2, Channel::kMaxHeldBytes / 2), &held));
  CHECK(errno == ENOBUFS);
  CHECK(held == 1);
}

TEST_CASE("a full peer buffer keeps frames held, part of one included, until there is room") {
  Pair pair;
  // A small send buffer: a held batch of 20 KB leaves in pieces, not whole.
  const int small = 4096;
  REQUIRE(::setsockopt(pair.fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
  Channel writer(pair.fds[0]), reader(pair.fds[1]);
  writer.set_send_limit(std::chrono::milliseconds(5000));
  std::uint64_t id = 1;
  while (writer.try_send(call_frame(id, 1000))) ++id;  // fills the buffer
  CHECK(errno == EAGAIN);
  const std::uint64_t first_held = id;
  const auto before = std::chrono::steady_clock::now();
  std::size_t held = 0;
  for (int i = 0; i < 10; ++i) REQUIRE(writer.hold(call_frame(id++, 2000), &held));
  CHECK(held == 10);
  CHECK_FALSE(writer.flush_held());
  CHECK(errno == EAGAIN);
  CHECK(writer.holding());
  const auto since = writer.held_since();
  CHECK(since >= before);
  const std::size_t batch = writer.held_bytes();
  CHECK(batch > 20000);
  // A frame that cannot start at once is not written, and does not overtake them.
  const std::uint64_t refused = 1000;
  CHECK_FALSE(writer.try_send(call_frame(refused, 10)));
  CHECK(errno == EAGAIN);

  // The reader takes frames until the last one (999); the writer flushes until nothing is
  // held, holding one more frame while part of the batch is still held.
  const std::uint64_t last = 999;
  std::vector<std::uint64_t> ids;
  std::thread drain([&] {
    for (;;) {
      const auto got = receive_ids(reader, 1);
      if (got.empty() || got[0] == last) return;
      ids.push_back(got[0]);
    }
  });
  bool partial_seen = false;  // some of the held bytes left while the rest stayed held
  for (int tries = 0; writer.holding() && tries < 5000; ++tries) {
    const bool flushed = writer.flush_held();
    const std::size_t left = writer.held_bytes();
    if (!flushed && left > 0 && left < batch && !partial_seen) {
      CHECK(writer.held_since() > since);  // progress restarts the send limit's clock
      partial_seen = true;
      REQUIRE(writer.hold(call_frame(id++, 10), &held));  // queued behind the held tail
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  CHECK_FALSE(writer.holding());
  REQUIRE(writer.send(call_frame(last, 10)));
  drain.join();
  CHECK(partial_seen);
  CHECK(first_held > 1);
  REQUIRE(ids.size() == id - 1);
  for (std::size_t i = 0; i < ids.size(); ++i) CHECK(ids[i] == i + 1);  // in order, whole
}

TEST_CASE("frames held while another thread flushes keep their order behind a part written") {
  Pair pair;
  const int small = 4096;  // many partial writes
  REQUIRE(::setsockopt(pair.fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
  Channel writer(pair.fds[0]), reader(pair.fds[1]);
  constexpr std::uint64_t kFrames = 3000;
  std::vector<std::uint64_t> ids;
  std::thread drain([&] { ids = receive_ids(reader, kFrames); });
  std::atomic<bool> produced{false};
  std::thread producer([&] {
    std::size_t held = 0;
    for (std::uint64_t id = 1; id <= kFrames;) {
      if (writer.hold(call_frame(id, 100 + id % 900), &held))
        ++id;
      else
        std::this_thread::yield();  // ENOBUFS: the flusher makes room
    }
    produced = true;
  });
  int partial = 0;
  while (!produced || writer.holding()) {
    const std::size_t before = writer.held_bytes();
    if (!writer.flush_held() && writer.held_bytes() < before) ++partial;
  }
  producer.join();
  drain.join();
  INFO("flushes that left part of the held bytes: " << partial);
  REQUIRE(ids.size() == kFrames);
  for (std::size_t i = 0; i < ids.size(); ++i) REQUIRE(ids[i] == i + 1);
}
