// keyhold/sdk/duration.hpp - the one duration grammar of keyhold: host config, vault CLI,
// connector options and tool arguments all read durations with parse_duration.
//
// Grammar (like absl::ParseDuration, without negative values or "inf"):
//   duration := term { term }          e.g. "90s", "10m", "1h30m", "1.5h", "2w"
//   term     := number unit
//   number   := digits [ "." digits ]  decimal (at most 9 digits after the point);
//                                      no sign, no exponent, no spaces
//   unit     := "ms" | "s" | "m" | "min" | "h" | "d" | "w"
//               (milliseconds, seconds, minutes, minutes, hours, days of 24 h, weeks of 7 d)
// A number without a unit is an error here ("10" could mean seconds or minutes); the few
// options that took bare numbers of seconds before this grammar existed read them with
// keyhold::sdk::duration_option (keyhold/sdk/options.hpp) or their own documented rule.
// The value is exact to the millisecond: a fraction of a millisecond rounds up, so a
// positive input never becomes zero. Zero ("0s") is a valid result; callers that need a
// positive duration check for it. Negative values, empty text, unknown units and totals
// above std::chrono::milliseconds::max() are errors.
//
// Pure, allocation only for the error message, thread-safe.
#pragma once

#include <keyhold/sdk/result.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace keyhold::sdk {

// The units parse_duration accepts, for error messages and documentation.
inline constexpr std::string_view kDurationUnits = "ms, s, m or min, h, d, w";

// Parses text in the grammar above into milliseconds, or says why it cannot.
inline Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  using R = Result<std::chrono::milliseconds>;
  const auto fail = [&](std::string why) {
    return R::failure("\"" + std::string(text.substr(0, 64)) + "\" is not a duration: " + why +
                      " (write a number and a unit, e.g. \"90s\", \"10m\", \"1h30m\"; units: " +
                      std::string(kDurationUnits) + ")");
  };
  if (text.empty()) return fail("it is empty");
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t total_ms = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    // number: whole part and optional fraction (at most 18 fraction digits are kept).
    const std::size_t start = i;
    std::int64_t whole = 0;
    bool whole_digits = false;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      const int d = text[i] - '0';
      if (whole > (kMax - d) / 10) return fail("it is too large");
      whole = whole * 10 + d;
      whole_digits = true;
      ++i;
    }
    std::int64_t frac = 0;      // fraction digits as an integer
    std::int64_t frac_den = 1;  // 10^(number of fraction digits)
    bool frac_digits = false;
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        if (frac_den == 1000000000) return fail("it has more than 9 digits after the '.'");
        frac = frac * 10 + (text[i] - '0');
        frac_den *= 10;
        frac_digits = true;
        ++i;
      }
      if (!frac_digits) return fail("a '.' needs digits after it");
    }
    if (!whole_digits && !frac_digits) {
      if (text[start] == '-') return fail("it is negative");
      return fail("expected a number at \"" + std::string(text.substr(start, 16)) + "\"");
    }
    // unit
    const std::size_t unit_start = i;
    while (i < text.size() &&
           ((text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z')))
      ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    std::int64_t unit_ms = 0;
    if (unit == "ms")
      unit_ms = 1;
    else if (unit == "s")
      unit_ms = 1000;
    else if (unit == "m" || unit == "min")
      unit_ms = 60 * 1000;
    else if (unit == "h")
      unit_ms = 3600 * 1000;
    else if (unit == "d")
      unit_ms = 86400 * 1000;
    else if (unit == "w")
      unit_ms = std::int64_t{7} * 86400 * 1000;
    else if (unit.empty() && i < text.size())
      return fail("unexpected \"" + std::string(1, text[i]) + "\" after " +
                  std::string(text.substr(start, i - start)));
    else if (unit.empty())
      return fail("the number " + std::string(text.substr(start, unit_start - start)) +
                  " has no unit");
    else
      return fail("unknown unit \"" + std::string(unit) + "\"");
    // whole * unit_ms + ceil(frac * unit_ms / frac_den), each step checked for overflow.
    if (whole > kMax / unit_ms) return fail("it is too large");
    std::int64_t term = whole * unit_ms;
    if (frac > 0) {
      // frac < 10^9 and unit_ms <= 6.048e8, so the product fits in 63 bits.
      const std::int64_t scaled = frac * unit_ms;
      const std::int64_t part = scaled / frac_den + (scaled % frac_den != 0 ? 1 : 0);
      if (term > kMax - part) return fail("it is too large");
      term += part;
    }
    if (total_ms > kMax - term) return fail("it is too large");
    total_ms += term;
  }
  return R::success(std::chrono::milliseconds(total_ms));
}

}  // namespace keyhold::sdk
