#include "pg_values.hpp"

#include "value_format.hpp"

#include <keyhold/sdk/base64.hpp>
#include <keyhold/sdk/percent.hpp>

#include <cerrno>
#include <cstdlib>
#include <map>

namespace keyhold::sql {

namespace {
// OIDs from PostgreSQL's pg_type.dat (stable across versions).
enum : unsigned {
  kBool = 16,
  kBytea = 17,
  kInt8 = 20,
  kInt2 = 21,
  kInt4 = 23,
  kOid = 26,
  kJson = 114,
  kFloat4 = 700,
  kFloat8 = 701,
  kJsonb = 3802
};

const std::map<unsigned, unsigned>& array_elements() {
  static const std::map<unsigned, unsigned> m = {
      {1000, kBool}, {1001, kBytea},  {1005, kInt2},   {1007, kInt4},  {1016, kInt8}, {1028, kOid},
      {199, kJson},  {1021, kFloat4}, {1022, kFloat8}, {3807, kJsonb}, {1009, 25},    {1015, 1043},
      {1014, 1042},  {1003, 19},      {1231, 1700},    {1115, 1114},   {1185, 1184},  {1182, 1082},
      {1183, 1083},  {2951, 2950},    {1187, 1186}};
  return m;
}

json integer_or_text(std::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end == s.c_str() || *end != '\0') return s;
  return v;
}

json float_or_text(std::string_view text) {
  const std::string s(text);
  if (s == "NaN" || s == "Infinity" || s == "-Infinity") return s;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0') return s;
  return v;
}

json scalar(unsigned oid, std::string_view text) {
  switch (oid) {
    case kBool:
      return text == "t" || text == "true";
    case kInt2:
    case kInt4:
    case kInt8:
    case kOid:
      return integer_or_text(text);
    case kFloat4:
    case kFloat8:
      return float_or_text(text);
    case kJson:
    case kJsonb: {
      json parsed = json::parse(text, nullptr, false);
      return parsed.is_discarded() ? json(std::string(text)) : parsed;
    }
    case kBytea: {
      const auto bytes = decode_bytea_hex(text);
      return bytes ? blob_to_json(*bytes) : json(std::string(text));
    }
    default:
      return std::string(text);
  }
}

// parse_pg_array takes a plain function pointer: one per element type we convert.
template <unsigned Oid>
json element(std::string_view text) {
  return scalar(Oid, text);
}

using ElementFn = json (*)(std::string_view);
ElementFn element_fn(unsigned oid) {
  switch (oid) {
    case kBool:
      return &element<kBool>;
    case kBytea:
      return &element<kBytea>;
    case kInt2:
      return &element<kInt2>;
    case kInt4:
      return &element<kInt4>;
    case kInt8:
      return &element<kInt8>;
    case kOid:
      return &element<kOid>;
    case kJson:
      return &element<kJson>;
    case kJsonb:
      return &element<kJsonb>;
    case kFloat4:
      return &element<kFloat4>;
    case kFloat8:
      return &element<kFloat8>;
    default:
      return nullptr;
  }
}

void replace_all(std::string& text, std::string_view what, std::string_view with) {
  if (what.empty()) return;
  for (std::size_t pos = text.find(what); pos != std::string::npos;
       pos = text.find(what, pos + with.size()))
    text.replace(pos, what.size(), with);
}
}  // namespace

json pg_text_to_json(unsigned type_oid, std::string_view text) {
  const auto& arrays = array_elements();
  if (const auto it = arrays.find(type_oid); it != arrays.end()) {
    auto parsed = parse_pg_array(text, element_fn(it->second));
    return parsed ? *parsed : json(std::string(text));
  }
  return scalar(type_oid, text);
}

std::string pg_builtin_type_name(unsigned oid) {
  static const std::map<unsigned, std::string> names = {{16, "boolean"},
                                                        {17, "bytea"},
                                                        {18, "char"},
                                                        {19, "name"},
                                                        {20, "bigint"},
                                                        {21, "smallint"},
                                                        {23, "integer"},
                                                        {25, "text"},
                                                        {26, "oid"},
                                                        {114, "json"},
                                                        {700, "real"},
                                                        {701, "double precision"},
                                                        {1042, "character"},
                                                        {1043, "character varying"},
                                                        {1082, "date"},
                                                        {1083, "time"},
                                                        {1114, "timestamp without time zone"},
                                                        {1184, "timestamp with time zone"},
                                                        {1186, "interval"},
                                                        {1700, "numeric"},
                                                        {2950, "uuid"},
                                                        {3802, "jsonb"},
                                                        {1000, "boolean[]"},
                                                        {1001, "bytea[]"},
                                                        {1005, "smallint[]"},
                                                        {1007, "integer[]"},
                                                        {1016, "bigint[]"},
                                                        {1009, "text[]"},
                                                        {1015, "character varying[]"},
                                                        {1021, "real[]"},
                                                        {1022, "double precision[]"},
                                                        {1231, "numeric[]"},
                                                        {3807, "jsonb[]"},
                                                        {199, "json[]"},
                                                        {1003, "name[]"},
                                                        {2951, "uuid[]"}};
  const auto it = names.find(oid);
  return it == names.end() ? std::string() : it->second;
}

std::optional<std::string> pg_param_text(const json& value, std::size_t index) {
  if (value.is_null()) return std::nullopt;
  if (value.is_boolean()) return std::string(value.get<bool>() ? "true" : "false");
  if (value.is_string()) return value.get<std::string>();
  if (is_blob_param(value)) {
    const auto bytes = sdk::base64_decode(value["base64"].get<std::string>());
    if (!bytes) throw SqlError("params[" + std::to_string(index) + "].base64 is not valid base64");
    static const char* hex = "0123456789abcdef";
    std::string out = "\\x";
    for (unsigned char c : *bytes) {
      out += hex[c >> 4];
      out += hex[c & 15];
    }
    return out;
  }
  return value.dump();  // numbers; objects and arrays as JSON text (json/jsonb parameters)
}

std::string scrub_secret(std::string message, std::string_view secret) {
  if (secret.empty()) return message;
  // The password of a URL: postgresql://user:PASSWORD@host/...
  const auto scheme = secret.find("://");
  if (scheme != std::string_view::npos) {
    const auto at = secret.find('@', scheme + 3);
    if (at != std::string_view::npos) {
      const std::string_view userinfo = secret.substr(scheme + 3, at - scheme - 3);
      const auto colon = userinfo.find(':');
      if (colon != std::string_view::npos) {
        const std::string_view password = userinfo.substr(colon + 1);
        replace_all(message, secret, "[REDACTED]");
        if (password.size() >= 1) {
          replace_all(message, password, "[REDACTED]");
          replace_all(message, sdk::percent_decode_lenient(password), "[REDACTED]");
        }
      }
    }
  }
  replace_all(message, secret, "[REDACTED]");
  return message;
}

}  // namespace keyhold::sql
