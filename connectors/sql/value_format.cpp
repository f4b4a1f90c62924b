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

// Cuts s to at most `width` code points, ending with an ellipsis when cut; returns its
// display width afterwards.
std::size_t truncate_cell(std::string& s, std::size_t width) {
  const std::size_t points = display_width(s);
  if (points <= width) return points;
  std::size_t kept = 0;
  std::size_t i = 0;
  for (; i < s.size(); ++i) {
    const bool starts_point = (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
    if (starts_point && ++kept > width - 1) break;
  }
  s.resize(i);
  s += "\u2026";
  return width;
}

// One cell as shown: its text and display width.
struct Cell {
  std::string text;
  std::size_t width = 0;
};

Cell make_cell(std::string text, std::size_t max_cell) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\t', ' ');
  Cell cell;
  cell.width = truncate_cell(text, max_cell);
  cell.text = std::move(text);
  return cell;
}

void pad_to(std::string& line, const Cell& cell, std::size_t width) {
  line += cell.text;
  if (cell.width < width) line.append(width - cell.width, ' ');
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
  // Every cell's text and width, computed once; row r, column c at [r * n + c] (a short
  // row leaves its last cells empty).
  std::vector<Cell> header;
  header.reserve(n);
  std::vector<std::size_t> widths(n, 0);
  for (std::size_t c = 0; c < n; ++c) {
    header.push_back(make_cell(result.columns[c].name, max_cell));
    widths[c] = header.back().width;
  }
  std::vector<Cell> cells(n * result.rows.size());
  std::size_t bytes = 0;
  for (std::size_t r = 0; r < result.rows.size(); ++r) {
    const json& row = result.rows[r];
    for (std::size_t c = 0; c < n && c < row.size(); ++c) {
      Cell& cell = cells[r * n + c];
      cell = make_cell(cell_text(row[c]), max_cell);
      widths[c] = std::max(widths[c], cell.width);
      bytes += cell.text.size();
    }
  }
  std::string out;
  if (n > 0) {
    std::size_t line_width = 0;
    for (std::size_t c = 0; c < n; ++c) line_width += widths[c] + 3;
    out.reserve(bytes + (result.rows.size() + 2) * line_width + 256);
    // A line: its cells padded to the column widths, " | " between, no trailing blanks.
    const auto line = [&](const Cell* row, std::size_t count) {
      const std::size_t start = out.size();
      for (std::size_t c = 0; c < count; ++c) {
        if (c > 0) out += " | ";
        pad_to(out, row[c], widths[c]);
      }
      while (out.size() > start && out.back() == ' ') out.pop_back();
      out += '\n';
    };
    line(header.data(), n);
    for (std::size_t c = 0; c < n; ++c) {
      if (c > 0) out += "-+-";
      out.append(widths[c], '-');
    }
    out += '\n';
    for (std::size_t r = 0; r < result.rows.size(); ++r)
      line(&cells[r * n], std::min(n, result.rows[r].size()));
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
