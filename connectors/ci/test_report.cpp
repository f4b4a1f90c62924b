#include "test_report.hpp"

#include <pugixml.hpp>

#include <algorithm>
#include <cctype>
#include <regex>

namespace keyhold::ci {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::size_t indent_of(std::string_view s) {
  std::size_t n = 0;
  while (n < s.size() && (s[n] == ' ' || s[n] == '\t')) ++n;
  return n;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

std::string cap(std::string s, std::size_t limit) {
  if (s.size() <= limit) return s;
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  s += " [...]";
  return s;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "\n") + l;
  return out;
}

// Drops leading and trailing blank lines.
std::vector<std::string> strip_blank_edges(std::vector<std::string> lines) {
  while (!lines.empty() && trim(lines.back()).empty()) lines.pop_back();
  std::size_t first = 0;
  while (first < lines.size() && trim(lines[first]).empty()) ++first;
  lines.erase(lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(first));
  return lines;
}

// A YAML scalar on one line: 'single' ('' is a quote), "double" (\n, \", \\), or plain.
std::string yaml_scalar(std::string_view v) {
  v = trim(v);
  if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') {
    std::string out;
    for (std::size_t i = 1; i + 1 < v.size(); ++i) {
      out += v[i];
      if (v[i] == '\'' && i + 2 < v.size() && v[i + 1] == '\'') ++i;
    }
    return out;
  }
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
    std::string out;
    for (std::size_t i = 1; i + 1 < v.size(); ++i) {
      if (v[i] == '\\' && i + 2 < v.size()) {
        const char e = v[++i];
        out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
      } else {
        out += v[i];
      }
    }
    return out;
  }
  return std::string(v);
}

// libstdc++'s std::regex recurses once per character a repetition consumes, so a long
// line overflows the stack (and the host with it). Every regex here sees at most this
// many bytes of a line; longer lines are cut (or, where the match is anchored at the
// end, not matched at all).
constexpr std::size_t kRegexMaxBytes = 2048;

std::string regex_cut(std::string_view text) { return std::string(text.substr(0, kRegexMaxBytes)); }

// "path:line[:col]" found in text, skipping runtime-internal frames (node:, internal/).
// A frame does not span lines, so each line (cut to kRegexMaxBytes) is searched alone.
std::string location_in(std::string_view text, std::string_view cwd) {
  static const std::regex frame(R"((?:file://)?(/[^\s():'"]+):(\d+)(?::(\d+))?)");
  text = text.substr(0, 20000);
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string s = regex_cut(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    for (auto it = std::sregex_iterator(s.begin(), s.end(), frame); it != std::sregex_iterator();
         ++it) {
      std::string path = (*it)[1].str();
      if (path.find("/node_modules/") != std::string::npos) continue;
      if (!cwd.empty()) {
        std::string prefix(cwd);
        if (prefix.back() != '/') prefix += '/';
        if (path.starts_with(prefix)) path = path.substr(prefix.size());
      }
      std::string out = path + ":" + (*it)[2].str();
      if ((*it)[3].matched) out += ":" + (*it)[3].str();
      return out;
    }
  }
  return {};
}

}  // namespace

void LineReader::add_failure(TestFailure failure) {
  if (outcome_.failures.size() >= kMaxFailures) return;
  failure.name = cap(std::move(failure.name), 500);
  failure.message = cap(std::move(failure.message), kMaxMessageBytes);
  outcome_.failures.push_back(std::move(failure));
}

// ---------------------------------------------------------------------------- TAP

void TapReader::close_failure() {
  finish_block();
  in_yaml_ = false;
  if (!open_failure_) return;
  TestFailure f = std::move(*open_failure_);
  open_failure_.reset();
  if (!yaml_message_.empty()) {
    f.message = yaml_message_;
    f.location = yaml_location_;
  } else {
    std::vector<std::string> kept;
    static const std::regex at_line(R"(^at (.+) line (\d+)\.?$)");
    for (const auto& l : comment_lines_) {
      std::smatch m;
      if (f.location.empty() && l.size() <= kRegexMaxBytes && std::regex_match(l, m, at_line)) {
        f.location = m[1].str() + ":" + m[2].str();
        continue;
      }
      kept.push_back(l);
    }
    f.message = join_lines(strip_blank_edges(kept));
    if (f.location.empty()) f.location = yaml_location_;
  }
  if (f.message.empty()) f.message = "not ok";
  comment_lines_.clear();
  yaml_message_.clear();
  yaml_location_.clear();
  add_failure(std::move(f));
}

void TapReader::finish_block() {
  if (yaml_key_.empty()) return;
  const std::string value = join_lines(strip_blank_edges(std::move(block_lines_)));
  block_lines_.clear();
  if ((yaml_key_ == "message" || yaml_key_ == "error") && yaml_message_.empty())
    yaml_message_ = value;
  yaml_key_.clear();
}

void TapReader::yaml_line(std::string_view line) {
  if (!yaml_key_.empty()) {
    // Inside a block scalar: blank lines and lines indented deeper than the key belong to it.
    const bool blank = trim(line).empty();
    if (blank || indent_of(line) > yaml_indent_) {
      if (!blank && block_indent_ == 0) block_indent_ = indent_of(line);
      if (block_lines_.size() < 200)
        block_lines_.emplace_back(blank ? std::string_view()
                                        : line.substr(std::min(block_indent_, indent_of(line))));
      return;
    }
    finish_block();
  }
  const std::string_view t = trim(line);
  const auto colon = t.find(':');
  if (colon == std::string_view::npos || indent_of(line) != yaml_indent_) return;
  const std::string key(t.substr(0, colon));
  const std::string_view rest = trim(t.substr(colon + 1));
  if (rest == "|" || rest == "|-" || rest == "|+" || rest == ">" || rest == ">-") {
    yaml_key_ = key;
    block_indent_ = 0;
    return;
  }
  if ((key == "message" || key == "error") && yaml_message_.empty())
    yaml_message_ = yaml_scalar(rest);
  else if ((key == "location" || key == "at") && yaml_location_.empty())
    yaml_location_ = yaml_scalar(rest);
}

bool TapReader::feed(std::string_view raw) {
  std::string_view line = raw;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const std::size_t indent = indent_of(line);
  const std::string_view body = line.substr(indent);

  if (in_yaml_) {
    if (body == "..." && indent == yaml_indent_) {
      finish_block();
      in_yaml_ = false;
      return false;
    }
    yaml_line(line);
    return false;
  }
  if (open_failure_ && body == "---" && indent > open_indent_) {
    in_yaml_ = true;
    yaml_indent_ = indent;
    return false;
  }

  const bool not_ok = body.starts_with("not ok");
  const bool ok = !not_ok && body.starts_with("ok") && (body.size() == 2 || body[2] == ' ');
  if (ok || not_ok) {
    close_failure();
    std::string_view rest = trim(body.substr(not_ok ? 6 : 2));
    while (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest.front())))
      rest.remove_prefix(1);
    rest = trim(rest);
    if (rest.starts_with("-")) rest = trim(rest.substr(1));
    // The directive starts at the first unescaped '#'.
    std::string description;
    std::string_view directive;
    for (std::size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] == '\\' && i + 1 < rest.size() && rest[i + 1] == '#') {
        description += '#';
        ++i;
      } else if (rest[i] == '#') {
        directive = trim(rest.substr(i + 1));
        break;
      } else {
        description += rest[i];
      }
    }
    description = std::string(trim(description));
    const bool skip = starts_with_ci(directive, "skip");
    const bool todo = starts_with_ci(directive, "todo");

    // Subtests are printed before their parent's point, so a point that follows a
    // deeper one closes a suite: not a test of its own.
    const bool is_suite = last_point_indent_ && *last_point_indent_ > indent;
    last_point_indent_ = indent;
    if (is_suite) return false;

    last_test_ = description;
    if (skip || todo) {
      if (ok && todo)
        ++outcome_.passed;
      else
        ++outcome_.skipped;
    } else if (ok) {
      ++outcome_.passed;
    } else {
      ++outcome_.failed;
      open_failure_ = TestFailure{description, {}, {}};
      open_indent_ = indent;
    }
    return true;
  }

  if (body.starts_with("Bail out!")) {
    close_failure();
    ++outcome_.failed;
    add_failure({"Bail out!", std::string(trim(body.substr(9))), {}});
    return true;
  }
  if (body.size() > 3 && body.starts_with("1..") &&
      std::isdigit(static_cast<unsigned char>(body[3]))) {
    close_failure();
    if (indent == 0) total_ = std::atol(std::string(body.substr(3)).c_str());
    return false;
  }
  if (body.starts_with("#")) {
    const std::string_view comment = trim(body.substr(1));
    if (comment.starts_with("Subtest:") || comment.starts_with("Looks like")) {
      close_failure();
      return false;
    }
    if (open_failure_ && comment_lines_.size() < 200) comment_lines_.emplace_back(comment);
    return false;
  }
  return false;
}

void TapReader::finish() { close_failure(); }

// -------------------------------------------------------------------------- ctest

void CtestReader::close_failure() {
  if (!open_failure_) return;
  TestFailure f = std::move(*open_failure_);
  open_failure_.reset();
  const auto lines = strip_blank_edges(std::move(output_lines_));
  output_lines_.clear();
  if (!lines.empty()) f.message = join_lines(lines);
  static const std::regex file_line(R"(^([^\s:]+):(\d+)(?::(\d+))?:)");
  for (const auto& line : lines) {
    const std::string l = regex_cut(line);
    std::smatch m;
    if (std::regex_search(l, m, file_line)) {
      f.location = m[1].str() + ":" + m[2].str() + (m[3].matched ? ":" + m[3].str() : "");
      break;
    }
  }
  add_failure(std::move(f));
}

bool CtestReader::feed(std::string_view raw) {
  std::string_view line = raw;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  static const std::regex result(
      R"(^\s*(\d+)/(\d+) +Test +#(\d+): (.+?) \.*(?: |\*)+(Passed|[A-Za-z][^*]*?)\s+[0-9.]+ sec\s*$)");
  static const std::regex start(R"(^\s+Start +\d+: )");
  const std::string text = regex_cut(line);  // a longer line is never a result line
  std::smatch m;
  if (line.size() <= kRegexMaxBytes && line.find(" Test ") != std::string_view::npos &&
      line.find('#') != std::string_view::npos && std::regex_match(text, m, result)) {
    close_failure();
    total_ = std::atol(m[2].str().c_str());
    last_test_ = m[4].str();
    const std::string status = std::string(trim(m[5].str()));
    if (status == "Passed") {
      ++outcome_.passed;
    } else if (status == "Skipped" || status.starts_with("Not Run")) {
      ++outcome_.skipped;
    } else {
      ++outcome_.failed;
      open_failure_ = TestFailure{m[4].str(), status, {}};
    }
    return true;
  }
  if (std::regex_search(text, start) || text.find("% tests passed") != std::string::npos) {
    close_failure();
    return false;
  }
  if (open_failure_ && output_lines_.size() < 200) output_lines_.emplace_back(line);
  return false;
}

void CtestReader::finish() { close_failure(); }

// -------------------------------------------------------------------------- JUnit

std::optional<TestOutcome> parse_junit(std::string_view xml, std::string_view cwd,
                                       std::string* error) {
  pugi::xml_document doc;
  const pugi::xml_parse_result parsed = doc.load_buffer(xml.data(), xml.size());
  if (!parsed) {
    *error = std::string("the JUnit report is not well-formed XML: ") + parsed.description() +
             " at byte " + std::to_string(parsed.offset);
    return std::nullopt;
  }
  const pugi::xml_node root = doc.document_element();
  if (std::string_view(root.name()) != "testsuites" &&
      std::string_view(root.name()) != "testsuite") {
    *error = std::string("the JUnit report's root element is <") + root.name() +
             ">, expected <testsuites> or <testsuite>";
    return std::nullopt;
  }
  TestOutcome outcome;
  for (const pugi::xpath_node& found : doc.select_nodes("//testcase")) {
    const pugi::xml_node tc = found.node();
    const pugi::xml_node failure = tc.child("failure") ? tc.child("failure") : tc.child("error");
    if (tc.child("skipped")) {
      ++outcome.skipped;
      continue;
    }
    if (!failure) {
      ++outcome.passed;
      continue;
    }
    ++outcome.failed;
    if (outcome.failures.size() >= kMaxFailures) continue;
    std::string name = tc.attribute("name").value();
    for (pugi::xml_node p = tc.parent(); p && std::string_view(p.name()) == "testsuite";
         p = p.parent()) {
      const std::string suite = p.attribute("name").value();
      if (!suite.empty()) name = suite + " > " + name;
    }
    const std::string body = failure.text().get();
    std::string message = failure.attribute("message").value();
    if (message.empty()) {
      const std::string_view t = trim(body);
      message = std::string(t.substr(0, t.find('\n')));
    }
    if (message.empty()) message = failure.name();
    std::string location;
    if (tc.attribute("file")) {
      location = tc.attribute("file").value();
      if (tc.attribute("line")) location += std::string(":") + tc.attribute("line").value();
    } else {
      location = location_in(body, cwd);
    }
    outcome.failures.push_back(
        {cap(std::move(name), 500), cap(std::move(message), kMaxMessageBytes), location});
  }
  return outcome;
}

// --------------------------------------------------------------------------- auth

std::optional<std::string> auth_failure_line(std::string_view line) {
  if (line.size() > 4000) line = line.substr(0, 4000);
  bool code = false;
  for (std::size_t i = 0; i + 3 <= line.size(); ++i) {
    if (line[i] != '4' || line[i + 1] != '0' || (line[i + 2] != '1' && line[i + 2] != '3'))
      continue;
    const bool before_ok = i == 0 || !std::isdigit(static_cast<unsigned char>(line[i - 1]));
    const bool after_ok =
        i + 3 == line.size() || !std::isdigit(static_cast<unsigned char>(line[i + 3]));
    if (before_ok && after_ok) {
      code = true;
      break;
    }
  }
  if (!code) return std::nullopt;
  std::string lower(line);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static constexpr std::string_view kContext[] = {
      "http", "status", "unauthorized", "forbidden", "unauthenticated", "authenticat", "response"};
  if (std::none_of(std::begin(kContext), std::end(kContext),
                   [&](std::string_view w) { return lower.find(w) != std::string::npos; }))
    return std::nullopt;
  return cap(std::string(trim(line)), 300);
}

}  // namespace keyhold::ci
