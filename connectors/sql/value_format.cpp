#include "value_format.hpp"

#include <keyhold/sdk/base64.hpp>

#include <algorithm>

namespace keyhold::sql {

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Display width of a UTF-8 string, counting code points (good enough for a text table).
std::size_t display_width(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// Cuts s to at most `width` code points, ending with an ellipsis when cut.
std::string truncate_cell(const std::string& s, std::size_t width) {
  if (display_width(s) <= width) return s;
  std::string out;
  std::size_t points = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool starts_point = (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
    if (starts_point && ++points > width - 1) break;
    out.push_back(s[i]);
  }
  return out + "\u2026";
}

void pad_to(std::string& line, const std::string& cell, std::size_t width) {
  line += cell;
  for (std::size_t w = display_width(cell); w < width; ++w) line.push_back(' ');
}
}  // namespace

json blob_to_json(std::string_view bytes) { return json{{"base64", sdk::base64_encode(bytes)}}; }

bool is_blob_param(const json& value) {
  return value.is_object() && value.size() == 1 && value.contains("base64") &&
         value["base64"].is_string();
}

std::optional<std::string> decode_bytea_hex(std::string_view text) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0)
    return std::nullopt;
  std::string out;
  out.reserve((text.size() - 2) / 2);
  for (std::size_t i = 2; i < text.size(); i += 2) {
    const int hi = hex_value(text[i]);
    const int lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>((hi << 4) | lo);
  }
  return out;
}

namespace {
// Recursive descent over one array level starting at text[pos] == '{'.
bool parse_array_level(std::string_view text, std::size_t& pos, json (*element)(std::string_view),
                       json& out) {
  if (pos >= text.size() || text[pos] != '{') return false;
  ++pos;
  out = json::array();
  if (pos < text.size() && text[pos] == '}') {
    ++pos;
    return true;
  }
  while (pos < text.size()) {
    if (text[pos] == '{') {
      json inner;
      if (!parse_array_level(text, pos, element, inner)) return false;
      out.push_back(std::move(inner));
    } else {
      std::string value;
      bool quoted = false;
      if (text[pos] == '"') {
        quoted = true;
        ++pos;
        while (pos < text.size() && text[pos] != '"') {
          if (text[pos] == '\\' && pos + 1 < text.size()) ++pos;
          value += text[pos++];
        }
        if (pos >= text.size()) return false;
        ++pos;  // closing quote
      } else {
        while (pos < text.size() && text[pos] != ',' && text[pos] != '}') value += text[pos++];
      }
      if (!quoted && value == "NULL")
        out.push_back(nullptr);
      else
        out.push_back(element != nullptr ? element(value) : json(value));
    }
    if (pos >= text.size()) return false;
    if (text[pos] == ',') {
      ++pos;
      continue;
    }
    if (text[pos] == '}') {
      ++pos;
      return true;
    }
    return false;
  }
  return false;
}
}  // namespace

std::optional<json> parse_pg_array(std::string_view text, json (*element)(std::string_view)) {
  // Arrays with explicit bounds ("[0:1]={a,b}") keep their elements; the bounds are dropped.
  if (!text.empty() && text[0] == '[') {
    const auto eq = text.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    text.remove_prefix(eq + 1);
  }
  std::size_t pos = 0;
  json out;
  if (!parse_array_level(text, pos, element, out) || pos != text.size()) return std::nullopt;
  return out;
}

std::string cell_text(const json& value) {
  if (value.is_null()) return "NULL";
  if (value.is_string()) return value.get<std::string>();
  if (is_blob_param(value)) {
    const auto bytes = sdk::base64_decode(value["base64"].get<std::string>());
    return "<blob " + std::to_string(bytes ? bytes->size() : 0) + " bytes>";
  }
  return value.dump();
}

std::string render_text_table(const QueryResult& result, std::size_t row_limit,
                              std::size_t max_result_bytes, std::size_t max_cell) {
  const std::size_t n = result.columns.size();
  std::vector<std::vector<std::string>> cells;
  std::vector<std::size_t> widths(n, 0);
  for (std::size_t c = 0; c < n; ++c)
    widths[c] = display_width(truncate_cell(result.columns[c].name, max_cell));
  for (const auto& row : result.rows) {
    std::vector<std::string> line;
    for (std::size_t c = 0; c < n && c < row.size(); ++c) {
      std::string text = cell_text(row[c]);
      std::replace(text.begin(), text.end(), '\n', ' ');
      std::replace(text.begin(), text.end(), '\t', ' ');
      text = truncate_cell(text, max_cell);
      widths[c] = std::max(widths[c], display_width(text));
      line.push_back(std::move(text));
    }
    cells.push_back(std::move(line));
  }
  std::string out;
  if (n > 0) {
    std::string header;
    std::string rule;
    for (std::size_t c = 0; c < n; ++c) {
      if (c > 0) {
        header += " | ";
        rule += "-+-";
      }
      pad_to(header, truncate_cell(result.columns[c].name, max_cell), widths[c]);
      rule.append(widths[c], '-');
    }
    while (!header.empty() && header.back() == ' ') header.pop_back();
    out += header + "\n" + rule + "\n";
    for (const auto& line : cells) {
      std::string text;
      for (std::size_t c = 0; c < line.size(); ++c) {
        if (c > 0) text += " | ";
        pad_to(text, line[c], widths[c]);
      }
      while (!text.empty() && text.back() == ' ') text.pop_back();
      out += text + "\n";
    }
  }
  const std::size_t count = result.rows.size();
  out += "(" + std::to_string(count) + (count == 1 ? " row)" : " rows)");
  if (result.truncated_by == Truncation::kResultBytes)
    out += "\nTruncated: the rows reached max_result_bytes (" + std::to_string(max_result_bytes) +
           " bytes as JSON) after " + std::to_string(count) + (count == 1 ? " row" : " rows") +
           "; the rest were not read. Select fewer or shorter columns (substr, length), or page "
           "with LIMIT/OFFSET.";
  else if (result.truncated)
    out += "\nTruncated: the result has more rows; only the first " + std::to_string(row_limit) +
           " (row_limit) are shown. Narrow the query or add LIMIT/OFFSET to page.";
  return out;
}

}  // namespace keyhold::sql
