#pragma once
// The redactor: finds known secret values (and their encoded forms) and credential
// formats in text bound for the outside, and replaces them with markers such as
// [REDACTED:db-password] or [REDACTED:rule:aws-access-key].
//
// Matching runs on Hyperscan: one literal database for the values of every secret the
// host can release (raw and every form of encoded_forms.hpp: base64 and base64url at each
// alignment, hex, percent-encodings, JSON string escapes), one regex database for the
// credential rules. Hyperscan reports every pattern id with its start
// and end offsets in one pass, whatever the number of secrets, which a regex set engine
// such as RE2::Set (ids only, no offsets) cannot.
//
// Thread-safe: scans run concurrently; set_secrets swaps the literal database atomically
// (a scan sees the old set or the new one).
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "keyhold/vault/secret_buffer.hpp"
#include "secrets/credential_rules.hpp"
#include "secrets/encoded_forms.hpp"

namespace keyhold::secrets {

// Values shorter than this are not matched: they would redact ordinary words.
inline constexpr std::size_t kMinSecretBytes = 8;

struct KnownSecret {
  std::string label;  // what the marker names, e.g. the alias "db-password"
  vault::SecretBuffer value;
};

struct Finding {
  std::size_t begin = 0;
  std::size_t end = 0;  // one past the last byte
  std::string label;    // secret label, or rule id
  bool is_rule = false;

  std::string marker() const { return "[REDACTED:" + (is_rule ? "rule:" + label : label) + "]"; }
};

class Redactor {
 public:
  // Compiles the rules. kInvalidArgument "credential rule '<id>': <hyperscan error>" on
  // failure.
  static Result<std::shared_ptr<Redactor>> create(const std::vector<CredentialRule>& rules);
  ~Redactor();

  // Replaces the set of known values. Values under kMinSecretBytes are skipped. An error
  // (the previous set stays in force) when the database cannot be built.
  Status set_secrets(const std::vector<KnownSecret>& secrets);
  std::size_t secret_pattern_count() const;
  // The length of the longest literal pattern (value or encoded form); 0 when none.
  std::size_t longest_secret_pattern() const;

  // Every finding in text, sorted by position, overlaps merged (the longer one names it).
  std::vector<Finding> scan(std::string_view text) const;
  // text with every finding replaced by its marker. Returns true when anything changed.
  bool redact(std::string& text) const;
  std::string redacted(std::string_view text) const;
  // Redacts every string (and object key) inside value. Returns true when anything changed.
  bool redact_json(nlohmann::json& value) const;

  struct Database;  // a compiled Hyperscan database with its scratch pool (internal)

  // True when the rule databases came precompiled from the build (the shipped rules,
  // accepted by this libhs and CPU) rather than compiled at create().
  bool uses_precompiled_rules() const { return precompiled_; }

 private:
  bool redact_blob(std::string& blob) const;

 private:
  Redactor() = default;
  // The rule database the scan needs where matches start.
  std::shared_ptr<Database> rule_positions() const;

  std::vector<CredentialRule> rules_;
  // Rules are scanned twice only when something matches: rule_detect_db_ (compiled
  // without start-of-match tracking, which is what makes Hyperscan slow) says whether any
  // rule matches; only then rule_db_ (with leftmost starts, compiled on first need)
  // finds where.
  std::shared_ptr<Database> rule_detect_db_;
  bool precompiled_ = false;
  mutable std::once_flag rule_db_once_;
  mutable std::shared_ptr<Database> rule_db_;
  mutable std::mutex mutex_;  // guards secret_db_ (the pointer, not the database)
  std::shared_ptr<Database> secret_db_;
  std::size_t longest_pattern_ = 0;
};

// Makes the next `count` scans fail as if Hyperscan had (tests only): the redactor must
// then replace the whole text with [REDACTED:rule:unscanned] rather than let it leave.
void fail_scans_for_testing(int count);

}  // namespace keyhold::secrets
