#include "keyhold/vault/env_file.hpp"

#include <string>

namespace keyhold::vault {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }
bool is_key_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_key_char(char c) {
  return is_key_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

class EnvParser {
 public:
  explicit EnvParser(std::span<const std::uint8_t> text)
      : text_(reinterpret_cast<const char*>(text.data()), text.size()) {}

  Result<std::vector<EnvEntry>> run() {
    std::vector<EnvEntry> out;
    // One scratch buffer for every value (a value is never longer than the input); each
    // entry then gets a right-sized copy.
    SecretBuffer value(text_.size());
    while (pos_ < text_.size()) {
      skip_spaces();
      if (at_end()) break;
      if (peek() == '\n') {
        advance();
        continue;
      }
      if (peek() == '#') {
        skip_line();
        continue;
      }
      if (text_.compare(pos_, 7, "export ") == 0 || text_.compare(pos_, 7, "export\t") == 0) {
        pos_ += 7;
        skip_spaces();
      }
      const std::size_t key_line = line_;
      std::string key;
      if (at_end() || !is_key_start(peek())) return error(key_line, "expected KEY=VALUE");
      while (!at_end() && is_key_char(peek())) key.push_back(advance());
      skip_spaces();
      if (at_end() || peek() != '=') return error(key_line, "expected '=' after the key");
      advance();
      skip_spaces();
      std::size_t used = 0;
      Status status = Status::ok();
      if (!at_end() && peek() == '"') {
        status = double_quoted(value, used, key_line);
      } else if (!at_end() && peek() == '\'') {
        status = single_quoted(value, used, key_line);
      } else {
        unquoted(value, used);
      }
      if (!status.is_ok()) return status;
      out.push_back(EnvEntry{std::move(key), SecretBuffer::copy_of(value.bytes().first(used))});
    }
    return out;
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  char advance() {
    const char c = text_[pos_++];
    if (c == '\n') ++line_;
    return c;
  }
  void skip_spaces() {
    while (!at_end() && is_space(peek())) advance();
  }
  void skip_line() {
    while (!at_end() && peek() != '\n') advance();
  }
  static Status error(std::size_t line, const char* what) {
    return Status(ErrorCode::kInvalidArgument,
                  "env file line " + std::to_string(line) + ": " + what);
  }
  // After a closing quote only blanks or a comment may follow on the line.
  Status finish_line(std::size_t key_line) {
    skip_spaces();
    if (!at_end() && peek() == '#') skip_line();
    if (!at_end() && peek() != '\n')
      return error(key_line, "unexpected text after the quoted value");
    return Status::ok();
  }
  void unquoted(SecretBuffer& value, std::size_t& used) {
    const std::size_t start = pos_;
    while (!at_end() && peek() != '\n') {
      if (peek() == '#' && pos_ > start && is_space(text_[pos_ - 1])) break;
      value.data()[used++] = static_cast<std::uint8_t>(advance());
    }
    skip_line();
    while (used > 0 && is_space(static_cast<char>(value.data()[used - 1]))) --used;
  }
  Status single_quoted(SecretBuffer& value, std::size_t& used, std::size_t key_line) {
    advance();
    while (!at_end() && peek() != '\'') value.data()[used++] = static_cast<std::uint8_t>(advance());
    if (at_end()) return error(key_line, "unterminated single-quoted value");
    advance();
    return finish_line(key_line);
  }
  Status double_quoted(SecretBuffer& value, std::size_t& used, std::size_t key_line) {
    advance();
    while (!at_end() && peek() != '"') {
      char c = advance();
      if (c == '\\' && !at_end()) {
        const char e = advance();
        switch (e) {
          case 'n':
            c = '\n';
            break;
          case 'r':
            c = '\r';
            break;
          case 't':
            c = '\t';
            break;
          case '"':
          case '\\':
          case '$':
            c = e;
            break;
          default:
            value.data()[used++] = '\\';
            c = e;
        }
      }
      value.data()[used++] = static_cast<std::uint8_t>(c);
    }
    if (at_end()) return error(key_line, "unterminated double-quoted value");
    advance();
    return finish_line(key_line);
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
};

}  // namespace

Result<std::vector<EnvEntry>> parse_env_file(std::span<const std::uint8_t> text) {
  return EnvParser(text).run();
}

}  // namespace keyhold::vault
