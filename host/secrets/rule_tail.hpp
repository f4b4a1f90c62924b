#pragma once
// Where a match of an open-ended credential rule can start, found without scanning the
// whole text for starts.
//
// Most rules are a short head and a tail of any length: `\bghp_[A-Za-z0-9]{36,}\b`,
// `password=` ... `[A-Za-z0-9...]*`. Every match of such a rule is a head match of at most
// head_width bytes followed by bytes that each can match some character of the tail. So a
// match ending at e starts no earlier than head_width bytes before the run of tail bytes
// that ends at e, and a window from there to e holds every start of a match ending at e.
//
// The tail's bytes are over-approximated, never under: every single-byte item of the tail
// (a class, an escape, a literal, `.`), however quantified or grouped, adds all the bytes
// it matches, as Hyperscan itself decides with the rule's flags. A larger set only makes
// the window larger. Syntax this reader does not follow (anchors, inline flags, \x, \p,
// POSIX classes, back references, a `{` that is not a repeat) gives no RuleTail: the rule
// is then located over the whole text, as before.
#include <bitset>
#include <cstddef>
#include <optional>
#include <string_view>

namespace keyhold::secrets {

struct RuleTail {
  std::size_t head_width = 0;  // the longest a head match can be
  std::bitset<256> bytes;      // every byte a tail match may hold
};

// The longest match of regex with the Hyperscan flags `flags` (hs_expression_info's
// max_width); nothing when unbounded or refused.
std::optional<std::size_t> longest_match(std::string_view regex, unsigned flags);

// The split of regex (compiled with the Hyperscan flags `flags`) whose head is no longer
// than max_head bytes and whose tail is the shortest such; nothing when regex cannot be
// read or no head is that short.
std::optional<RuleTail> rule_tail(std::string_view regex, unsigned flags, std::size_t max_head);

}  // namespace keyhold::secrets
