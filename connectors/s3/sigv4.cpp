#include "sigv4.hpp"

#include <keyhold/sdk/percent.hpp>

#include <sodium.h>

#include <algorithm>
#include <ctime>
#include <map>

namespace keyhold::s3 {

namespace {
std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Trims and collapses runs of whitespace to one space (SigV4 header value rule).
std::string canonical_header_value(std::string_view v) {
  std::string out;
  bool pending_space = false;
  for (char c : v) {
    if (is_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

// Removes empty, "." and ".." segments (RFC 3986 remove_dot_segments, plus '//' -> '/').
std::string normalize(std::string_view path) {
  std::vector<std::string_view> segments;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view seg = path.substr(start, end - start);
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    start = end + 1;
  }
  std::string out;
  for (const auto& s : segments) out += "/" + std::string(s);
  const bool trailing =
      !path.empty() && (path.back() == '/' || path.ends_with("/.") || path.ends_with("/.."));
  if (out.empty()) return "/";
  if (trailing) out += '/';
  return out;
}
}  // namespace

std::string SigningScope::credential_scope() const {
  return date() + "/" + region + "/" + service + "/aws4_request";
}

std::string canonical_uri(std::string_view path, const CanonicalOptions& options) {
  if (path.empty()) return "/";
  return sdk::percent_encode(options.normalize_path ? std::string_view(normalize(path)) : path,
                             "/");
}

std::string canonical_query(const Pairs& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [k, v] : query)
    encoded.emplace_back(sdk::percent_encode(k), sdk::percent_encode(v));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [k, v] : encoded) {
    if (!out.empty()) out += '&';
    out += k + "=" + v;
  }
  return out;
}

std::string signed_header_names(const Pairs& headers) {
  std::vector<std::string> names;
  for (const auto& h : headers) names.push_back(to_lower(h.first));
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ";") + n;
  return out;
}

std::string canonical_request(const SignableRequest& request, const CanonicalOptions& options,
                              std::string* signed_headers) {
  std::map<std::string, std::string> headers;  // sorted by lower-case name
  for (const auto& [name, value] : request.headers) {
    auto [it, inserted] = headers.try_emplace(to_lower(name), canonical_header_value(value));
    if (!inserted) it->second += "," + canonical_header_value(value);
  }
  std::string names;
  std::string block;
  for (const auto& [name, value] : headers) {
    names += (names.empty() ? "" : ";") + name;
    block += name + ":" + value + "\n";
  }
  if (signed_headers != nullptr) *signed_headers = names;
  return request.method + "\n" + canonical_uri(request.path, options) + "\n" +
         canonical_query(request.query) + "\n" + block + "\n" + names + "\n" + request.payload_hash;
}

std::string string_to_sign(const SigningScope& scope, std::string_view canonical_request) {
  return "AWS4-HMAC-SHA256\n" + scope.amz_date + "\n" + scope.credential_scope() + "\n" +
         sha256_hex(canonical_request);
}

std::string signature(std::string_view signing_key, std::string_view string_to_sign) {
  return hex(hmac_sha256(signing_key, string_to_sign));
}

std::string authorization_header(std::string_view access_key_id, const SigningScope& scope,
                                 std::string_view signed_headers, std::string_view signature) {
  return "AWS4-HMAC-SHA256 Credential=" + std::string(access_key_id) + "/" +
         scope.credential_scope() + ", SignedHeaders=" + std::string(signed_headers) +
         ", Signature=" + std::string(signature);
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return hex(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view message) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()),
                              key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(message.data()),
                                message.size());
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&state, mac);
  sodium_memzero(&state, sizeof state);
  std::string out(reinterpret_cast<const char*>(mac), sizeof mac);
  sodium_memzero(mac, sizeof mac);
  return out;
}

std::string derive_signing_key_for_tests(std::string_view secret, const SigningScope& scope) {
  std::string k = hmac_sha256("AWS4" + std::string(secret), scope.date());
  k = hmac_sha256(k, scope.region);
  k = hmac_sha256(k, scope.service);
  return hmac_sha256(k, "aws4_request");
}

}  // namespace keyhold::s3
