#pragma once
// Marks a thread that must never wait for a client to read: one that reads a stream many
// requests depend on (a runner's channel) and finishes their calls as their replies come.
// A transport hands what such a thread sends to its own writer instead of writing it there
// (LineWriter); a client that stops reading then stalls only the writer, not every call.
namespace keyhold {

class NoClientWait {
 public:
  NoClientWait() : previous_(active()) { active() = true; }
  ~NoClientWait() { active() = previous_; }
  NoClientWait(const NoClientWait&) = delete;
  NoClientWait& operator=(const NoClientWait&) = delete;

  // True on this thread while a NoClientWait lives.
  static bool& active() noexcept {
    thread_local bool on = false;
    return on;
  }

 private:
  bool previous_;
};

}  // namespace keyhold
