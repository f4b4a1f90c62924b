#include "mount/remote_headers.hpp"

#include <cstring>

#include "mount/http_transport.hpp"

namespace keyhold::mount {

BrokerHeaders::BrokerHeaders(std::string instance, const MountedServerConfig& server,
                             secrets::SecretServices* services)
    : instance_(std::move(instance)),
      destination_(HttpTransport::origin_of(server.url)),
      services_(services) {
  for (const auto& [name, value] : server.headers)
    templates_.emplace_back(name, parse_header_template(value));
}

Result<HeaderLines> BrokerHeaders::build(const std::string& request_id) {
  HeaderLines out;
  out.request_id = request_id;
  for (const auto& [name, parsed] : templates_) {
    if (!parsed.is_ok()) return parsed.status();
    const std::size_t first_secret = out.secrets.size();
    std::size_t size = name.size() + 2;
    for (const auto& part : parsed.value().parts) {
      if (!part.secret) {
        size += part.text.size();
        continue;
      }
      if (services_ == nullptr || !services_->broker)
        return Status(ErrorCode::kPermissionDenied, "header " + name + " needs secret alias '" +
                                                        part.text +
                                                        "', but no secret services are available");
      auto granted =
          services_->broker->value_for_header(instance_, part.text, destination_, request_id);
      if (!granted.is_ok())
        return Status(
            granted.status().code() == ErrorCode::kPermissionDenied ? ErrorCode::kPermissionDenied
                                                                    : ErrorCode::kUnavailable,
            "header " + name + ": " + granted.status().message() +
                (granted.status().code() == ErrorCode::kPermissionDenied
                     ? " (grant it with `keyhold vault grant " + instance_ + " SECRET --ops env`)"
                     : std::string()));
      vault::SecretBuffer secret = std::move(granted).value();
      const std::string_view v = secret.view();
      if (v.find_first_of("\r\n", 0) != std::string_view::npos ||
          v.find('\0') != std::string_view::npos)
        return invalid_argument("header " + name + ": the value of secret alias '" + part.text +
                                "' holds a line break or NUL, which no header may carry");
      size += v.size();
      out.secrets.push_back({name, part.text, std::move(secret)});
    }
    vault::SecretBuffer line(size + 1);  // NUL-terminated for libcurl
    auto* at = reinterpret_cast<char*>(line.data());
    auto put = [&](std::string_view text) {
      std::memcpy(at, text.data(), text.size());
      at += text.size();
    };
    put(name);
    put(": ");
    std::size_t next_secret = first_secret;
    for (const auto& part : parsed.value().parts)
      put(part.secret ? out.secrets[next_secret++].value.view() : std::string_view(part.text));
    *at = '\0';
    out.lines.push_back(std::move(line));
  }
  return out;
}

Status BrokerHeaders::refused(const HeaderLines& refused, bool retried) {
  if (refused.secrets.empty())
    return Status(ErrorCode::kPermissionDenied,
                  "no header of server.headers holds a secret; add the credential the server "
                  "expects to server.headers");
  if (services_ == nullptr || !services_->broker)
    return Status(ErrorCode::kPermissionDenied, "no secret services are available");
  // Every secret in the request is judged (and each refusal audited); one renewed value is
  // worth one more attempt.
  bool renewed = false;
  std::string why;
  for (const auto& use : refused.secrets) {
    const Status s = services_->broker->header_refused(instance_, use.alias, use.value,
                                                       destination_, retried, refused.request_id);
    if (s.is_ok()) {
      renewed = true;
      continue;
    }
    why += (why.empty() ? "" : "; ") + ("header " + use.header + ": " + s.message());
  }
  if (renewed) return Status::ok();
  return Status(ErrorCode::kPermissionDenied, why);
}

Status BrokerHeaders::lacks_scope(const HeaderLines& sent, const std::string& scope) {
  const std::string asked = scope.empty() ? std::string() : " \"" + scope + "\"";
  if (sent.secrets.empty())
    return Status(ErrorCode::kPermissionDenied, "the server wants credentials with more scope" +
                                                    asked +
                                                    "; no header of server.headers holds a secret");
  if (services_ == nullptr || !services_->broker)
    return Status(ErrorCode::kPermissionDenied, "no secret services are available");
  std::string why;
  for (const auto& use : sent.secrets) {
    const Status s = services_->broker->header_lacks_scope(instance_, use.alias, destination_,
                                                           scope, sent.request_id);
    why += (why.empty() ? "" : "; ") + ("header " + use.header + ": " + s.message());
  }
  return Status(ErrorCode::kPermissionDenied, why);
}

}  // namespace keyhold::mount
