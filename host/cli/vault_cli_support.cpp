#include "cli/vault_cli_support.hpp"

#include <keyhold/sdk/time.hpp>

#include <fcntl.h>
#include <pwd.h>
#include <sodium.h>
#include <termios.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>

#include "oauth/token_record.hpp"
#include "secrets/secret_source.hpp"

namespace keyhold::cli::vault_cli {
namespace {

constexpr std::size_t kMaxPassphrase = 1024;

const char* env(const char* name) {
  const char* value = std::getenv(name);
  return (value != nullptr && *value != '\0') ? value : nullptr;
}

// Reads one line from the controlling terminal with echo off. nullopt when there is none.
std::optional<vault::SecretBuffer> prompt_no_echo(const std::string& prompt) {
  const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  struct termios old_mode {};
  const bool is_tty = ::tcgetattr(fd, &old_mode) == 0;
  if (!is_tty) {
    ::close(fd);
    return std::nullopt;
  }
  struct termios quiet = old_mode;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  quiet.c_lflag |= ECHONL;
  ::tcsetattr(fd, TCSAFLUSH, &quiet);
  [[maybe_unused]] auto written = ::write(fd, prompt.data(), prompt.size());
  vault::SecretBuffer line(kMaxPassphrase);
  std::size_t used = 0;
  for (;;) {
    char c = 0;
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    if (used < line.size()) line.data()[used++] = static_cast<std::uint8_t>(c);
  }
  ::tcsetattr(fd, TCSAFLUSH, &old_mode);
  ::close(fd);
  if (used > 0 && line.data()[used - 1] == '\r') --used;
  line.truncate(used);
  return line;
}

}  // namespace

vault::UnixSeconds now_unix() { return vault::clock_now(); }

int exit_code_for(vault::ErrorCode code) {
  switch (code) {
    case vault::ErrorCode::kOk:
      return kExitOk;
    case vault::ErrorCode::kInvalidArgument:
      return kExitUsage;
    case vault::ErrorCode::kNotFound:
      return kExitNotFound;
    case vault::ErrorCode::kAlreadyExists:
      return kExitExists;
    case vault::ErrorCode::kUnlockFailed:
      return kExitLocked;
    case vault::ErrorCode::kIntegrity:
      return kExitIntegrity;
    case vault::ErrorCode::kPermissionDenied:
      return kExitDenied;
    case vault::ErrorCode::kInsecurePermissions:
      return kExitInsecure;
    case vault::ErrorCode::kUnsupported:
    case vault::ErrorCode::kIo:
    case vault::ErrorCode::kInternal:
    case vault::ErrorCode::kCancelled:
    case vault::ErrorCode::kUnavailable:
      break;
  }
  return kExitError;
}

namespace {
std::string& prefix_storage() {
  static std::string prefix = "keyhold vault: ";
  return prefix;
}
}  // namespace

void set_error_prefix(std::string prefix) { prefix_storage() = std::move(prefix); }
const std::string& error_prefix() { return prefix_storage(); }

void fail(int exit_code, const std::string& message) {
  std::cerr << error_prefix() << message << "\n";
  throw CLI::RuntimeError(exit_code);
}

void fail(const vault::Status& status) { fail(exit_code_for(status.code()), status.message()); }

namespace {

// A credential file that cannot be used leaves the vault locked, unless the reason is its
// permissions, which have their own exit code.
[[noreturn]] void fail_credentials(const vault::Status& status) {
  const bool insecure = status.code() == vault::ErrorCode::kInsecurePermissions;
  fail(insecure ? kExitInsecure : kExitLocked, status.message());
}

}  // namespace

std::optional<vault::Credentials> unlock_credentials(bool interactive) {
  if (auto credentials = unattended_credentials(UnlockFallbacks::kNone)) {
    if (!credentials->is_ok()) fail_credentials(credentials->status());
    return std::move(*credentials).value();
  }
  if (!interactive) return std::nullopt;
  auto pass = prompt_no_echo("Vault passphrase: ");
  if (!pass) {
    fail(kExitLocked,
         std::string("the vault is locked and there is no terminal to ask for the passphrase: ") +
             kUnlockHelp);
  }
  if (pass->empty()) fail(kExitLocked, "empty passphrase; nothing was changed");
  return vault::Credentials::passphrase(std::move(*pass));
}

vault::Vault open_vault(const CommonOptions& options) {
  if (auto hardened = vault::harden_process(); !hardened.is_ok()) fail(hardened);
  const auto path = vault_path(options.vault_path);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    fail(kExitNotFound, "no vault at " + path.string() +
                            "; create one with `keyhold vault init` or pass --vault PATH");
  }
  auto credentials = unlock_credentials(true);
  auto opened = vault::Vault::open(path, *credentials);
  if (!opened.is_ok()) fail(opened.status());
  return std::move(opened).value();
}

vault::KdfParams kdf_for_new_passphrase() {
  const char* fast = env("KEYHOLD_VAULT_INSECURE_FAST_KDF");
  if (fast != nullptr && std::strcmp(fast, "1") == 0) {
    std::cerr << error_prefix()
              << "warning: KEYHOLD_VAULT_INSECURE_FAST_KDF=1 uses minimal "
                 "Argon2id limits; for tests only\n";
    return vault::KdfParams::minimum_for_tests();
  }
  return vault::KdfParams::moderate();
}

vault::SecretBuffer prompt_new_passphrase(const char* what) {
  auto first = prompt_no_echo(std::string("Enter ") + what + ": ");
  if (!first) {
    fail(kExitLocked, std::string("no terminal to ask for the ") + what +
                          ": set KEYHOLD_PASSPHRASE_FILE=PATH, or use a keyfile");
  }
  if (first->empty()) fail(kExitUsage, "the passphrase cannot be empty");
  auto second = prompt_no_echo(std::string("Repeat ") + what + ": ");
  if (!second || !second->equals(*first)) fail(kExitUsage, "the passphrases do not match");
  return std::move(*first);
}

vault::SecretBuffer read_value(const ValueSource& source, const std::string& secret_name) {
  if (!source.from_file.empty() && !source.from_env.empty()) {
    fail(kExitUsage, "give at most one of --from-file and --from-env (or pipe the value on stdin)");
  }
  if (!source.from_file.empty()) {
    auto value = vault::read_file_secret(source.from_file);
    if (!value.is_ok()) fail(value.status());
    return std::move(value).value();
  }
  if (!source.from_env.empty()) {
    const char* value = std::getenv(source.from_env.c_str());
    if (value == nullptr) {
      fail(kExitUsage, "environment variable " + source.from_env + " is not set");
    }
    return vault::SecretBuffer::copy_of(std::string_view(value));
  }
  if (::isatty(STDIN_FILENO)) {
    auto value = prompt_no_echo("Value for " + secret_name + ": ");
    if (!value) fail(kExitUsage, "no value: pipe it on stdin, or use --from-file / --from-env");
    return std::move(*value);
  }
  vault::SecretBuffer buffer(4096);
  std::size_t used = 0;
  for (;;) {
    if (used == buffer.size()) {
      vault::SecretBuffer bigger(buffer.size() * 2);
      std::memcpy(bigger.data(), buffer.data(), used);
      buffer = std::move(bigger);
    }
    const ssize_t n = ::read(STDIN_FILENO, buffer.data() + used, buffer.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(kExitError, std::string("cannot read stdin: ") + std::strerror(errno));
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  buffer.truncate(used);
  return buffer;
}

vault::AuditContext cli_actor() {
  const uid_t uid = ::getuid();
  std::string user = "?";
  struct passwd pw {};
  struct passwd* found = nullptr;
  char scratch[1024];
  if (::getpwuid_r(uid, &pw, scratch, sizeof scratch, &found) == 0 && found != nullptr) {
    user = found->pw_name;
  }
  unsigned char id[8];
  randombytes_buf(id, sizeof id);
  char hex[sizeof id * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, id, sizeof id);
  return vault::AuditContext{"cli:" + user + "(uid=" + std::to_string(uid) + ")", hex};
}

std::string format_time(vault::UnixSeconds t) {
  return keyhold::sdk::iso8601_utc(static_cast<std::int64_t>(t));
}

std::optional<vault::UnixSeconds> parse_since(const std::string& text, vault::UnixSeconds now) {
  if (auto ago = vault::parse_duration(text)) return now - *ago;
  vault::UnixSeconds t = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), t);
  if (ec == std::errc() && ptr == text.data() + text.size() && t >= 0) return t;
  return std::nullopt;
}

void refuse_unless_token_record(const std::string& name, std::span<const std::uint8_t> value) {
  if (!name.starts_with(secrets::kOAuthRecordPrefix)) return;
  const std::string provider = name.substr(secrets::kOAuthRecordPrefix.size());
  if (oauth::TokenRecord::from_secret(value, provider).is_ok()) return;
  fail(kExitUsage, "'" + name + "' is reserved for the OAuth tokens `keyhold oauth login " +
                       provider +
                       "` stores, and this value is not such a record; sign in with that "
                       "command (or store the token under another name and map it as vault:)");
}

}  // namespace keyhold::cli::vault_cli
