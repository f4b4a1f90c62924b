// Redactor benchmark: prints figures and PASS/MISS against the target of issue 4
// (1 MiB tool result, 1,000 live secrets, full rule set: >= 500 MB/s). Usage:
//   redactor_bench [--secrets N]... [--mib M] [--no-header] [--no-rules] [--no-rule-samples]
// --no-rule-samples plants only the secret values: the common case of a result with no
// credential look-alike, where the rule scan never needs match starts.
// For each N (default 10 1000 10000) it times set_secrets with N random values, then
// redacts a generated JSON tool result (issue-tracker records with a few live secrets,
// encoded forms and credential-rule hits planted in it) as one text block and as a parsed
// JSON value (redact_json, one call per string). Exits 1 only when a planted secret or
// rule sample survives redaction, or the redactor cannot be built.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "secrets/redactor.hpp"

namespace ks = keyhold::secrets;
using Clock = std::chrono::steady_clock;
using keyhold::vault::SecretBuffer;

namespace {

constexpr double kTargetMBps = 500;  // issue 4, at 1,000 secrets
constexpr std::size_t kTargetSecrets = 1000;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string random_token(std::mt19937_64& rng, std::size_t length) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::uniform_int_distribution<std::size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string out;
  for (std::size_t i = 0; i < length; ++i) out += kAlphabet[pick(rng)];
  return out;
}

std::string hex(std::mt19937_64& rng, std::size_t length) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < length; ++i) out += kHex[rng() & 15];
  return out;
}

// Credential-rule samples planted in the tool result; all fake.
const std::vector<std::string>& rule_samples() {
  static const std::vector<std::string> samples = {
      "AKIAQX7TESTFAKE4KEYZ",  // fake example
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmYWtlLWV4YW1wbGUifQ.FAKE0123456789EXAMPLEsignature",
      "postgres://app:FAKE-example-0123@db.internal:5432/app",
      "ghp_FAKE0123456789abcdefghijklmnopqrstuvwxyzAB",  // fake example
      "password=FakeExample0123",
      "xoxb-0123456789-0123456789012-FAKEexampleABCDEFGHIJKLM",
  };
  return samples;
}

// A JSON array of issue-like records, about `bytes` long, with `planted` strings spread
// evenly through the "body" fields.
std::string tool_result(std::size_t bytes, const std::vector<std::string>& planted) {
  static const char* kWords[] = {
      "the",     "request", "fails",   "when",   "token",    "cache",  "expires", "after",
      "retry",   "server",  "returns", "error",  "timeout",  "config", "update",  "user",
      "session", "login",   "page",    "with",   "password", "reset",  "email",   "link",
      "build",   "deploy",  "test",    "branch", "merge",    "review", "latency", "p99"};
  std::mt19937_64 rng(42);
  std::string out = "[";
  std::size_t next_plant = 0;
  const std::size_t stride = planted.empty() ? bytes : bytes / (planted.size() + 1);
  for (int id = 1; out.size() < bytes; ++id) {
    std::string body;
    for (int w = 0; w < 60; ++w) {
      body += kWords[rng() % (sizeof(kWords) / sizeof(kWords[0]))];
      body += w % 12 == 11 ? ". " : " ";
    }
    if (next_plant < planted.size() && out.size() >= stride * (next_plant + 1))
      body += "see " + planted[next_plant++] + " ";
    out += id == 1 ? "" : ",";
    out += R"({"id":)" + std::to_string(id) + R"(,"node_id":"I_kwDO)" + random_token(rng, 12) +
           R"(","title":"Issue )" + std::to_string(id) + R"(: )" + kWords[rng() % 32] +
           R"( fails","url":"https://api.github.com/repos/acme/widgets/issues/)" +
           std::to_string(id) + R"(","sha":")" + hex(rng, 40) +
           R"(","created_at":"2026-11-20T10:31:07Z","labels":["bug","auth"],"body":")" + body +
           R"("})";
  }
  out += "]";
  return out;
}

struct Timing {
  double median_seconds = 0;
  int runs = 0;
};

// Runs fn until at least min_seconds have passed (and at least 5 times); median run time.
template <typename Fn>
Timing measure(Fn&& fn, double min_seconds) {
  fn();  // warm up: scratch allocation, page faults
  std::vector<double> runs;
  const auto start = Clock::now();
  while (runs.size() < 5 || (seconds_since(start) < min_seconds && runs.size() < 1000)) {
    const auto t = Clock::now();
    fn();
    runs.push_back(seconds_since(t));
  }
  std::sort(runs.begin(), runs.end());
  return {runs[runs.size() / 2], static_cast<int>(runs.size())};
}

std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1))
    ++n;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::size_t> sizes;
  double mib = 1;
  bool header = true;
  bool with_rules = true;  // --no-rules: the secret-value database alone, for comparison
  bool rule_samples_planted = true;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--secrets") == 0 && i + 1 < argc) {
      sizes.push_back(std::strtoull(argv[++i], nullptr, 10));
    } else if (std::strcmp(argv[i], "--no-rules") == 0) {
      with_rules = false;
    } else if (std::strcmp(argv[i], "--no-rule-samples") == 0) {
      rule_samples_planted = false;
    } else if (std::strcmp(argv[i], "--no-header") == 0) {
      header = false;
    } else if (std::strcmp(argv[i], "--mib") == 0 && i + 1 < argc) {
      mib = std::strtod(argv[++i], nullptr);
    } else {
      std::fprintf(stderr,
                   "usage: redactor_bench [--secrets N]... [--mib M] [--no-header] [--no-rules] "
                   "[--no-rule-samples]\n");
      return 2;
    }
  }
  if (sizes.empty()) sizes = {10, 1000, 10000};

  const auto create_start = Clock::now();
  auto created = ks::Redactor::create(with_rules ? ks::builtin_credential_rules()
                                                 : std::vector<ks::CredentialRule>{});
  const double create_ms = seconds_since(create_start) * 1e3;
  if (!created.is_ok()) {
    std::fprintf(stderr, "cannot build the redactor: %s\n", created.status().message().c_str());
    return 1;
  }
  const std::shared_ptr<ks::Redactor> redactor = std::move(created).value();
  if (header) {
    std::printf(
        "tool result: %.2f MB of JSON text (issue records) with 3 live values (one raw, two "
        "encoded) "
        "and %zu rule samples planted; scan = find only, redact = copy + find + replace of the "
        "text, redact_json = every string of the parsed value (its copy subtracted); median "
        "of >= 5 runs and >= 1 s each\n",
        static_cast<double>(tool_result(static_cast<std::size_t>(mib * 1024 * 1024), {}).size()) /
            1e6,
        with_rules && rule_samples_planted ? rule_samples().size() : std::size_t{0});
    std::printf("target (issue 4): redact >= %.0f MB/s at %zu secrets\n", kTargetMBps,
                kTargetSecrets);
  }
  if (header) {
    std::printf("rule set: %zu credential rules, compiled in %.1f ms\n",
                with_rules ? ks::builtin_credential_rules().size() : 0, create_ms);
    std::printf("%8s %9s %15s %12s %12s %17s %8s\n", "secrets", "patterns", "set_secrets ms",
                "scan MB/s", "redact MB/s", "redact_json MB/s", "target");
  }

  bool all_redacted = true;
  bool target_met = false;
  std::mt19937_64 rng(7);
  std::vector<double> small_us;           // redact_json of one echo result, per size
  double added_ms = -1, rebuild_ms = -1;  // one new value at kTargetSecrets
  for (std::size_t n : sizes) {
    // N live values, 32 random characters each, like generated API keys and passwords.
    std::vector<std::string> values;
    std::vector<ks::KnownSecret> secrets;
    for (std::size_t i = 0; i < n; ++i) {
      values.push_back("FAKE" + random_token(rng, 28));
      secrets.push_back({"secret-" + std::to_string(i), SecretBuffer::copy_of(values.back())});
    }
    const auto set_start = Clock::now();
    if (auto known = redactor->set_secrets(secrets); !known.is_ok()) {
      std::fprintf(stderr, "set_secrets(%zu): %s\n", n, known.message().c_str());
      return 1;
    }
    const double set_ms = seconds_since(set_start) * 1e3;
    // A smaller set after a larger one goes to the delta; measure this set alone.
    if (redactor->wants_rebuild() && !redactor->rebuild(secrets).is_ok()) return 1;
    if (n == kTargetSecrets) {
      // One new value while serving (an OAuth refresh, a rotation): what the call that
      // brings it waits for, and the whole compile that follows off its path.
      secrets.push_back({"secret-new", SecretBuffer::copy_of("FAKE" + random_token(rng, 28))});
      const auto add_start = Clock::now();
      if (!redactor->set_secrets(secrets).is_ok()) return 1;
      added_ms = seconds_since(add_start) * 1e3;
      const auto rebuild_start = Clock::now();
      if (!redactor->rebuild(secrets).is_ok()) return 1;
      rebuild_ms = seconds_since(rebuild_start) * 1e3;
      secrets.pop_back();
      if (!redactor->set_secrets(secrets).is_ok() || !redactor->rebuild(secrets).is_ok()) return 1;
    }

    // Plant three live values (one raw, two in encoded forms) and the rule samples.
    std::vector<std::string> planted;
    for (std::size_t k = 0; k < 3 && k < n; ++k) {
      const std::string& v = values[k * (n / 3)];
      auto forms = ks::encoded_forms(v);
      planted.push_back(k == 0 ? v : forms[k % forms.size()]);
    }
    if (with_rules && rule_samples_planted)
      for (const auto& s : rule_samples()) planted.push_back(s);
    const std::string text = tool_result(static_cast<std::size_t>(mib * 1024 * 1024), planted);
    const double megabytes = static_cast<double>(text.size()) / 1e6;

    // Correctness first: nothing planted survives, each plant leaves a marker.
    const std::string out = redactor->redacted(text);
    for (const auto& p : planted) {
      if (out.find(p) != std::string::npos) {
        std::fprintf(stderr, "planted sample survived redaction (N=%zu)\n", n);
        all_redacted = false;
      }
    }
    if (count(out, "[REDACTED:") != planted.size()) {
      std::fprintf(stderr, "N=%zu: %zu markers for %zu planted samples\n", n,
                   count(out, "[REDACTED:"), planted.size());
      all_redacted = false;
    }

    const Timing scan = measure([&] { return redactor->scan(text).size(); }, 1.0);
    const Timing redact = measure(
        [&] {
          std::string copy = text;
          redactor->redact(copy);
        },
        1.0);
    const nlohmann::json parsed = nlohmann::json::parse(text);
    const Timing redact_json = measure(
        [&] {
          nlohmann::json copy = parsed;
          redactor->redact_json(copy);
        },
        1.0);
    // The JSON figure includes copying the parsed value; time that alone and subtract it.
    const Timing json_copy = measure([&] { nlohmann::json copy = parsed; }, 0.5);
    const double json_seconds =
        std::max(redact_json.median_seconds - json_copy.median_seconds, 1e-9);

    const double redact_mbps = megabytes / redact.median_seconds;
    const bool is_target_size = n == kTargetSecrets;
    if (is_target_size) target_met = redact_mbps >= kTargetMBps;
    std::printf("%8zu %9zu %15.2f %12.0f %12.0f %17.0f %8s\n", n, redactor->secret_pattern_count(),
                set_ms, megabytes / scan.median_seconds, redact_mbps, megabytes / json_seconds,
                is_target_size ? (target_met ? "PASS" : "MISS") : "");
    // What redaction adds to one small round trip: the result of the echo fixture's tool
    // as the session redacts it (redact_json of the whole result, copy subtracted).
    const nlohmann::json echo_result = {
        {"content", {{{"type", "text"}, {"text", "hello from the stdio bench, call 12345"}}}},
        {"structuredContent", {{"echo", "hello from the stdio bench, call 12345"}}},
        {"isError", false}};
    const Timing small = measure(
        [&] {
          nlohmann::json copy = echo_result;
          redactor->redact_json(copy);
        },
        0.5);
    const Timing small_copy = measure([&] { nlohmann::json copy = echo_result; }, 0.3);
    small_us.push_back(std::max(small.median_seconds - small_copy.median_seconds, 0.0) * 1e6);
  }
  // The stdio bench's keyhold p50 round trip (bench/README.md, echo tool): 38.5 us.
  constexpr double kEchoRoundTripUs = 38.5;
  std::printf("\nredact_json of one echo tool result, against the %.1f us p50 echo round trip:",
              kEchoRoundTripUs);
  for (std::size_t i = 0; i < small_us.size(); ++i)
    std::printf(" %zu secrets %.2f us (%.1f%%);", sizes[i], small_us[i],
                100 * small_us[i] / kEchoRoundTripUs);
  std::printf(" target (issue 4): <= 10%%\n");
  if (added_ms >= 0)
    std::printf(
        "one new value at %zu secrets: set_secrets %.2f ms (delta database, on the calling "
        "path), rebuild %.2f ms (whole set, on the refresher's thread)\n",
        kTargetSecrets, added_ms, rebuild_ms);
  return all_redacted ? 0 : 1;
}
