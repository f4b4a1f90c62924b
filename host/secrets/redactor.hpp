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
// Thread-safe: scans run concurrently; set_secrets swaps the literal databases atomically
// (a scan sees the old set or the new one).
//
// Values are matched by two literal databases: a base compiled from a whole set, and a
// small delta of the values added since. Compiling the base costs about 35 us per pattern
// (400 ms at 1,000 secrets), the delta only what was added, so a new value (an OAuth
// refresh, a rotation, a `vault set` while serving) is known within a millisecond or two
// instead of stalling the call that brought it. rebuild() folds the delta into a new base
// off the calling path (the RedactionRefresher's thread does it), and drops values no
// longer given (until then they stay redacted, which is safe).
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "base/mutex.hpp"
#include "keyhold/vault/secret_buffer.hpp"
#include "secrets/credential_rules.hpp"
#include "secrets/encoded_forms.hpp"
#include "secrets/rule_tail.hpp"

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

// One match of a credential rule: the rule's index, where it starts (leftmost) and ends.
struct RuleMatch {
  unsigned rule;
  std::size_t from, to;
  bool operator==(const RuleMatch&) const = default;
};

class Redactor {
 public:
  // Compiles the rules. kInvalidArgument "credential rule '<id>': <hyperscan error>" on
  // failure.
  static Result<std::shared_ptr<Redactor>> create(const std::vector<CredentialRule>& rules);
  ~Redactor();

  // Replaces the set of known values: when it returns, every value of secrets (and every
  // encoded form) is matched. Values under kMinSecretBytes are skipped. Values not seen
  // before go to the delta database while it stays small (at most a quarter of the base and
  // kMaxDeltaValues); otherwise, and
  // at the first call, the base is compiled from the whole set. Values no longer in
  // secrets stay matched until rebuild(). An error (the previous set stays in force) when
  // a database cannot be built.
  Status set_secrets(const std::vector<KnownSecret>& secrets);
  // True when rebuild() would change something: a delta is in use, or the base still
  // matches values that set_secrets no longer gives.
  bool wants_rebuild() const;
  // Compiles a new base from secrets (the current set, read by the caller), without
  // blocking scans or set_secrets, then swaps it in. Values that set_secrets added while
  // it compiled stay in the delta. With no set_secrets meanwhile, secrets becomes the set
  // given (a set that changed without set_secrets, say by a grant's expiry, settles).
  Status rebuild(const std::vector<KnownSecret>& secrets);
  // Literal patterns in force (base and delta).
  std::size_t secret_pattern_count() const;
  std::size_t delta_pattern_count() const;
  // The length of the longest literal pattern (value or encoded form); 0 when none.
  std::size_t longest_secret_pattern() const;

  // Every finding in text, sorted by position, overlaps merged (the longer one names it).
  std::vector<Finding> scan(std::string_view text) const;
  // Where to split text into pieces redacted one at a time: `cut`, or the start of the
  // finding it would fall inside, or that finding's end when it starts the text (never
  // splitting what scan(text) finds; never 0 for a cut > 0). A stream's last
  // longest_secret_pattern() bytes may begin a value still to come: the caller holds
  // those back before asking.
  std::size_t cut_outside_findings(std::string_view text, std::size_t cut) const;
  // text with every finding replaced by its marker. Returns true when anything changed.
  bool redact(std::string& text) const;
  std::string redacted(std::string_view text) const;
  // Redacts every string (and object key) inside value, as redact() would each one alone.
  // Returns true when anything changed.
  bool redact_json(nlohmann::json& value) const;

  // For the strings of a JSON value (each string and key, decoded, each followed by a
  // newline, in any order: rpc::JsonStrings), none of them a "blob" member's: false when
  // redact_json would change nothing in the value, so its text may leave as it is, with no
  // tree built; true when it may, or when that cannot be told (then parse it and use
  // redact_json). False only when no rule is anchored (strings_together_: the newlines
  // stand between the strings as in redact_json's own joined text) and no secret value or
  // encoded form, and no credential rule, matches anywhere in strings (a rule's keyword and
  // entropy checks not applied: a superset of what redact_json finds in each string). A
  // scan that fails answers true.
  bool may_change_json_strings(std::string_view strings) const;

  // Loads what locating credential-rule matches needs (the first scan that finds one
  // does it otherwise): about 15 ms, better spent off a call's path.
  void prepare_rule_positions() const {
    if (rule_detect_db_) rule_positions();
  }

  struct Database;  // a compiled Hyperscan database with its scratch pool (internal)
  // How far before a match's end its start can lie (internal): at most width bytes, or
  // when that is more than a window, as the rule's head and tail say (no tail: anywhere).
  struct RuleReach {
    std::size_t width = SIZE_MAX;  // the rule's longest match; SIZE_MAX: unbounded
    std::optional<RuleTail> tail;
  };

  // True when the rule databases came precompiled from the build (the shipped rules,
  // accepted by this libhs and CPU) rather than compiled at create().
  bool uses_precompiled_rules() const { return precompiled_; }

 private:
  bool redact_blob(std::string& blob) const;
  // redact_json one string at a time (the reference; and rules with anchors).
  bool redact_json_each(nlohmann::json& value) const;

 private:
  Redactor() = default;
  // The rule database the scan needs where matches start (and each rule's reach,
  // rule_reaches_, computed with it).
  std::shared_ptr<Database> rule_positions() const;
  // Where the rules match in text: every match (id = the rule's index) with its leftmost
  // start, as one scan of the whole text with rule_positions() finds them; nothing when
  // the scans could not run (fail closed).
  std::optional<std::vector<RuleMatch>> locate_rules(std::string_view text) const;

  std::vector<CredentialRule> rules_;
  // No rule is anchored, so redact_json may scan all the strings of a value as one text.
  bool strings_together_ = false;
  // Rules are scanned twice only when something matches: rule_detect_db_ (compiled
  // without start-of-match tracking, which is what makes Hyperscan slow) says where
  // matches end; only then rule_db_ (with leftmost starts: the shipped rules' loaded on
  // first need, any other rules' compiled by create()) finds
  // where they start, in windows that end at those ends and reach back as far as a match
  // of the rule can (its longest match when at most kRuleWindow; else its head's longest
  // before the run of tail bytes that ends there), and over the whole text when a window
  // may not hold a match's start.
  std::shared_ptr<Database> rule_detect_db_;
  bool precompiled_ = false;
  mutable std::once_flag rule_db_once_;
  mutable std::shared_ptr<Database> rule_db_;
  mutable std::vector<RuleReach> rule_reaches_;  // by rule

  // What a database was compiled from: a keyed BLAKE2b digest of (label, value) per value,
  // never the value.
  using Digest = std::array<std::uint8_t, 32>;
  struct DigestHash {
    std::size_t operator()(const Digest& d) const noexcept;
  };
  using DigestSet = std::unordered_set<Digest, DigestHash>;
  Digest digest(const KnownSecret& secret) const;
  // Swaps in base (when not null) and delta under mutex_.
  void publish(std::shared_ptr<Database> base, std::size_t base_longest,
               std::shared_ptr<Database> delta, std::size_t delta_longest, bool replace_base);

  // Past this many values in the delta, set_secrets compiles a whole new base instead.
  static constexpr std::size_t kMaxDeltaValues = 64;

  std::array<unsigned char, 32> digest_key_{};  // random per redactor
  // Serialises set_secrets and rebuild's bookkeeping (never held while a base compiles).
  mutable Mutex update_mutex_;
  bool built_ KH_GUARDED_BY(update_mutex_) = false;  // a base was compiled once
  DigestSet current_ KH_GUARDED_BY(update_mutex_);   // the values last given
  DigestSet in_base_ KH_GUARDED_BY(update_mutex_);   // what the base matches
  // The values only the delta matches (copies in guarded memory), and their digests.
  std::vector<KnownSecret> delta_ KH_GUARDED_BY(update_mutex_);
  DigestSet in_delta_ KH_GUARDED_BY(update_mutex_);
  std::uint64_t updates_ KH_GUARDED_BY(update_mutex_) = 0;  // set_secrets calls
  // updates_ when a rebuild was last discarded (its set lacked a value given since).
  std::uint64_t discarded_at_ KH_GUARDED_BY(update_mutex_) = ~std::uint64_t{0};

  mutable std::mutex mutex_;  // guards the pointers below (not the databases)
  std::shared_ptr<Database> base_db_;
  std::shared_ptr<Database> delta_db_;
  std::size_t base_longest_ = 0;
  std::size_t delta_longest_ = 0;
};

// Where credential rules are located, leftmost starts: in windows around the ends that
// the fast scan reports (the default), or by one scan of the whole text (tests compare
// the two; not thread-safe).
void locate_rules_in_windows_for_testing(bool windows);
// redact_json scans all strings of a value as one text (the default), or each alone
// (tests compare the two; not thread-safe).
void scan_json_strings_together_for_testing(bool together);

// Makes the next `count` scans fail as if Hyperscan had (tests only): the redactor must
// then replace the whole text with [REDACTED:rule:unscanned] rather than let it leave.
void fail_scans_for_testing(int count);
// Runs hook inside every rebuild() after its compile and before its swap, as a set_secrets
// on another thread would (tests only; not thread-safe; an empty hook removes it).
void run_during_rebuild_for_testing(std::function<void()> hook);

}  // namespace keyhold::secrets
