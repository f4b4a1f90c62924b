// s3: S3-compatible buckets and PDF text, signed through handles so the secret access key
// never enters the plugin.
//
// Tools: list_buckets, list_objects, head_object, get_object, get_pdf_text, and
// put_object (only with read_only = false). Objects are resources at s3://<bucket>/<key>
// (RFC 6570 reserved expansion: '/' kept, other reserved bytes percent-encoded), one
// template s3://<bucket>/{+key} per allowlisted bucket. Every bucket
// and key is checked against the allowlists before any network call.
#include <keyhold/plugin.hpp>
#include <keyhold/sdk/args.hpp>
#include <keyhold/sdk/base64.hpp>
#include <keyhold/sdk/percent.hpp>
#include <keyhold/sdk/secret_handle.hpp>
#include <keyhold/sdk/utf8.hpp>

#include "pdf_child.hpp"
#include "pdf_text.hpp"
#include "s3_client.hpp"
#include "s3_options.hpp"
#include "s3_xml.hpp"
#include "sigv4.hpp"

#include <sodium.h>

#include <atomic>
#include <map>
#include <optional>
#include <span>

namespace keyhold::s3 {
namespace {

const kh_secret_decl kSecrets[] = {
    {"access_key_id",
     "AWS access key id (AKIA... / ASIA...), sent in each request's Authorization header",
     KH_SECRET_OP_REVEAL},
    {"secret_access_key",
     "AWS secret access key; used only through the host's sign service (aws4-signing-key), never "
     "revealed",
     KH_SECRET_OP_SIGN},
    {"session_token", "Optional STS session token for temporary credentials", KH_SECRET_OP_REVEAL},
};

const json kReadOnly = {{"readOnlyHint", true},
                        {"destructiveHint", false},
                        {"idempotentHint", true},
                        {"openWorldHint", true}};

// A failed tool call with a message for the user (becomes isError).
struct ToolError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool is_text_type(std::string_view content_type) {
  std::string t(content_type.substr(0, content_type.find(';')));
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t.starts_with("text/") || t == "application/json" || t.ends_with("+json") ||
         t == "application/xml" || t.ends_with("+xml") || t == "application/x-ndjson";
}

// s3://bucket/<key with '/' kept and every other reserved byte percent-encoded>.
std::string object_uri(std::string_view bucket, std::string_view key) {
  return "s3://" + std::string(bucket) + "/" + sdk::percent_encode(key, "/");
}

json object_schema(std::initializer_list<std::pair<const char*, json>> props,
                   std::vector<std::string> required) {
  json properties = json::object();
  for (const auto& [k, v] : props) properties[k] = v;
  return {{"type", "object"}, {"properties", properties}, {"required", required}};
}

const json kBucketProp = {{"type", "string"}, {"description", "Bucket name (must be allowlisted)"}};
const json kKeyProp = {{"type", "string"}, {"description", "Object key"}};

class S3Plugin : public Plugin {
 public:
  S3Plugin(Host host, std::string_view instance, const json& options)
      : Plugin(host), instance_(instance), options_(parse_options(options)), client_(options_) {}

  static std::span<const kh_secret_decl> secret_declarations() { return kSecrets; }

  json describe() override {
    json tools = json::array();
    const std::string cap = std::to_string(options_.max_object_bytes);
    tools.push_back(
        {{"name", "list_buckets"},
         {"title", "List buckets"},
         {"description", "Lists the buckets this instance may read (the allowlist) that exist."},
         {"inputSchema", {{"type", "object"}, {"properties", json::object()}}},
         {"outputSchema",
          object_schema({{"buckets", {{"type", "array"}, {"items", {{"type", "object"}}}}}},
                        {"buckets"})},
         {"annotations", kReadOnly}});
    tools.push_back(
        {{"name", "list_objects"},
         {"title", "List objects"},
         {"description",
          "Lists objects of a bucket (ListObjectsV2), one page per call; pass "
          "next_continuation_token back as continuation_token for the next page."},
         {"inputSchema",
          object_schema(
              {{"bucket", kBucketProp},
               {"prefix", {{"type", "string"}, {"description", "Only keys starting with this"}}},
               {"delimiter", {{"type", "string"}, {"description", "Group keys (usually \"/\")"}}},
               {"continuation_token", {{"type", "string"}}},
               {"max_keys", {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}}}},
              {"bucket"})},
         {"outputSchema",
          object_schema({{"bucket", {{"type", "string"}}},
                         {"objects", {{"type", "array"}, {"items", {{"type", "object"}}}}},
                         {"common_prefixes", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                         {"is_truncated", {{"type", "boolean"}}},
                         {"next_continuation_token", {{"type", {"string", "null"}}}},
                         {"key_count", {{"type", "integer"}}}},
                        {"bucket", "objects", "is_truncated", "next_continuation_token"})},
         {"annotations", kReadOnly}});
    tools.push_back(
        {{"name", "head_object"},
         {"title", "Object metadata"},
         {"description",
          "Shows an object's size, content type, ETag, modification time and user metadata."},
         {"inputSchema",
          object_schema({{"bucket", kBucketProp}, {"key", kKeyProp}}, {"bucket", "key"})},
         {"outputSchema", object_schema({{"bucket", {{"type", "string"}}},
                                         {"key", {{"type", "string"}}},
                                         {"size", {{"type", "integer"}}},
                                         {"content_type", {{"type", "string"}}},
                                         {"etag", {{"type", "string"}}},
                                         {"last_modified", {{"type", "string"}}},
                                         {"metadata", {{"type", "object"}}}},
                                        {"bucket", "key", "size"})},
         {"annotations", kReadOnly}});
    tools.push_back(
        {{"name", "get_object"},
         {"title", "Read an object"},
         {"description",
          "Reads an object, or a byte range of it: a text block for text/* and JSON, otherwise "
          "an embedded resource with the bytes in base64 (structuredContent describes them). "
          "Objects (or ranges) above " +
              cap + " bytes are refused before downloading."},
         {"inputSchema",
          object_schema(
              {{"bucket", kBucketProp},
               {"key", kKeyProp},
               {"range_start",
                {{"type", "integer"}, {"minimum", 0}, {"description", "First byte (0-based)"}}},
               {"range_end",
                {{"type", "integer"}, {"minimum", 0}, {"description", "Last byte, inclusive"}}}},
              {"bucket", "key"})},
         {"outputSchema",
          object_schema({{"bucket", {{"type", "string"}}},
                         {"key", {{"type", "string"}}},
                         {"size", {{"type", "integer"}, {"description", "Whole object size"}}},
                         {"content_type", {{"type", "string"}}},
                         {"range", {{"type", {"string", "null"}}}},
                         {"encoding", {{"type", "string"}, {"enum", {"text", "base64"}}}},
                         {"bytes", {{"type", "integer"}, {"description", "Bytes returned"}}}},
                        {"bucket", "key", "size", "encoding", "bytes"})},
         {"annotations", kReadOnly}});
    tools.push_back(
        {{"name", "get_pdf_text"},
         {"title", "Text of a PDF"},
         {"description", "Extracts the text of a PDF object page by page (at most " +
                             std::to_string(options_.max_pages_per_call) +
                             " pages per call); next_page says where to continue."},
         {"inputSchema",
          object_schema(
              {{"bucket", kBucketProp},
               {"key", kKeyProp},
               {"first_page",
                {{"type", "integer"}, {"minimum", 1}, {"description", "1-based, default 1"}}},
               {"max_pages",
                {{"type", "integer"}, {"minimum", 1}, {"maximum", options_.max_pages_per_call}}}},
              {"bucket", "key"})},
         {"outputSchema", object_schema({{"bucket", {{"type", "string"}}},
                                         {"key", {{"type", "string"}}},
                                         {"total_pages", {{"type", "integer"}}},
                                         {"first_page", {{"type", "integer"}}},
                                         {"pages",
                                          {{"type", "array"},
                                           {"items", object_schema({{"page", {{"type", "integer"}}},
                                                                    {"text", {{"type", "string"}}}},
                                                                   {"page", "text"})}}},
                                         {"next_page", {{"type", {"integer", "null"}}}}},
                                        {"total_pages", "first_page", "pages", "next_page"})},
         {"annotations", kReadOnly}});
    if (!options_.read_only)
      tools.push_back(
          {{"name", "put_object"},
           {"title", "Write an object"},
           {"description", "Writes an object from text or base64 (at most " + cap + " bytes)."},
           {"inputSchema", object_schema({{"bucket", kBucketProp},
                                          {"key", kKeyProp},
                                          {"text", {{"type", "string"}}},
                                          {"base64", {{"type", "string"}}},
                                          {"content_type", {{"type", "string"}}}},
                                         {"bucket", "key"})},
           {"annotations",
            {{"readOnlyHint", false},
             {"destructiveHint", true},
             {"idempotentHint", true},
             {"openWorldHint", true}}}});
    json templates = json::array();
    if (options_.resources)
      for (const auto& b : options_.buckets)
        templates.push_back({{"uriTemplate", "s3://" + b + "/{+key}"},
                             {"name", "s3-object-" + b},
                             {"title", "Object in bucket " + b}});
    return {{"tools", tools},
            {"resources", json::array()},
            {"resourceTemplates", templates},
            {"prompts", json::array()}};
  }

  json call_tool(Context& ctx, std::string_view name, const json& args) override {
    try {
      if (name == "list_buckets") return list_buckets(ctx);
      if (name == "list_objects") return list_objects(ctx, args);
      if (name == "head_object") return head_object_tool(ctx, args);
      if (name == "get_object") return get_object_tool(ctx, args);
      if (name == "get_pdf_text") return get_pdf_text(ctx, args);
      if (name == "put_object" && !options_.read_only) return put_object(ctx, args);
    } catch (const ToolError& e) {
      return text_result(e.what(), true);
    } catch (const S3TransportError& e) {
      return text_result(e.what(), true);
    } catch (const S3RequestError& e) {
      return text_result(e.what(), true);
    } catch (const PdfError& e) {
      return text_result(e.what(), true);
    }
    throw InvalidArgument("unknown tool: " + std::string(name));
  }

  json read_resource(Context& ctx, std::string_view uri) override {
    if (!uri.starts_with("s3://")) throw NotFound("no such resource: " + std::string(uri));
    const std::string_view rest = uri.substr(5);
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) throw NotFound("no such resource: " + std::string(uri));
    const std::string bucket(rest.substr(0, slash));
    const auto key = sdk::percent_decode(rest.substr(slash + 1));
    if (!key || key->empty()) throw NotFound("no such resource: " + std::string(uri));
    if (std::string refusal = check_key(options_, bucket, *key); !refusal.empty())
      throw NotFound(std::string(uri) + ": " + refusal);
    try {
      const json r = fetch_object(ctx, bucket, *key, std::nullopt, std::nullopt);
      json content = {{"uri", std::string(uri)}, {"mimeType", r["content_type"]}};
      if (r["encoding"] == "text")
        content["text"] = r["text"];
      else
        content["blob"] = r["base64"];
      return {{"contents", json::array({content})}};
    } catch (const NotFoundError& e) {
      throw NotFound(e.what());
    }
  }

 private:
  struct NotFoundError : ToolError {
    using ToolError::ToolError;
  };

  // Signing keys derived for one request; wiped when the last user lets go.
  struct SigningKeyCache {
    std::map<std::string, std::string> keys;  // "date/region/service" -> 32 bytes
    ~SigningKeyCache() {
      for (auto& [_, k] : keys) sodium_memzero(k.data(), k.size());
    }
  };

  // The handles of one request: the access key id (and session token) revealed into
  // out, the secret access key used only through the host's sign service.
  class CallSecrets {
   public:
    CallSecrets(const Context& ctx, const std::string& instance, CallCredentials* out,
                OptionalSecretRetry* session_token_retry) {
      if (key_id_.acquire(ctx, "access_key_id") != KH_OK)
        throw ToolError("the host refused the access key id of instance " + instance +
                        " (not granted, or the grant was revoked): map the alias access_key_id "
                        "to a secret and grant it with `keyhold vault grant " +
                        instance + " <secret> --ops reveal`");
      if (secret_.acquire(ctx, "secret_access_key") != KH_OK)
        throw ToolError("the host refused the secret access key of instance " + instance +
                        " (not granted, or the grant was revoked): map the alias "
                        "secret_access_key to a secret and grant it with `keyhold vault grant " +
                        instance + " <secret> --ops sign`");
      const int32_t status = ctx.reveal_secret(key_id_.get(), [out](std::string_view v) {
        out->access_key_id.assign(v.data(), v.size());
      });
      if (status != KH_OK)
        throw ToolError("the host refused to reveal access_key_id of instance " + instance +
                        " (status " + std::to_string(status) + "; grant it with --ops reveal)");
      // The token is optional: a refusal means "not mapped" or "not granted" (the host
      // does not say which), so after one it is asked for again at most once a minute,
      // not on every call (each ask adds a denied row to the audit log).
      if (session_token_retry->should_ask()) {
        if (token_.acquire(ctx, "session_token") != KH_OK) {
          session_token_retry->refused();
        } else if (ctx.reveal_secret(token_.get(), [out](std::string_view v) {
                     out->session_token.assign(v.data(), v.size());
                   }) != KH_OK) {
          throw ToolError("the host refused to reveal session_token of instance " + instance);
        } else {
          session_token_retry->granted();
        }
      }
      const kh_secret_handle secret = secret_.get();
      const Context* c = &ctx;
      auto cache = std::make_shared<SigningKeyCache>();
      out->signing_key = [c, secret, cache, instance](const SigningScope& scope) {
        const std::string scope_key = scope.date() + "/" + scope.region + "/" + scope.service;
        if (auto it = cache->keys.find(scope_key); it != cache->keys.end()) return it->second;
        std::string key;
        const json data = {
            {"date", scope.date()}, {"region", scope.region}, {"service", scope.service}};
        const int32_t s = c->sign_with_secret(secret, "aws4-signing-key", data.dump(), &key);
        if (s != KH_OK || key.size() != 32) {
          if (!key.empty()) sodium_memzero(key.data(), key.size());
          throw ToolError(
              "the host refused to sign with secret_access_key of instance " + instance +
              (s == KH_NOT_GRANTED ? " (not granted, or the grant was revoked): grant it with "
                                     "`keyhold vault grant " +
                                         instance + " <secret> --ops sign`"
                                   : " (status " + std::to_string(s) + ")"));
        }
        cache->keys[scope_key] = key;
        return key;
      };
      out->cancelled = [c] { return c->cancelled(); };
    }

   private:
    sdk::SecretHandle key_id_, secret_, token_;  // each released when the call ends
  };

  // The credentials of one tool call: asked of the host once, however many requests the
  // call sends (get_object sends HEAD, then GET). Handles are released when it ends.
  struct CallScope {
    CallCredentials credentials;
    std::optional<CallSecrets> secrets;  // destroyed before credentials
  };

  S3Response send(Context& ctx, const S3Request& request, CallScope* scope = nullptr) {
    CallScope local;
    CallScope& used = scope != nullptr ? *scope : local;
    if (!used.secrets)
      used.secrets.emplace(ctx, instance_, &used.credentials, &session_token_retry_);
    return client_.send(request, used.credentials);
  }

  // A message for a non-2xx answer; NotFoundError for 404.
  [[noreturn]] void fail(const S3Response& r, const std::string& what) {
    const S3ErrorBody e = parse_error(r.body);
    std::string msg = what + " failed: S3 answered " + std::to_string(r.status);
    if (!e.code.empty()) msg += " " + e.code;
    if (!e.message.empty()) msg += " (" + e.message + ")";
    if (r.status == 403) {
      if (e.code == "SignatureDoesNotMatch" || e.code.empty())
        msg +=
            ". The request signature was rejected or access is denied: check that the "
            "secret mapped to secret_access_key belongs to the access key id "
            "(`keyhold vault show`), and that the clock is right";
    }
    if (r.status == 404) throw NotFoundError(msg);
    throw ToolError(msg);
  }

  json list_buckets(Context& ctx) {
    S3Request req;
    const S3Response r = send(ctx, req);
    if (r.status != 200) fail(r, "ListBuckets");
    const json all = parse_list_buckets(r.body)["buckets"];
    json buckets = json::array();
    std::string text;
    for (const auto& b : all)
      if (check_bucket(options_, b["name"].get<std::string>()).empty()) {
        buckets.push_back(b);
        text += b["name"].get<std::string>() + "\n";
      }
    json result = text_result(text.empty() ? "(no allowlisted bucket exists)" : text);
    result["structuredContent"] = {{"buckets", buckets}};
    return result;
  }

  json list_objects(Context& ctx, const json& args) {
    const std::string bucket = sdk::string_arg(args, "bucket", true);
    const std::string prefix = sdk::string_arg(args, "prefix", false);
    if (std::string refusal = check_list_prefix(options_, bucket, prefix); !refusal.empty())
      throw ToolError(refusal);
    S3Request req;
    req.bucket = bucket;
    req.query = {{"list-type", "2"}};
    if (!prefix.empty()) req.query.emplace_back("prefix", prefix);
    if (auto d = sdk::string_arg(args, "delimiter", false); !d.empty())
      req.query.emplace_back("delimiter", d);
    if (auto t = sdk::string_arg(args, "continuation_token", false); !t.empty())
      req.query.emplace_back("continuation-token", t);
    req.query.emplace_back(
        "max-keys", std::to_string(sdk::integer_arg(args, "max_keys", 1, 1000).value_or(1000)));
    const S3Response r = send(ctx, req);
    if (r.status != 200) fail(r, "ListObjectsV2 of bucket " + bucket);
    json listing = parse_list_objects_v2(r.body);
    std::string text;
    for (const auto& p : listing["common_prefixes"]) text += p.get<std::string>() + " (prefix)\n";
    for (const auto& o : listing["objects"])
      text += o["key"].get<std::string>() + "\t" + std::to_string(o["size"].get<std::uint64_t>()) +
              "\n";
    if (listing["is_truncated"].get<bool>())
      text += "(more: pass continuation_token " + listing["next_continuation_token"].dump() + ")\n";
    if (text.empty()) text = "(no objects)";
    listing["bucket"] = bucket;
    json result = text_result(text);
    result["structuredContent"] = std::move(listing);
    return result;
  }

  json head_object(Context& ctx, const std::string& bucket, const std::string& key,
                   CallScope* scope = nullptr) {
    if (std::string refusal = check_key(options_, bucket, key); !refusal.empty())
      throw ToolError(refusal);
    S3Request req;
    req.method = "HEAD";
    req.bucket = bucket;
    req.key = key;
    const S3Response r = send(ctx, req, scope);
    if (r.status == 404)
      throw NotFoundError("no such object: s3://" + bucket + "/" + key + " (404 Not Found)");
    if (r.status != 200) fail(r, "HeadObject of s3://" + bucket + "/" + key);
    json metadata = json::object();
    for (const auto& [k, v] : r.headers)
      if (k.starts_with("x-amz-meta-"))
        metadata[sdk::to_valid_utf8(k.substr(11))] = sdk::to_valid_utf8(v);
    const std::string length = r.header("content-length");
    return {{"bucket", bucket},
            {"key", key},
            {"size", length.empty() ? 0ull : std::stoull(length)},
            {"content_type", sdk::to_valid_utf8(r.header("content-type"))},
            {"etag", sdk::to_valid_utf8(r.header("etag"))},
            {"last_modified", sdk::to_valid_utf8(r.header("last-modified"))},
            {"metadata", metadata}};
  }

  json head_object_tool(Context& ctx, const json& args) {
    const json h =
        head_object(ctx, sdk::string_arg(args, "bucket", true), sdk::string_arg(args, "key", true));
    json result = text_result(h.dump(2));
    result["structuredContent"] = h;
    return result;
  }

  // HEAD, the size cap, then GET (of a range when asked). Returns the get_object result.
  json fetch_object(Context& ctx, const std::string& bucket, const std::string& key,
                    std::optional<long long> start, std::optional<long long> end,
                    std::string* raw_body = nullptr) {
    CallScope scope;
    const json head = head_object(ctx, bucket, key, &scope);
    const std::uint64_t size = head["size"].get<std::uint64_t>();
    const std::string where = "s3://" + bucket + "/" + key;
    S3Request req;
    req.bucket = bucket;
    req.key = key;
    std::optional<std::string> range;
    std::uint64_t want = size;
    if (start || end) {
      const std::uint64_t first = static_cast<std::uint64_t>(start.value_or(0));
      std::uint64_t last = end ? static_cast<std::uint64_t>(*end) : (size == 0 ? 0 : size - 1);
      if (size == 0 || first >= size)
        throw ToolError("range_start " + std::to_string(first) + " is beyond the end of " + where +
                        " (" + std::to_string(size) + " bytes)");
      if (last < first) throw ToolError("range_end must not be below range_start");
      if (last >= size) last = size - 1;
      want = last - first + 1;
      range = "bytes=" + std::to_string(first) + "-" + std::to_string(last);
      req.headers.emplace_back("range", *range);
    }
    if (want > options_.max_object_bytes)
      throw ToolError(
          where + " is " + std::to_string(size) + " bytes" +
          (range ? " (range of " + std::to_string(want) + " bytes)" : std::string()) +
          ", above this instance's max_object_bytes of " +
          std::to_string(options_.max_object_bytes) +
          "; nothing was downloaded. Ask for a smaller byte range (range_start, range_end)");
    req.max_response_bytes = options_.max_object_bytes;
    const S3Response r = send(ctx, req, &scope);
    if (r.status == 404) throw NotFoundError("no such object: " + where + " (404 Not Found)");
    if (r.status != 200 && r.status != 206) fail(r, "GetObject of " + where);
    const std::string content_type = head["content_type"].get<std::string>();
    json out = {{"bucket", bucket},
                {"key", key},
                {"size", size},
                {"content_type", content_type},
                {"range", range ? json(*range) : json(nullptr)},
                {"bytes", r.body.size()}};
    if (raw_body != nullptr) {
      *raw_body = r.body;
      return out;
    }
    if (is_text_type(content_type) && sdk::is_valid_utf8(r.body)) {
      out["encoding"] = "text";
      out["text"] = r.body;
    } else {
      out["encoding"] = "base64";
      out["base64"] = sdk::base64_encode(r.body);
    }
    return out;
  }

  json get_object_tool(Context& ctx, const json& args) {
    const std::string bucket = sdk::string_arg(args, "bucket", true);
    const std::string key = sdk::string_arg(args, "key", true);
    const auto start = sdk::integer_arg(args, "range_start", 0, 1LL << 53);
    const auto end = sdk::integer_arg(args, "range_end", 0, 1LL << 53);
    json r;
    try {
      r = fetch_object(ctx, bucket, key, start, end);
    } catch (const NotFoundError& e) {
      return text_result(e.what(), true);
    }
    // The bytes travel once, in the content block; structuredContent describes them.
    // (Both would double every MiB the host serializes, redacts and the client parses.)
    json result;
    if (r["encoding"] == "text") {
      result = text_result(r["text"].get<std::string>());
      r.erase("text");
    } else {
      result = {
          {"content", json::array({{{"type", "resource"},
                                    {"resource",
                                     {{"uri", object_uri(bucket, key)},
                                      {"mimeType", r["content_type"].get<std::string>().empty()
                                                       ? "application/octet-stream"
                                                       : r["content_type"]},
                                      {"blob", r["base64"]}}}}})}};
      r.erase("base64");
    }
    result["structuredContent"] = std::move(r);
    return result;
  }

  json get_pdf_text(Context& ctx, const json& args) {
    const std::string bucket = sdk::string_arg(args, "bucket", true);
    const std::string key = sdk::string_arg(args, "key", true);
    const int first =
        static_cast<int>(sdk::integer_arg(args, "first_page", 1, 1000000).value_or(1));
    const int max_pages =
        static_cast<int>(sdk::integer_arg(args, "max_pages", 1, options_.max_pages_per_call)
                             .value_or(options_.max_pages_per_call));
    json object;
    std::string bytes;
    try {
      object = fetch_object(ctx, bucket, key, std::nullopt, std::nullopt, &bytes);
    } catch (const NotFoundError& e) {
      return text_result(e.what(), true);
    }
    PdfPages pdf;
    try {
      PdfBudget budget;
      budget.wall = std::chrono::milliseconds(options_.pdf_timeout_ms);
      budget.cpu_seconds = options_.pdf_cpu_seconds;
      budget.memory_bytes = options_.pdf_memory_bytes;
      pdf = extract_pdf_text_in_child(bytes, first, max_pages, budget,
                                      [&] { return ctx.cancelled(); });
    } catch (const PdfCancelled&) {
      throw Cancelled();
    } catch (const PdfError& e) {
      throw PdfError("s3://" + bucket + "/" + key + ": " + e.what());
    }
    json pages = json::array();
    std::string text;
    for (std::size_t i = 0; i < pdf.pages.size(); ++i) {
      const int n = pdf.first_page + static_cast<int>(i);
      pages.push_back({{"page", n}, {"text", pdf.pages[i]}});
      text += "--- page " + std::to_string(n) + " of " + std::to_string(pdf.total_pages) +
              " ---\n" + pdf.pages[i] + "\n";
    }
    const int next = pdf.first_page + static_cast<int>(pdf.pages.size());
    const json next_page = next <= pdf.total_pages ? json(next) : json(nullptr);
    if (!next_page.is_null())
      text += "(more: ask again with first_page " + std::to_string(next) + ")\n";
    json result = text_result(text);
    result["structuredContent"] = {{"bucket", bucket},
                                   {"key", key},
                                   {"total_pages", pdf.total_pages},
                                   {"first_page", pdf.first_page},
                                   {"pages", pages},
                                   {"next_page", next_page}};
    return result;
  }

  json put_object(Context& ctx, const json& args) {
    const std::string bucket = sdk::string_arg(args, "bucket", true);
    const std::string key = sdk::string_arg(args, "key", true);
    if (std::string refusal = check_key(options_, bucket, key); !refusal.empty())
      throw ToolError(refusal);
    const bool has_text = args.contains("text") && !args["text"].is_null();
    const bool has_b64 = args.contains("base64") && !args["base64"].is_null();
    if (has_text == has_b64) throw ToolError("give exactly one of text or base64");
    S3Request req;
    req.method = "PUT";
    req.bucket = bucket;
    req.key = key;
    if (has_text) {
      req.body = sdk::string_arg(args, "text", true);
    } else {
      auto decoded = sdk::base64_decode(sdk::string_arg(args, "base64", true), " \r\n");
      if (!decoded) throw ToolError("argument base64 is not valid base64");
      req.body = std::move(*decoded);
    }
    if (req.body.size() > options_.max_object_bytes)
      throw ToolError("the object is " + std::to_string(req.body.size()) +
                      " bytes, above max_object_bytes " +
                      std::to_string(options_.max_object_bytes));
    std::string type = sdk::string_arg(args, "content_type", false);
    if (type.empty()) type = has_text ? "text/plain; charset=utf-8" : "application/octet-stream";
    req.headers.emplace_back("content-type", type);
    const S3Response r = send(ctx, req);
    if (r.status != 200) fail(r, "PutObject of s3://" + bucket + "/" + key);
    json result = text_result("wrote s3://" + bucket + "/" + key + " (" +
                              std::to_string(req.body.size()) + " bytes)");
    result["structuredContent"] = {{"bucket", bucket},
                                   {"key", key},
                                   {"bytes", req.body.size()},
                                   {"etag", sdk::to_valid_utf8(r.header("etag"))}};
    return result;
  }

  std::string instance_;
  S3Options options_;
  S3Client client_;
  OptionalSecretRetry session_token_retry_;
};

}  // namespace
}  // namespace keyhold::s3

KEYHOLD_PLUGIN(keyhold::s3::S3Plugin, "s3", "1.0.0",
               "S3-compatible buckets and PDF text; requests signed through host handles")
