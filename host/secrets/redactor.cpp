#include "secrets/redactor.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <optional>

#include <hs/hs.h>
#include <sodium.h>

#include <keyhold/sdk/base64.hpp>

#include "secrets/precompiled_rules.hpp"
#include "secrets/rule_expressions.hpp"
#include "secrets/rule_tail.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace keyhold::secrets {

// A compiled database, the labels of its pattern ids, and a pool of scratch spaces (one
// per concurrent scan; Hyperscan scratch is not shareable between threads).
struct Redactor::Database {
  hs_database_t* db = nullptr;
  hs_scratch_t* prototype = nullptr;
  std::vector<std::string> labels;  // by pattern id (rule databases: the rule's index)
  std::mutex pool_mutex;
  std::vector<hs_scratch_t*> pool;

  ~Database() {
    for (auto* s : pool) hs_free_scratch(s);
    if (prototype != nullptr) hs_free_scratch(prototype);
    if (db != nullptr) hs_free_database(db);
  }
  hs_scratch_t* take() {
    std::lock_guard lock(pool_mutex);
    if (!pool.empty()) {
      hs_scratch_t* s = pool.back();
      pool.pop_back();
      return s;
    }
    hs_scratch_t* s = nullptr;
    return hs_clone_scratch(prototype, &s) == HS_SUCCESS ? s : nullptr;
  }
  void give_back(hs_scratch_t* s) {
    std::lock_guard lock(pool_mutex);
    pool.push_back(s);
  }
};

namespace {

std::string hyperscan_error(hs_compile_error_t* e) {
  std::string what = e != nullptr && e->message != nullptr ? e->message : "unknown error";
  if (e != nullptr) hs_free_compile_error(e);
  return what;
}

struct Match {
  unsigned id;
  std::size_t from, to;
};

int collect(unsigned int id, unsigned long long from, unsigned long long to, unsigned int,
            void* ctx) {
  static_cast<std::vector<Match>*>(ctx)->push_back(
      {id, static_cast<std::size_t>(from), static_cast<std::size_t>(to)});
  return 0;
}

std::atomic<int> g_failing_scans{0};
std::function<void()> g_during_rebuild;  // tests only: runs between compile and swap

// One hs_scan of text with db (not null) and one of its scratch spaces: Hyperscan's code,
// or nothing when the scan could not run (too long, no scratch space, a failure a test
// asked for): the caller must then fail closed.
std::optional<hs_error_t> scan_with(Redactor::Database* db, std::string_view text,
                                    match_event_handler on_match, void* ctx) {
  if (text.size() > UINT_MAX) return std::nullopt;  // hs_scan takes an unsigned length
  if (g_failing_scans.load() > 0 && g_failing_scans.fetch_sub(1) > 0) return std::nullopt;
  hs_scratch_t* scratch = db->take();
  if (scratch == nullptr) return std::nullopt;
  const hs_error_t rc =
      hs_scan(db->db, text.data(), static_cast<unsigned>(text.size()), 0, scratch, on_match, ctx);
  db->give_back(scratch);
  return rc;
}

// All matches of db in text (none when db is null: nothing to find), or nothing at all
// when the scan could not run (no scratch space, a Hyperscan error): the caller must then
// treat the whole text as a match (fail closed).
std::optional<std::vector<Match>> run(Redactor::Database* db, std::string_view text) {
  std::vector<Match> matches;
  if (db == nullptr || db->db == nullptr || text.empty()) return matches;
  const auto rc = scan_with(db, text, &collect, &matches);
  if (rc != HS_SUCCESS) return std::nullopt;
  return matches;
}

int stop_at_first(unsigned int, unsigned long long, unsigned long long, unsigned int, void* ctx) {
  *static_cast<bool*>(ctx) = true;
  return 1;  // terminates the scan
}

// Whether db matches anywhere in text (false when db is null), or nothing when the scan
// could not run (the caller fails closed).
std::optional<bool> matches_anywhere(Redactor::Database* db, std::string_view text) {
  if (db == nullptr || db->db == nullptr || text.empty()) return false;
  bool found = false;
  const auto rc = scan_with(db, text, &stop_at_first, &found);
  if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) return std::nullopt;
  return found;
}

Status alloc_scratch(Redactor::Database& db) {
  if (hs_alloc_scratch(db.db, &db.prototype) != HS_SUCCESS)
    return internal_error("cannot allocate Hyperscan scratch space");
  return Status::ok();
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

namespace {

void label_rules(Redactor::Database& db, const std::vector<CredentialRule>& rules) {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    db.labels.push_back(rules[i].id);
  }
}

// The build-time database of the shipped rules (secrets/precompiled_rules.hpp), or null
// when rules are not exactly the shipped ones or this libhs or CPU refuses the bytes
// (another Hyperscan version, a CPU without the instructions it was built for).
std::shared_ptr<Redactor::Database> load_precompiled(const std::vector<CredentialRule>& rules,
                                                     bool som) {
  if (rules != builtin_credential_rules()) return nullptr;
  const std::string_view bytes = som ? precompiled::positions() : precompiled::detect();
  auto db = std::make_shared<Redactor::Database>();
  if (hs_deserialize_database(bytes.data(), bytes.size(), &db->db) != HS_SUCCESS) {
    db->db = nullptr;
    return nullptr;
  }
  label_rules(*db, rules);
  if (!alloc_scratch(*db).is_ok()) return nullptr;
  return db;
}

// Compiles rules into one database; som: report where each match starts (slower scans).
Result<std::shared_ptr<Redactor::Database>> compile_rules(const std::vector<CredentialRule>& rules,
                                                          bool som) {
  auto db = std::make_shared<Redactor::Database>();
  label_rules(*db, rules);
  const RuleExpressions set = rule_expressions(rules, som);
  hs_compile_error_t* compile_error = nullptr;
  if (hs_compile_multi(set.expressions.data(), set.flags.data(), set.ids.data(),
                       static_cast<unsigned>(set.expressions.size()), HS_MODE_BLOCK, nullptr,
                       &db->db, &compile_error) != HS_SUCCESS) {
    const int bad = compile_error != nullptr ? compile_error->expression : -1;
    return invalid_argument("credential rule '" +
                            (bad >= 0 ? rules[static_cast<std::size_t>(bad)].id : "?") +
                            "': " + hyperscan_error(compile_error));
  }
  if (Status scratch = alloc_scratch(*db); !scratch.is_ok()) return scratch;
  return db;
}

// Rules whose matches are at most this long are located in windows around their ends.
constexpr std::size_t kRuleWindow = 4096;
// Past this many match ends in one text, the whole text is scanned for starts instead.
constexpr std::size_t kMaxRuleEnds = 4096;

bool g_rule_windows = true;   // tests only: false locates rules over the whole text
bool g_json_together = true;  // tests only: false scans each string of a JSON value alone

struct RuleEnd {
  unsigned rule;
  std::size_t to;
  auto operator<=>(const RuleEnd&) const = default;
};

int note_end(unsigned int id, unsigned long long, unsigned long long to, unsigned int, void* ctx) {
  auto* ends = static_cast<std::vector<RuleEnd>*>(ctx);
  if (ends->size() >= kMaxRuleEnds) return 1;  // terminates the scan
  ends->push_back({id, static_cast<std::size_t>(to)});
  return 0;
}

// Every end offset of every rule's matches in text, or nothing when the scan could not
// tell (no scratch, an error, or more than kMaxRuleEnds ends): the caller then scans
// without them.
std::optional<std::vector<RuleEnd>> rule_ends_in(Redactor::Database* detect,
                                                 std::string_view text) {
  std::vector<RuleEnd> ends;
  if (text.size() > UINT_MAX) return std::nullopt;  // hs_scan takes an unsigned length
  hs_scratch_t* scratch = detect->take();
  if (scratch == nullptr) return std::nullopt;
  const hs_error_t rc = hs_scan(detect->db, text.data(), static_cast<unsigned>(text.size()), 0,
                                scratch, &note_end, &ends);
  detect->give_back(scratch);
  if (rc != HS_SUCCESS) return std::nullopt;
  return ends;
}

// Each rule's reach: its longest match when that fits a window, else its head and tail
// (secrets/rule_tail.hpp) when the rule can be read so.
std::vector<Redactor::RuleReach> rule_reaches(const std::vector<CredentialRule>& rules) {
  const RuleExpressions set = rule_expressions(rules, true);
  std::vector<Redactor::RuleReach> reaches(rules.size());
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const std::size_t width = longest_match(rules[i].regex, set.flags[i]).value_or(SIZE_MAX);
    reaches[i].width = width;
    if (width > kRuleWindow) reaches[i].tail = rule_tail(rules[i].regex, set.flags[i], kRuleWindow);
  }
  return reaches;
}

}  // namespace

void locate_rules_in_windows_for_testing(bool windows) { g_rule_windows = windows; }
void scan_json_strings_together_for_testing(bool together) { g_json_together = together; }

namespace {

// Sorted by position, overlaps merged (the union; the first names it). Secrets before
// rules at the same start; then longer first.
std::vector<Finding> merged(std::vector<Finding> findings) {
  if (findings.size() < 2) return findings;
  std::sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.is_rule != b.is_rule) return !a.is_rule;
    return a.end > b.end;
  });
  std::vector<Finding> out;
  for (auto& f : findings) {
    if (!out.empty() && f.begin < out.back().end) {
      out.back().end = std::max(out.back().end, f.end);
      continue;
    }
    out.push_back(std::move(f));
  }
  return out;
}

// text with each finding (sorted, not overlapping) replaced by its marker; the old text is
// wiped. Returns true when anything changed.
bool replace_findings(std::string& text, const std::vector<Finding>& findings) {
  if (findings.empty()) return false;
  std::string out;
  out.reserve(text.size());
  std::size_t at = 0;
  for (const auto& f : findings) {
    out.append(text, at, f.begin - at);
    out += f.marker();
    at = f.end;
  }
  out.append(text, at, std::string::npos);
  sodium_memzero(text.data(), text.size());
  text = std::move(out);
  return true;
}

// True when regex uses an anchor outside a character class (^, $, \A, \z, \Z, \G):
// whether it matches then depends on where its text begins or ends, not only on the bytes
// around a match. Errs towards true on syntax it does not follow: \Q quoting, \c control
// escapes, a '[' inside a class (POSIX classes), any (? group but (?: (comments, inline
// flags such as extended mode).
bool anchored(std::string_view re) {
  bool in_class = false;
  for (std::size_t i = 0; i < re.size(); ++i) {
    const char c = re[i];
    if (c == '\\') {
      if (i + 1 < re.size() && (std::strchr("AzZGQc", re[i + 1]) != nullptr)) return true;
      ++i;
      continue;
    }
    if (in_class) {
      if (c == '[') return true;
      if (c == ']') in_class = false;
      continue;
    }
    if (c == '(' && i + 1 < re.size() && re[i + 1] == '?' &&
        (i + 2 >= re.size() || re[i + 2] != ':'))
      return true;
    if (c == '[') {
      in_class = true;
      if (i + 1 < re.size() && re[i + 1] == '^') ++i;
      if (i + 1 < re.size() && re[i + 1] == ']') ++i;  // a ']' first is a member
      continue;
    }
    if (c == '^' || c == '$') return true;
  }
  return false;
}

}  // namespace

Result<std::shared_ptr<Redactor>> Redactor::create(const std::vector<CredentialRule>& rules) {
  if (sodium_init() < 0) return internal_error("libsodium could not be initialised");
  std::shared_ptr<Redactor> redactor(new Redactor());
  randombytes_buf(redactor->digest_key_.data(), redactor->digest_key_.size());
  redactor->rules_ = rules;
  redactor->strings_together_ =
      std::none_of(rules.begin(), rules.end(), [](const auto& r) { return anchored(r.regex); });
  if (rules.empty()) return redactor;
  if (auto loaded = load_precompiled(rules, false)) {
    redactor->rule_detect_db_ = std::move(loaded);
    redactor->precompiled_ = true;
    return redactor;
  }
  auto compiled = compile_rules(rules, false);
  if (!compiled.is_ok()) return compiled.status();
  redactor->rule_detect_db_ = std::move(compiled).value();
  // Start tracking refuses some rules that compile without it (one that can match an
  // empty text at a word boundary, say): refused here, naming the rule, rather than at
  // the first text a rule matches.
  auto positions = compile_rules(rules, true);
  if (!positions.is_ok()) return positions.status();
  redactor->rule_db_ = std::move(positions).value();
  return redactor;
}

std::shared_ptr<Redactor::Database> Redactor::rule_positions() const {
  std::call_once(rule_db_once_, [this] {
    rule_reaches_ = rule_reaches(rules_);
    if (rule_db_) return;  // compiled by create()
    if (auto loaded = load_precompiled(rules_, true)) {
      rule_db_ = std::move(loaded);
      return;
    }
    auto compiled = compile_rules(rules_, true);
    // Only the shipped rules get here (create() compiled any others), and the build
    // compiled them with start tracking: this cannot fail short of memory; say so loudly
    // rather than redact less.
    if (!compiled.is_ok()) std::abort();
    rule_db_ = std::move(compiled).value();
  });
  return rule_db_;
}

std::optional<std::vector<RuleMatch>> Redactor::locate_rules(std::string_view text) const {
  std::vector<RuleMatch> located;
  Database* detect = rule_detect_db_.get();
  if (detect == nullptr || detect->db == nullptr || text.empty()) return located;
  // Where matches end: every end offset of every rule, unless there are too many.
  std::vector<RuleEnd> ends;
  bool whole = !g_rule_windows;
  if (!whole) {
    auto found = rule_ends_in(detect, text);
    if (found && found->empty()) return located;
    whole = !found;  // cannot tell where: look everywhere (run() fails closed past 4 GiB)
    if (found) ends = std::move(*found);
  }
  const std::shared_ptr<Database> db = rule_positions();
  if (!db) return std::nullopt;
  const auto from_whole_text = [&]() -> std::optional<std::vector<RuleMatch>> {
    auto matches = run(db.get(), text);
    if (!matches) return std::nullopt;
    std::vector<RuleMatch> all;
    for (const Match& m : *matches) all.push_back({m.id, m.from, m.to});
    return all;
  };
  // A window must hold every start of a match ending at its end, or its leftmost start
  // is not the text's: a longer match can begin before the window and end at the same
  // place (e.g. a private key whose header holds kilobytes). A text where a rule matches
  // whose reach is not known is scanned whole.
  whole = whole || std::any_of(ends.begin(), ends.end(), [&](const RuleEnd& e) {
            const RuleReach& reach = rule_reaches_[e.rule];
            return reach.width > kRuleWindow && !reach.tail;
          });
  if (whole) return from_whole_text();

  // Windows: each end with as much text before it as a match of its rule can take,
  // merged where they overlap. For a rule with a tail: its head's longest before the
  // run of tail bytes that ends there (where the last end of the same rule left off, when
  // the bytes between are tail bytes too: each byte is looked at about twice per rule).
  struct Window {
    std::size_t from, to;
  };
  std::vector<Window> windows;
  // By rule, then end (Hyperscan may report a rule's ends out of order: one with a
  // trailing assertion), so each end continues the walk of the one before it.
  std::sort(ends.begin(), ends.end());
  ends.erase(std::unique(ends.begin(), ends.end()), ends.end());
  const RuleEnd* last = nullptr;  // the end before, and where its run of tail bytes began
  std::size_t last_from = 0;
  for (const RuleEnd& e : ends) {
    const RuleReach& reach = rule_reaches_[e.rule];
    if (reach.width <= kRuleWindow) {
      windows.push_back({e.to > reach.width ? e.to - reach.width : 0, e.to});
      continue;
    }
    const RuleTail& tail = *reach.tail;
    const auto in_tail = [&](std::size_t at) {
      return tail.bytes.test(static_cast<unsigned char>(text[at]));
    };
    std::size_t k = last != nullptr && last->rule == e.rule ? last->to : e.to;
    while (k < e.to && in_tail(k)) ++k;
    std::size_t from = last_from;  // where the run of tail bytes ending at e.to begins
    if (last == nullptr || last->rule != e.rule || k < e.to) {
      from = e.to;
      while (from > 0 && in_tail(from - 1)) --from;
    }
    last = &e;
    last_from = from;
    windows.push_back({from > tail.head_width ? from - tail.head_width : 0, e.to});
  }
  std::sort(windows.begin(), windows.end(),
            [](const Window& a, const Window& b) { return a.from < b.from; });
  std::vector<Window> joined;
  for (const Window& w : windows) {
    if (!joined.empty() && w.from <= joined.back().to)
      joined.back().to = std::max(joined.back().to, w.to);
    else
      joined.push_back(w);
  }
  // Each window is scanned with one byte of context on either side, so \b, ^ and $ at
  // its edges see the text they see in a whole-text scan; a match starting in that
  // context byte did not fit in the window.
  std::vector<RuleMatch> found;
  for (const Window& w : joined) {
    const std::size_t base = w.from > 0 ? w.from - 1 : 0;
    const std::size_t end = std::min(text.size(), w.to + 1);
    auto matches = run(db.get(), text.substr(base, end - base));
    if (!matches) return std::nullopt;
    for (const Match& m : *matches) found.push_back({m.id, base + m.from, base + m.to});
  }
  std::sort(found.begin(), found.end(), [](const RuleMatch& a, const RuleMatch& b) {
    return a.rule != b.rule ? a.rule < b.rule : a.to < b.to;
  });
  // Every end the fast scan reported must be found in its window (every start of a match
  // ending there lies inside it); if one is not, the whole text is scanned.
  for (const RuleEnd& e : ends) {
    const auto it =
        std::lower_bound(found.begin(), found.end(), e, [](const RuleMatch& m, const RuleEnd& key) {
          return m.rule != key.rule ? m.rule < key.rule : m.to < key.to;
        });
    if (it == found.end() || it->rule != e.rule || it->to != e.to) return from_whole_text();
    located.push_back(*it);
  }
  return located;
}

Redactor::~Redactor() = default;

namespace {

// Compiles the values of secrets and all their encoded forms into one literal database;
// null when there are none. *longest: the longest pattern.
Result<std::shared_ptr<Redactor::Database>> compile_values(
    const std::vector<const KnownSecret*>& secrets, std::size_t* longest) {
  *longest = 0;
  // The literal patterns are derived secrets. They live in one guarded arena for the
  // compile call only (one sodium_malloc per pattern would exhaust the process's memory
  // mappings at a few thousand secrets).
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // (offset, length) in the arena
  std::vector<std::string> labels;
  std::size_t total = 0;
  std::vector<std::vector<std::string>> all_forms(secrets.size());
  for (std::size_t i = 0; i < secrets.size(); ++i) {
    all_forms[i] = encoded_forms(secrets[i]->value.view());
    total += secrets[i]->value.size();
    for (const auto& f : all_forms[i]) total += f.size();
  }
  if (total == 0) return std::shared_ptr<Redactor::Database>();
  vault::SecretBuffer arena(total);
  std::size_t at = 0;
  auto add = [&](std::string_view bytes, const std::string& label) {
    std::memcpy(arena.data() + at, bytes.data(), bytes.size());
    spans.emplace_back(at, bytes.size());
    labels.push_back(label);
    at += bytes.size();
    *longest = std::max(*longest, bytes.size());
  };
  for (std::size_t i = 0; i < secrets.size(); ++i) {
    add(secrets[i]->value.view(), secrets[i]->label);
    for (auto& form : all_forms[i]) {
      add(form, secrets[i]->label);
      sodium_memzero(form.data(), form.size());
    }
  }
  auto db = std::make_shared<Redactor::Database>();
  std::vector<const char*> expressions;
  std::vector<std::size_t> lengths;
  std::vector<unsigned> flags, ids;
  for (std::size_t i = 0; i < spans.size(); ++i) {
    expressions.push_back(reinterpret_cast<const char*>(arena.data() + spans[i].first));
    lengths.push_back(spans[i].second);
    flags.push_back(HS_FLAG_SOM_LEFTMOST);
    ids.push_back(static_cast<unsigned>(i));
  }
  hs_compile_error_t* compile_error = nullptr;
  if (hs_compile_lit_multi(expressions.data(), flags.data(), ids.data(), lengths.data(),
                           static_cast<unsigned>(expressions.size()), HS_MODE_BLOCK, nullptr,
                           &db->db, &compile_error) != HS_SUCCESS) {
    // The message is Hyperscan's and never quotes the pattern.
    return internal_error("cannot compile the secret value set: " + hyperscan_error(compile_error));
  }
  if (Status scratch = alloc_scratch(*db); !scratch.is_ok()) return scratch;
  db->labels = std::move(labels);
  return db;
}

}  // namespace

std::size_t Redactor::DigestHash::operator()(const Digest& d) const noexcept {
  std::size_t h;
  std::memcpy(&h, d.data(), sizeof h);  // the digest is already uniform
  return h;
}

Redactor::Digest Redactor::digest(const KnownSecret& secret) const {
  crypto_generichash_state state;
  crypto_generichash_init(&state, digest_key_.data(), digest_key_.size(), 32);
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(secret.label.data()),
                            secret.label.size() + 1);  // with its NUL: label and value apart
  crypto_generichash_update(&state, secret.value.data(), secret.value.size());
  Digest out;
  crypto_generichash_final(&state, out.data(), out.size());
  sodium_memzero(&state, sizeof state);
  return out;
}

void Redactor::publish(std::shared_ptr<Database> base, std::size_t base_longest,
                       std::shared_ptr<Database> delta, std::size_t delta_longest,
                       bool replace_base) {
  std::lock_guard lock(mutex_);
  if (replace_base) {
    base_db_ = std::move(base);
    base_longest_ = base_longest;
  }
  delta_db_ = std::move(delta);
  delta_longest_ = delta_longest;
}

Status Redactor::set_secrets(const std::vector<KnownSecret>& secrets) {
  MutexLock update(update_mutex_);
  ++updates_;
  DigestSet given;
  std::vector<const KnownSecret*> unique;  // one per (label, value)
  std::vector<const KnownSecret*> added;   // not matched by either database yet
  for (const auto& secret : secrets) {
    if (secret.value.size() < kMinSecretBytes) continue;
    const Digest d = digest(secret);
    if (!given.insert(d).second) continue;
    unique.push_back(&secret);
    if (!in_base_.contains(d) && !in_delta_.contains(d)) added.push_back(&secret);
  }
  // A delta pays off while it is small next to the base; past a quarter of it, compiling
  // the whole set costs about as much.
  const std::size_t delta_limit =
      std::min(kMaxDeltaValues, std::max<std::size_t>(4, in_base_.size() / 4));
  if (!built_ || delta_.size() + added.size() > delta_limit) {
    std::size_t longest = 0;
    auto compiled = compile_values(unique, &longest);
    if (!compiled.is_ok()) return compiled.status();
    built_ = true;
    in_base_ = given;
    current_ = std::move(given);
    delta_.clear();
    in_delta_.clear();
    publish(std::move(compiled).value(), longest, nullptr, 0, true);
    return Status::ok();
  }
  current_ = std::move(given);
  if (added.empty()) return Status::ok();
  std::vector<KnownSecret> next;
  std::vector<const KnownSecret*> pointers;
  next.reserve(delta_.size() + added.size());
  for (const auto& kept : delta_)
    next.push_back({kept.label, vault::SecretBuffer::copy_of(kept.value.view())});
  for (const auto* secret : added)
    next.push_back({secret->label, vault::SecretBuffer::copy_of(secret->value.view())});
  for (const auto& secret : next) pointers.push_back(&secret);
  std::size_t longest = 0;
  auto compiled = compile_values(pointers, &longest);
  if (!compiled.is_ok()) return compiled.status();
  for (const auto* secret : added) in_delta_.insert(digest(*secret));
  delta_ = std::move(next);
  publish(nullptr, 0, std::move(compiled).value(), longest, false);
  return Status::ok();
}

bool Redactor::wants_rebuild() const {
  MutexLock update(update_mutex_);
  if (discarded_at_ == updates_) return false;
  if (!delta_.empty()) return true;
  for (const Digest& d : in_base_)  // a loop, not a lambda: the lock analysis follows it
    if (!current_.contains(d)) return true;
  return false;
}

Status Redactor::rebuild(const std::vector<KnownSecret>& secrets) {
  std::uint64_t updates_before;
  {
    MutexLock update(update_mutex_);
    updates_before = updates_;
  }
  DigestSet snapshot;
  std::vector<const KnownSecret*> unique;
  for (const auto& secret : secrets) {
    if (secret.value.size() < kMinSecretBytes) continue;
    if (snapshot.insert(digest(secret)).second) unique.push_back(&secret);
  }
  std::size_t longest = 0;
  auto compiled = compile_values(unique, &longest);  // the slow part: no lock held
  if (!compiled.is_ok()) return compiled.status();
  if (g_during_rebuild) g_during_rebuild();

  MutexLock update(update_mutex_);
  // With set_secrets calls while the base compiled, the delta keeps what the new base does
  // not match (values they added). Without, the caller's set is the newest: what it lacks
  // was dropped.
  const bool moved = updates_ != updates_before;
  std::vector<KnownSecret> keep;
  DigestSet keep_digests;
  for (const auto& kept : delta_) {
    const Digest d = digest(kept);
    if (!moved || snapshot.contains(d)) continue;
    keep.push_back({kept.label, vault::SecretBuffer::copy_of(kept.value.view())});
    keep_digests.insert(d);
  }
  if (!moved) {
    // No set_secrets since the caller read its set: that set is the newest, and what the
    // new base matches is exactly what is given (so no rebuild is wanted after this one).
    current_ = snapshot;
  } else {
    // A value given since that neither the new base nor the delta would match (the set
    // moved under the caller's read, back to a value only the old base held): this base
    // is discarded. Not tried again before set_secrets is called again (the caller would
    // read the same set).
    for (const Digest& d : current_) {
      if (!snapshot.contains(d) && !keep_digests.contains(d)) {
        discarded_at_ = updates_;
        return Status::ok();
      }
    }
  }
  std::shared_ptr<Database> delta;
  std::size_t delta_longest = 0;
  if (keep.size() == delta_.size()) {
    std::lock_guard lock(mutex_);  // unchanged: the delta in force stays
    delta = delta_db_;
    delta_longest = delta_longest_;
  } else if (!keep.empty()) {
    std::vector<const KnownSecret*> pointers;
    for (const auto& secret : keep) pointers.push_back(&secret);
    auto recompiled = compile_values(pointers, &delta_longest);
    if (!recompiled.is_ok()) return recompiled.status();
    delta = std::move(recompiled).value();
  }
  in_base_ = std::move(snapshot);
  delta_ = std::move(keep);
  in_delta_ = std::move(keep_digests);
  publish(std::move(compiled).value(), longest, std::move(delta), delta_longest, true);
  return Status::ok();
}

std::size_t Redactor::cut_outside_findings(std::string_view text, std::size_t cut) const {
  cut = std::min(cut, text.size());
  // Sorted and disjoint (overlaps merged): at most one holds the cut. One that starts the
  // text (a credential rule's match may, merged with a value it overlaps) leaves whole.
  for (const Finding& f : scan(text))
    if (f.begin < cut && cut < f.end) return f.begin > 0 ? f.begin : f.end;
  return cut;
}

std::size_t Redactor::longest_secret_pattern() const {
  std::lock_guard lock(mutex_);
  return std::max(base_longest_, delta_longest_);
}

std::size_t Redactor::secret_pattern_count() const {
  std::lock_guard lock(mutex_);
  return (base_db_ ? base_db_->labels.size() : 0) + (delta_db_ ? delta_db_->labels.size() : 0);
}

std::size_t Redactor::delta_pattern_count() const {
  std::lock_guard lock(mutex_);
  return delta_db_ ? delta_db_->labels.size() : 0;
}

void fail_scans_for_testing(int count) { g_failing_scans = count; }

void run_during_rebuild_for_testing(std::function<void()> hook) {
  g_during_rebuild = std::move(hook);
}

std::vector<Finding> Redactor::scan(std::string_view text) const {
  std::shared_ptr<Database> base, delta;
  {
    std::lock_guard lock(mutex_);
    base = base_db_;
    delta = delta_db_;
  }
  // A text that could not be scanned is one finding from end to end: it never leaves.
  const std::vector<Finding> unscanned = {{0, text.size(), "unscanned", true}};
  std::vector<Finding> findings;
  for (Database* secrets : {base.get(), delta.get()}) {
    auto secret_matches = run(secrets, text);
    if (!secret_matches) return unscanned;
    for (const Match& m : *secret_matches)
      findings.push_back({m.from, m.to, secrets->labels[m.id], false});
  }
  auto located = locate_rules(text);
  if (!located) return unscanned;
  std::vector<RuleMatch>& rule_matches = *located;
  if (rule_matches.size() > 1) {
    // Hyperscan reports every end offset of an open-ended match; keep the longest per
    // (rule, start) so the checks below run once per match, not once per end offset.
    std::sort(rule_matches.begin(), rule_matches.end(), [](const RuleMatch& a, const RuleMatch& b) {
      return a.rule != b.rule ? a.rule < b.rule : a.from != b.from ? a.from < b.from : a.to > b.to;
    });
    rule_matches.erase(std::unique(rule_matches.begin(), rule_matches.end(),
                                   [](const RuleMatch& a, const RuleMatch& b) {
                                     return a.rule == b.rule && a.from == b.from;
                                   }),
                       rule_matches.end());
  }
  if (!rule_matches.empty()) {
    std::string lowered;  // computed once, only when some rule needs keywords
    for (const RuleMatch& m : rule_matches) {
      const CredentialRule& rule = rules_[m.rule];
      if (!rule.keywords.empty()) {
        if (lowered.empty()) lowered = lowercase(text);
        const bool any =
            std::any_of(rule.keywords.begin(), rule.keywords.end(),
                        [&](const auto& k) { return lowered.find(k) != std::string::npos; });
        if (!any) continue;
      }
      if (rule.min_entropy > 0 &&
          shannon_entropy(text.substr(m.from, m.to - m.from)) < rule.min_entropy)
        continue;
      findings.push_back({m.from, m.to, rule.id, true});
    }
  }
  return merged(std::move(findings));
}

bool Redactor::redact(std::string& text) const { return replace_findings(text, scan(text)); }

bool Redactor::redact_blob(std::string& blob) const {
  // A base64 blob (MCP binary content) is redacted at the level of its bytes and
  // re-encoded, so the result stays valid base64 that clients accept.
  // Canonical padded base64, the common case, decodes four characters at a time;
  // libsodium (constant time, several times slower) decodes the rest, line breaks and
  // spaces skipped. Both yield the same bytes where both accept. Every buffer that held
  // decoded bytes is wiped: they may be a secret.
  std::string decoded;
  if (!sdk::base64_decode_canonical(blob, decoded)) {
    sodium_memzero(decoded.data(), decoded.size());  // a partial decode
    decoded.assign(blob.size(), '\0');
    std::size_t decoded_size = 0;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(),
                          blob.data(), blob.size(), "\r\n ", &decoded_size, nullptr,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
      sodium_memzero(decoded.data(), decoded.size());
      return redact(blob);  // not base64 after all: treat it as text
    }
    decoded.resize(decoded_size);
  }
  const bool text_hit = !scan(blob).empty();
  const bool bytes_hit = redact(decoded);
  if (!bytes_hit && !text_hit) {
    sodium_memzero(decoded.data(), decoded.size());
    return false;
  }
  if (text_hit && !bytes_hit) {
    // The encoded text matched but the bytes did not (e.g. a secret's base64 form spans the
    // whole blob): the bytes are the secret itself, so replace them with the marker.
    sodium_memzero(decoded.data(), decoded.size());
    decoded = scan(blob).front().marker();
  }
  sodium_memzero(blob.data(), blob.size());
  blob = base64_encode(decoded, sodium_base64_VARIANT_ORIGINAL);
  sodium_memzero(decoded.data(), decoded.size());
  return true;
}

std::string Redactor::redacted(std::string_view text) const {
  std::string copy(text);
  redact(copy);
  return copy;
}

bool Redactor::redact_json_each(nlohmann::json& value) const {
  bool changed = false;
  if (value.is_string()) return redact(value.get_ref<std::string&>());
  if (value.is_array()) {
    for (auto& item : value) changed = redact_json_each(item) || changed;
    return changed;
  }
  if (!value.is_object()) return false;
  bool key_changed = false;
  for (auto& [key, item] : value.items()) {
    if (key == "blob" && item.is_string()) {
      changed = redact_blob(item.get_ref<std::string&>()) || changed;
      continue;
    }
    changed = redact_json_each(item) || changed;
    key_changed = key_changed || !scan(key).empty();
  }
  if (key_changed) {  // rare: rebuild the object with redacted keys
    nlohmann::json rebuilt = nlohmann::json::object();
    for (auto& [key, item] : value.items()) rebuilt[redacted(key)] = std::move(item);
    value = std::move(rebuilt);
  }
  return changed || key_changed;
}

bool Redactor::may_change_json_strings(std::string_view strings) const {
  if (!strings_together_ || !g_json_together) return true;  // anchored rules: per string
  std::shared_ptr<Database> base, delta;
  {
    std::lock_guard lock(mutex_);
    base = base_db_;
    delta = delta_db_;
  }
  // Any match at all, before a rule's keyword and entropy checks: redact_json finds
  // nothing only where this finds nothing (see the header).
  for (Database* db : {base.get(), delta.get(), rule_detect_db_.get()}) {
    const std::optional<bool> found = matches_anywhere(db, strings);
    if (!found || *found) return true;
  }
  return false;
}

bool Redactor::redact_json(nlohmann::json& value) const {
  if (!strings_together_ || !g_json_together) return redact_json_each(value);
  // Every string and key of value (a "blob" field's value is redact_blob's), in document
  // order; a key comes after the members inside its value.
  struct Piece {
    std::string* string = nullptr;     // a string value, or
    const std::string* key = nullptr;  // an object's key
  };
  std::vector<Piece> pieces;
  std::vector<std::string*> blobs;
  std::vector<nlohmann::json*> objects;  // each after every object inside it
  const auto collect = [&](auto& self, nlohmann::json& v) -> void {
    if (v.is_string()) {
      pieces.push_back({&v.get_ref<std::string&>()});
    } else if (v.is_array()) {
      for (auto& item : v) self(self, item);
    } else if (v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (it.key() == "blob" && it->is_string()) {
          blobs.push_back(&it->get_ref<std::string&>());
          continue;
        }
        self(self, *it);
        pieces.push_back({nullptr, &it.key()});
      }
      objects.push_back(&v);
    }
  };
  collect(collect, value);
  if (pieces.size() < 2) return redact_json_each(value);
  const auto text_of = [](const Piece& p) -> const std::string& {
    return p.string != nullptr ? *p.string : *p.key;
  };
  std::size_t total = 0;
  for (const Piece& p : pieces) total += text_of(p).size() + 1;
  if (total > UINT_MAX) return redact_json_each(value);  // hs_scan takes an unsigned length

  // One text: the pieces with a newline between them. Secret values are literals, so a
  // piece holds exactly the matches it holds alone. A rule matches inside a piece as it
  // does alone (a newline, like the end of a text, is not a word character, and no rule
  // is anchored: strings_together_), so every piece with a rule match alone has a rule
  // match end inside it here; only those pieces are scanned again, alone, for rules.
  // The buffer stays with the thread between messages (a fresh megabyte each time costs
  // its page faults), wiped after every use, and given back when it grew past 4 MiB.
  thread_local std::string all;
  std::vector<std::size_t> offsets;
  offsets.reserve(pieces.size());
  all.clear();
  all.reserve(total);
  for (const Piece& p : pieces) {
    offsets.push_back(all.size());
    all += text_of(p);
    all += '\n';
  }
  struct Wipe {
    std::string& text;
    ~Wipe() {
      sodium_memzero(text.data(), text.size());
      text.clear();
      if (text.capacity() > (std::size_t{4} << 20)) std::string().swap(text);
    }
  } wipe{all};
  // The piece a match ending at `to` (one past its last byte) ends in, if any.
  const auto piece_ending = [&](std::size_t to) -> std::optional<std::size_t> {
    if (to == 0) return std::nullopt;
    const auto at = std::upper_bound(offsets.begin(), offsets.end(), to - 1);
    const std::size_t i = static_cast<std::size_t>(at - offsets.begin()) - 1;
    if (to > offsets[i] + text_of(pieces[i]).size()) return std::nullopt;  // the newline
    return i;
  };

  std::shared_ptr<Database> base, delta;
  {
    std::lock_guard lock(mutex_);
    base = base_db_;
    delta = delta_db_;
  }
  std::vector<std::vector<Finding>> findings(pieces.size());
  for (Database* secrets : {base.get(), delta.get()}) {
    auto matches = run(secrets, all);
    if (!matches) return redact_json_each(value);  // each piece then fails closed alone
    for (const Match& m : *matches) {
      const auto i = piece_ending(m.to);
      if (!i || m.from < offsets[*i]) continue;  // across a newline: not in any piece
      findings[*i].push_back(
          {m.from - offsets[*i], m.to - offsets[*i], secrets->labels[m.id], false});
    }
  }
  std::vector<bool> rule_ends(pieces.size(), false);
  if (Database* detect = rule_detect_db_.get(); detect != nullptr && detect->db != nullptr) {
    const auto ends = rule_ends_in(detect, all);
    if (!ends) return redact_json_each(value);
    for (const RuleEnd& e : *ends)
      if (const auto i = piece_ending(e.to)) rule_ends[*i] = true;
  }

  bool changed = false;
  std::map<const std::string*, std::vector<Finding>> new_keys;  // the keys that change
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    std::vector<Finding> found =
        rule_ends[i] ? scan(text_of(pieces[i])) : merged(std::move(findings[i]));
    if (found.empty()) continue;
    changed = true;
    if (pieces[i].string != nullptr)
      replace_findings(*pieces[i].string, found);
    else
      new_keys[pieces[i].key] = std::move(found);
  }
  for (std::string* blob : blobs) changed = redact_blob(*blob) || changed;
  if (new_keys.empty()) return changed;
  // Rebuilt from the innermost object out, so no object moves before its keys are read.
  for (nlohmann::json* object : objects) {
    bool any = false;
    for (auto it = object->begin(); it != object->end() && !any; ++it)
      any = new_keys.count(&it.key()) > 0;
    if (!any) continue;
    nlohmann::json rebuilt = nlohmann::json::object();
    for (auto it = object->begin(); it != object->end(); ++it) {
      std::string key = it.key();
      if (const auto k = new_keys.find(&it.key()); k != new_keys.end())
        replace_findings(key, k->second);
      rebuilt[std::move(key)] = std::move(*it);
    }
    *object = std::move(rebuilt);
  }
  return changed;
}

}  // namespace keyhold::secrets
