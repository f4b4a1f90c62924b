#include "secrets/rule_tail.hpp"

#include <hs/hs.h>

#include <cctype>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace keyhold::secrets {

namespace {

constexpr std::size_t kUnknown = std::string_view::npos;

struct Span {
  std::size_t begin, end;
};

// One item of a regex's top-level sequence (an atom or a group, with its repeat) and the
// single-byte atoms inside it.
struct Item {
  std::size_t begin = 0;
  std::vector<Span> atoms;
};

// The length of the escape at re[i] (a backslash) when it stands for one byte out of a
// set: \s \d \w and their negations, \r \n \t \f \v \e, or a quoted punctuation mark.
// 0 for anything else (\x, \p, \Q, \c, digits, ...): not followed here.
std::size_t escape_at(std::string_view re, std::size_t i) {
  if (i + 1 >= re.size()) return 0;
  const unsigned char x = static_cast<unsigned char>(re[i + 1]);
  if (x != 0 && std::strchr("sSdDwWrntfve", x) != nullptr) return 2;
  if (x >= 0x20 && x < 0x7f && std::isalnum(x) == 0) return 2;
  return 0;
}

// One past the ']' that closes the class opening at re[i]; kUnknown for a class this
// reader does not follow (a POSIX class, an escape escape_at does not know).
std::size_t class_end(std::string_view re, std::size_t i) {
  std::size_t k = i + 1;
  if (k < re.size() && re[k] == '^') ++k;
  if (k < re.size() && re[k] == ']') ++k;  // a ']' first is a member
  while (k < re.size() && re[k] != ']') {
    if (re[k] == '\\') {
      const std::size_t n = escape_at(re, k);
      if (n == 0) return kUnknown;
      k += n;
    } else if (re[k] == '[') {
      return kUnknown;
    } else {
      ++k;
    }
  }
  return k < re.size() ? k + 1 : kUnknown;
}

// One past the repeat at re[i] (*, +, ?, {n}, {n,}, {n,m}, each maybe lazy or
// possessive); i when there is none; kUnknown for a '{' that is not a repeat.
std::size_t after_repeat(std::string_view re, std::size_t i) {
  if (i >= re.size()) return i;
  if (re[i] == '*' || re[i] == '+' || re[i] == '?') {
    ++i;
  } else if (re[i] == '{') {
    std::size_t k = i + 1;
    const auto digits = [&] {
      const std::size_t from = k;
      while (k < re.size() && std::isdigit(static_cast<unsigned char>(re[k])) != 0) ++k;
      return k > from;
    };
    if (!digits()) return kUnknown;
    if (k < re.size() && re[k] == ',') {
      ++k;
      digits();
    }
    if (k >= re.size() || re[k] != '}') return kUnknown;
    i = k + 1;
  } else {
    return i;
  }
  if (i < re.size() && (re[i] == '?' || re[i] == '+')) ++i;
  return i;
}

// The top-level items of re; one item holding everything when re alternates at the top.
std::optional<std::vector<Item>> items_of(std::string_view re) {
  std::vector<Item> items;
  int depth = 0;
  bool alternates = false;
  std::size_t i = 0;
  while (i < re.size()) {
    const char c = re[i];
    if (c == '|') {
      alternates = alternates || depth == 0;
      ++i;
      continue;
    }
    if (c == '(') {
      if (depth == 0) items.push_back({i, {}});
      ++depth;
      if (re.substr(i, 3) == "(?:")
        i += 3;
      else if (i + 1 < re.size() && re[i + 1] == '?')
        return std::nullopt;  // inline flags, lookaround, named groups
      else
        ++i;
      continue;
    }
    if (depth == 0 && c != ')') items.push_back({i, {}});
    std::size_t next;
    if (c == ')') {
      if (depth == 0) return std::nullopt;
      --depth;
      next = i + 1;
    } else if (c == '\\' && i + 1 < re.size() && (re[i + 1] == 'b' || re[i + 1] == 'B')) {
      next = i + 2;  // a word boundary holds no byte
    } else if (c == '\\') {
      const std::size_t n = escape_at(re, i);
      if (n == 0) return std::nullopt;
      next = i + n;
      items.back().atoms.push_back({i, next});
    } else if (c == '[') {
      next = class_end(re, i);
      if (next == kUnknown) return std::nullopt;
      items.back().atoms.push_back({i, next});
    } else if (std::strchr("^$*+?{}", c) != nullptr) {
      return std::nullopt;  // an anchor, or a repeat of nothing
    } else {
      next = i + 1;  // '.', or a literal byte
      items.back().atoms.push_back({i, next});
    }
    i = after_repeat(re, next);
    if (i == kUnknown) return std::nullopt;
  }
  if (depth != 0 || items.empty()) return std::nullopt;
  if (alternates) {
    Item all;
    for (const Item& item : items)
      all.atoms.insert(all.atoms.end(), item.atoms.begin(), item.atoms.end());
    return std::vector<Item>{all};
  }
  return items;
}

int mark_byte(unsigned int, unsigned long long, unsigned long long to, unsigned int, void* ctx) {
  if (to > 0 && to <= 256)
    static_cast<std::bitset<256>*>(ctx)->set(static_cast<std::size_t>(to - 1));
  return 0;
}

// Every byte some atom matches, as Hyperscan matches them with flags.
std::optional<std::bitset<256>> bytes_of(std::string_view re, const std::vector<Span>& atoms,
                                         unsigned flags) {
  std::bitset<256> bytes;
  if (atoms.empty()) return bytes;
  std::string pattern = "(?:";
  for (std::size_t i = 0; i < atoms.size(); ++i) {
    if (i > 0) pattern += '|';
    pattern += re.substr(atoms[i].begin, atoms[i].end - atoms[i].begin);
  }
  pattern += ')';
  hs_database_t* db = nullptr;
  hs_compile_error_t* error = nullptr;
  if (hs_compile(pattern.c_str(), flags & ~static_cast<unsigned>(HS_FLAG_SOM_LEFTMOST),
                 HS_MODE_BLOCK, nullptr, &db, &error) != HS_SUCCESS) {
    if (error != nullptr) hs_free_compile_error(error);
    return std::nullopt;
  }
  hs_scratch_t* scratch = nullptr;
  std::string every(256, '\0');
  for (std::size_t b = 0; b < every.size(); ++b) every[b] = static_cast<char>(b);
  const bool scanned = hs_alloc_scratch(db, &scratch) == HS_SUCCESS &&
                       hs_scan(db, every.data(), static_cast<unsigned>(every.size()), 0, scratch,
                               &mark_byte, &bytes) == HS_SUCCESS;
  if (scratch != nullptr) hs_free_scratch(scratch);
  hs_free_database(db);
  if (!scanned) return std::nullopt;
  return bytes;
}

}  // namespace

std::optional<std::size_t> longest_match(std::string_view regex, unsigned flags) {
  const std::string pattern(regex);
  hs_expr_info_t* info = nullptr;
  hs_compile_error_t* error = nullptr;
  if (hs_expression_info(pattern.c_str(), flags, &info, &error) != HS_SUCCESS) {
    if (error != nullptr) hs_free_compile_error(error);
    return std::nullopt;
  }
  const unsigned width = info->max_width;
  std::free(info);
  if (width == UINT_MAX) return std::nullopt;
  return width;
}

std::optional<RuleTail> rule_tail(std::string_view regex, unsigned flags, std::size_t max_head) {
  const auto items = items_of(regex);
  if (!items) return std::nullopt;
  // The tail is items[k..]: the shortest whose head is short enough (k = 0, an empty head,
  // always is).
  for (std::size_t k = items->size(); k-- > 0;) {
    // The head alone may match an empty text (`\b`, `["']?`); an empty head is 0 long.
    const std::string_view head = regex.substr(0, (*items)[k].begin);
    const auto width = head.empty() ? std::optional<std::size_t>(0)
                                    : longest_match(head, flags | HS_FLAG_ALLOWEMPTY);
    if (!width || *width > max_head) continue;
    std::vector<Span> atoms;
    for (std::size_t j = k; j < items->size(); ++j)
      atoms.insert(atoms.end(), (*items)[j].atoms.begin(), (*items)[j].atoms.end());
    const auto bytes = bytes_of(regex, atoms, flags);
    if (!bytes) return std::nullopt;
    return RuleTail{*width, *bytes};
  }
  return std::nullopt;
}

}  // namespace keyhold::secrets
