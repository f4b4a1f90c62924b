#include "protocol/json_rpc.hpp"

#include <keyhold/sdk/json_write.hpp>

#include "protocol/json_parse.hpp"

namespace keyhold::rpc {

std::string serialize(const json& message) {
  return sdk::json_text(message);  // what dump(-1, ' ', false, replace) writes, faster
}

json make_result(const json& id, json result) {
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

json make_error(const json& id, int code, std::string_view message, json data) {
  json error{{"code", code}, {"message", std::string(message)}};
  if (!data.is_null()) error["data"] = std::move(data);
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}};
}

json make_notification(std::string_view method, json params) {
  json n{{"jsonrpc", "2.0"}, {"method", std::string(method)}};
  if (!params.is_null()) n["params"] = std::move(params);
  return n;
}

json make_request(const json& id, std::string_view method, json params) {
  json r{{"jsonrpc", "2.0"}, {"id", id}, {"method", std::string(method)}};
  if (!params.is_null()) r["params"] = std::move(params);
  return r;
}

std::string request_text(std::int64_t id, std::string_view method, const json& params) {
  // The members in make_request's order (nlohmann keeps an object's keys sorted).
  std::string out = "{\"id\":";
  out += std::to_string(id);
  out += ",\"jsonrpc\":\"2.0\",\"method\":";
  sdk::json_write_detail::append_string(out, std::string(method));
  if (!params.is_null()) {
    out += ",\"params\":";
    sdk::append_json(out, params);
  }
  out += '}';
  return out;
}

namespace {
bool valid_id(const json& id) { return id.is_string() || id.is_number_integer(); }
}  // namespace

Kind classify(const json& message, std::string* why, json* id) {
  *id = nullptr;
  if (message.is_array()) {
    *why = "batched requests are not supported";
    return Kind::kInvalid;
  }
  if (!message.is_object()) {
    *why = "a JSON-RPC message must be an object";
    return Kind::kInvalid;
  }
  auto id_it = message.find("id");
  const bool has_id = id_it != message.end();
  if (has_id && valid_id(*id_it)) *id = *id_it;
  auto version = message.find("jsonrpc");
  if (version == message.end() || *version != "2.0") {
    *why = "\"jsonrpc\" must be \"2.0\"";
    return Kind::kInvalid;
  }
  if (has_id && !valid_id(*id_it)) {
    *why = "\"id\" must be a string or an integer";
    return Kind::kInvalid;
  }
  auto method = message.find("method");
  if (method != message.end()) {
    if (!method->is_string()) {
      *why = "\"method\" must be a string";
      return Kind::kInvalid;
    }
    auto params = message.find("params");
    if (params != message.end() && !params->is_object()) {
      *why = "\"params\" must be an object";
      return Kind::kInvalid;
    }
    return has_id ? Kind::kRequest : Kind::kNotification;
  }
  if (has_id && (message.contains("result") || message.contains("error"))) return Kind::kResponse;
  *why = has_id ? "a request needs a \"method\"" : "message has neither \"method\" nor \"id\"";
  return Kind::kInvalid;
}

std::size_t nesting_depth(std::string_view text, std::size_t stop_at) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > stop_at) return deepest;
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return deepest;
}

namespace {

// Reads the top-level "id" of a message that failed to parse, as far as the parser got:
// a SAX handler that keeps a string or integer id seen at depth 1 and ignores the rest.
class IdRecovery : public nlohmann::json_sax<json> {
 public:
  json id;

  bool null() override { return scalar(nullptr); }
  bool boolean(bool) override { return scalar(nullptr); }
  bool number_integer(number_integer_t v) override { return scalar(v); }
  bool number_unsigned(number_unsigned_t v) override { return scalar(v); }
  bool number_float(number_float_t, const string_t&) override { return scalar(nullptr); }
  bool string(string_t& v) override { return scalar(v); }
  bool binary(binary_t&) override { return scalar(nullptr); }
  bool start_object(std::size_t) override { return open(); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    next_is_id_ = depth_ == 1 && k == "id";
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  bool scalar(json v) {
    if (next_is_id_ && depth_ == 1) id = std::move(v);
    next_is_id_ = false;
    return true;
  }
  bool open() {
    next_is_id_ = false;
    ++depth_;
    return true;
  }
  bool close() {
    if (depth_ > 0) --depth_;
    return true;
  }
  std::size_t depth_ = 0;
  bool next_is_id_ = false;
};

json recover_id(std::string_view text) {
  IdRecovery recovery;
  try {
    json::sax_parse(text, &recovery, json::input_format_t::json, false);
  } catch (...) {
    // sax_parse reports errors through parse_error; nothing else is expected here.
  }
  return valid_id(recovery.id) ? recovery.id : json(nullptr);
}

// The library message without its "[json.exception.x.y] " prefix and without the
// "; last read: '...'" tail, which would echo the client's bytes (maybe invalid UTF-8,
// maybe a secret).
std::string library_reason(const std::exception& e) {
  std::string why = e.what();
  if (auto pos = why.find("] "); pos != std::string::npos) why.erase(0, pos + 2);
  if (auto pos = why.find("; last read"); pos != std::string::npos) why.erase(pos);
  return why;
}

}  // namespace

std::optional<json> parse_message(std::string_view text, const Limits& limits, json* error) {
  if (text.size() > limits.max_message_bytes) {
    *error =
        make_error(nullptr, kInvalidRequest,
                   "message of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                       std::to_string(limits.max_message_bytes) + " bytes");
    return std::nullopt;
  }
  // simdjson refuses a document deeper than max_depth, so the byte scan for the depth
  // runs only when it refused (saves a pass over every well-formed message).
  if (json value; try_parse_json_fast(text, limits.max_depth, &value)) return value;
  if (nesting_depth(text, limits.max_depth) > limits.max_depth) {
    *error =
        make_error(nullptr, kInvalidRequest,
                   "message nests deeper than " + std::to_string(limits.max_depth) + " levels");
    return std::nullopt;
  }
  // nlohmann's lexer rejects ill-formed UTF-8 inside strings; bytes outside strings are
  // syntax errors anyway, so a successful parse implies valid UTF-8 throughout. A leading
  // UTF-8 byte order mark is skipped by the lexer (ignored on every transport).
  try {  // not JSON: nlohmann's parser says why
    return json::parse(text);
  } catch (const json::parse_error& e) {
    *error = make_error(nullptr, kParseError, library_reason(e));
  } catch (const json::out_of_range&) {
    // Well-formed JSON (RFC 8259 sets no range) with a number no double can hold: an
    // invalid request rather than a parse error, answered with its id when one came
    // before the offending number.
    *error = make_error(recover_id(text), kInvalidRequest,
                        "invalid request: a number is outside the range of a double");
  } catch (const std::exception& e) {
    *error = make_error(nullptr, kParseError, library_reason(e));
  }
  return std::nullopt;
}

// The id's JSON text: a string id keeps its quotes, so it never equals a number's key.
// serialize(), not dump(): dump() sets up a locale-aware serializer on every call, which
// showed in profiles of pipelined calls (one key per call).
std::string id_key(const json& id) { return serialize(id); }

}  // namespace keyhold::rpc
