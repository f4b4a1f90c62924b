// sigv4_cli: reads one JSON request per line on stdin and prints, per line, the plugin
// signer's canonical request, string to sign and Authorization header as JSON. Driven by
// sigv4_differential.test.mjs, which compares it with @smithy/signature-v4. Test-only:
// it derives the signing key from a test secret given in the input.
//
// Input: {"method","path","query":[[k,v],...],"headers":[[k,v],...],"payload_hash",
//         "amz_date","region","service","access_key_id","secret"}
#include "sigv4.hpp"

#include <nlohmann/json.hpp>

#include <iostream>
#include <string>

int main() {
  using namespace keyhold::s3;
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    const auto in = nlohmann::json::parse(line);
    SignableRequest r;
    r.method = in.at("method").get<std::string>();
    r.path = in.at("path").get<std::string>();
    for (const auto& q : in.at("query"))
      r.query.emplace_back(q.at(0).get<std::string>(), q.at(1).get<std::string>());
    for (const auto& h : in.at("headers"))
      r.headers.emplace_back(h.at(0).get<std::string>(), h.at(1).get<std::string>());
    r.payload_hash = in.at("payload_hash").get<std::string>();
    const SigningScope scope{in.at("amz_date").get<std::string>(),
                             in.at("region").get<std::string>(),
                             in.at("service").get<std::string>()};
    std::string names;
    const std::string creq = canonical_request(r, CanonicalOptions{}, &names);
    const std::string sts = string_to_sign(scope, creq);
    const std::string key = derive_signing_key_for_tests(in.at("secret").get<std::string>(), scope);
    const std::string auth = authorization_header(in.at("access_key_id").get<std::string>(), scope,
                                                  names, signature(key, sts));
    std::cout << nlohmann::json{{"canonical_request", creq},
                                {"string_to_sign", sts},
                                {"authorization", auth}}
                     .dump()
              << "\n";
  }
  return 0;
}
