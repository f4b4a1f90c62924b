#pragma once
// WipedString: a std::string that zeroes its bytes when destroyed. For the short-lived text
// that carries a token on its way to or from the network (a form body, a response body),
// where a SecretBuffer cannot be used because libcurl and the JSON parser want strings.
#include <sodium.h>

#include <string>

namespace keyhold::oauth {

class WipedString {
 public:
  WipedString() = default;
  explicit WipedString(std::string text) : text_(std::move(text)) {}
  WipedString(const WipedString&) = delete;
  WipedString& operator=(const WipedString&) = delete;
  WipedString(WipedString&& other) noexcept : text_(std::move(other.text_)) {}
  WipedString& operator=(WipedString&& other) noexcept {
    wipe();
    text_ = std::move(other.text_);
    return *this;
  }
  ~WipedString() { wipe(); }

  std::string& text() noexcept { return text_; }
  const std::string& text() const noexcept { return text_; }

 private:
  void wipe() noexcept {
    if (!text_.empty()) sodium_memzero(text_.data(), text_.size());
    text_.clear();
  }
  std::string text_;
};

}  // namespace keyhold::oauth
