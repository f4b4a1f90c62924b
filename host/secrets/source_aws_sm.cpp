#include "secrets/source_aws_sm.hpp"

#include <curl/curl.h>
#include <sodium.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <keyhold/sdk/time.hpp>
#include <mutex>
#include <nlohmann/json.hpp>

#include "keyhold/vault/vault.hpp"
#include "secrets/source_aws_sm_wire.hpp"

namespace keyhold::secrets {
namespace {

using aws_sm::Credentials;
using aws_sm::WipedText;

std::string env_or(const char* name, std::string fallback = {}) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}

// The host part of an endpoint URL ("host[:port]") and whether it may be plain http.
struct Endpoint {
  std::string url;  // with a trailing '/'
  std::string host;
};
Result<Endpoint> parse_endpoint(std::string url) {
  const bool https = url.starts_with("https://");
  if (!https && !url.starts_with("http://"))
    return invalid_argument("endpoint " + url +
                            " must start with https:// (or http:// to loopback)");
  const auto start = url.find("//") + 2;
  auto end = url.find('/', start);
  if (end == std::string::npos) end = url.size();
  if (end + 1 < url.size())
    return invalid_argument("endpoint " + url + " must not have a path (requests go to /)");
  Endpoint out{url.substr(0, end) + "/", url.substr(start, end - start)};
  const std::string name = out.host.substr(0, out.host.rfind(':'));
  if (!https && name != "127.0.0.1" && name != "localhost" && name != "[::1]")
    return invalid_argument("endpoint " + url + ": http:// is allowed to loopback only");
  if (out.host.empty()) return invalid_argument("endpoint " + url + " names no host");
  return out;
}

class AwsSmProvider : public SourceProvider {
 public:
  struct Config {
    std::string secret_id, field, stage, version_id, region, endpoint, credentials;
    std::chrono::seconds timeout{};
  };
  explicit AwsSmProvider(Config config) : config_(std::move(config)) {}

  Result<vault::SecretBuffer> fetch(SharedVault* vault) override {
    auto credentials = load_credentials(vault);
    if (!credentials.is_ok()) return credentials.status();
    auto endpoint = parse_endpoint(
        config_.endpoint.empty()
            ? env_or("AWS_ENDPOINT_URL_SECRETS_MANAGER",
                     env_or("AWS_ENDPOINT_URL",
                            "https://secretsmanager." + config_.region + ".amazonaws.com"))
            : config_.endpoint);
    if (!endpoint.is_ok()) return endpoint.status();
    auto response = post(endpoint.value(),
                         aws_sm::request_body(config_.secret_id, config_.stage, config_.version_id),
                         credentials.value());
    if (!response.is_ok()) return response.status();
    return aws_sm::value_from_response(response.value()->text, config_.secret_id, config_.field);
  }

 private:
  Result<Credentials> load_credentials(SharedVault* vault) const {
    Credentials out;
    if (config_.credentials == "env") {
      // The AWS SDKs' order: the variables, then the shared credentials file.
      out.access_key_id = env_or("AWS_ACCESS_KEY_ID");
      const std::string secret = env_or("AWS_SECRET_ACCESS_KEY");
      if (!out.access_key_id.empty() && !secret.empty()) {
        out.secret_access_key = vault::SecretBuffer::copy_of(secret);
        out.session_token = env_or("AWS_SESSION_TOKEN");
        return out;
      }
      return shared_file_credentials();
    }
    const std::string name = config_.credentials.substr(6);  // after "vault:"
    if (vault == nullptr)
      return unavailable("its credentials live in vault secret '" + name +
                         "' but no vault is open (set KEYHOLD_KEYFILE or KEYHOLD_PASSPHRASE_FILE)");
    auto read = vault->with([&](vault::Vault& v) { return v.read_secret(name); });
    if (!read.is_ok())
      return Status(read.status().code(), "credentials: " + read.status().message());
    auto parsed = nlohmann::json::parse(read.value().view(), nullptr, false);
    out.access_key_id = parsed.is_object() ? aws_sm::take_string(parsed, "AccessKeyId") : "";
    WipedText secret(parsed.is_object() ? aws_sm::take_string(parsed, "SecretAccessKey") : "");
    out.session_token = parsed.is_object() ? aws_sm::take_string(parsed, "SessionToken") : "";
    if (out.access_key_id.empty() || secret.text.empty())
      return invalid_argument("credentials: vault secret '" + name +
                              "' must be a JSON object with AccessKeyId and SecretAccessKey");
    out.secret_access_key = vault::SecretBuffer::copy_of(secret.text);
    return out;
  }

  // $AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile $AWS_PROFILE or default.
  static Result<Credentials> shared_file_credentials() {
    std::string path = env_or("AWS_SHARED_CREDENTIALS_FILE");
    if (path.empty() && !env_or("HOME").empty()) path = env_or("HOME") + "/.aws/credentials";
    const std::string profile = env_or("AWS_PROFILE", "default");
    std::ifstream in(path);
    if (path.empty() || !in)
      return unavailable(
          "no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set and " +
          (path.empty() ? std::string("there is no home directory") : path + " cannot be read") +
          " (or set credentials=vault:NAME on the mapping)");
    WipedText text(
        std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
    auto parsed = aws_sm::credentials_from_shared_file(text.text, profile);
    if (!parsed.is_ok())
      return Status(parsed.status().code(), path + ": " + parsed.status().message());
    return parsed;
  }

  // Signs and sends one GetSecretValue; the response body when the service answered 200.
  Result<std::unique_ptr<WipedText>> post(const Endpoint& endpoint, const std::string& body,
                                          const Credentials& credentials) const {
    curl_slist* list = nullptr;
    for (const auto& [name, value] :
         aws_sm::signed_headers(endpoint.host, body, credentials,
                                sdk::iso8601_basic_utc(std::time(nullptr)), config_.region))
      list = curl_slist_append(list, (name + ": " + value).c_str());
    list = curl_slist_append(list, "Expect:");
    auto response = std::make_unique<WipedText>();
    static std::once_flag init_once;
    std::call_once(init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    CURL* curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, endpoint.url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.timeout.count() * 1000));
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response->text);
    curl_easy_setopt(
        curl, CURLOPT_WRITEFUNCTION,
        +[](char* data, size_t size, size_t count, void* user) -> size_t {
          auto* text = static_cast<std::string*>(user);
          if (text->size() + size * count > 1024 * 1024) return 0;  // > 1 MiB: refuse
          text->append(data, size * count);
          return size * count;
        });
    const CURLcode sent = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    curl_slist_free_all(list);
    if (sent != CURLE_OK)
      return unavailable("cannot reach " + endpoint.url + ": " + curl_easy_strerror(sent));
    if (status != 200) {
      // AWS JSON errors: {"__type": "...Exception", "message": "..."} (names, not values).
      const auto error = nlohmann::json::parse(response->text, nullptr, false);
      std::string type = error.is_object() ? error.value("__type", "") : "";
      std::string message =
          error.is_object() ? error.value("message", error.value("Message", "")) : "";
      return Status(
          status == 400 && type.ends_with("ResourceNotFoundException") ? ErrorCode::kNotFound
                                                                       : ErrorCode::kUnavailable,
          "Secrets Manager at " + endpoint.url + " answered HTTP " + std::to_string(status) +
              (type.empty() ? "" : " " + type.substr(type.rfind('#') + 1)) +
              (message.empty() ? "" : ": " + message.substr(0, 300)));
    }
    return response;
  }

  Config config_;
};

}  // namespace

Result<std::unique_ptr<SourceProvider>> make_aws_sm_provider(const std::string& ref,
                                                             SourceOptions& options) {
  AwsSmProvider::Config config;
  const auto hash = ref.find('#');
  config.secret_id = ref.substr(0, hash);
  if (hash != std::string::npos) config.field = ref.substr(hash + 1);
  if (config.secret_id.empty() || (hash != std::string::npos && config.field.empty()))
    return invalid_argument("expected aws-sm:NAME-OR-ARN or aws-sm:NAME-OR-ARN#FIELD");
  config.stage = take_option(options, "stage");
  config.version_id = take_option(options, "version_id");
  if (!config.stage.empty() && !config.version_id.empty())
    return invalid_argument("give stage or version_id, not both");
  if (config.stage.empty()) config.stage = "AWSCURRENT";
  // arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME
  std::string arn_region;
  if (config.secret_id.starts_with("arn:")) {
    std::size_t at = 0;
    for (int i = 0; i < 3 && at != std::string::npos; ++i) at = config.secret_id.find(':', at + 1);
    if (at != std::string::npos)
      arn_region = config.secret_id.substr(at + 1, config.secret_id.find(':', at + 1) - at - 1);
  }
  config.region = take_option(
      options, "region",
      !arn_region.empty() ? arn_region : env_or("AWS_REGION", env_or("AWS_DEFAULT_REGION")));
  if (config.region.empty())
    return invalid_argument("no region: add region=REGION (or set AWS_REGION)");
  config.endpoint = take_option(options, "endpoint");
  if (!config.endpoint.empty()) {
    auto endpoint = parse_endpoint(config.endpoint);
    if (!endpoint.is_ok()) return endpoint.status();
  }
  config.credentials = take_option(options, "credentials", "env");
  if (config.credentials != "env" &&
      (!config.credentials.starts_with("vault:") || config.credentials.size() == 6))
    return invalid_argument("credentials must be env or vault:NAME");
  config.timeout = options.timeout;
  return std::unique_ptr<SourceProvider>(std::make_unique<AwsSmProvider>(std::move(config)));
}

}  // namespace keyhold::secrets
