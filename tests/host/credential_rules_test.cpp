// Every shipped credential rule: its example is redacted under its own id, its
// counterexample is not; ordinary text produces no finding; markers replace only the
// credential, not the text around it.
//
// Every credential-looking sample in this file is fake and sits on a line that says so.
#include <catch2/catch.hpp>
#include <cctype>
#include <set>

#include "secrets/redactor.hpp"

using namespace keyhold::secrets;

namespace {

std::shared_ptr<Redactor> builtin_redactor() {
  auto r = Redactor::create(builtin_credential_rules()).value();
  REQUIRE(r);
  return r;
}

}  // namespace

TEST_CASE("the embedded credential rules parse and compile") {
  REQUIRE_FALSE(builtin_credential_rules().empty());
  auto r = Redactor::create(builtin_credential_rules()).value();
  REQUIRE(r);
}

TEST_CASE("each rule redacts its example and leaves its counterexample") {
  auto r = builtin_redactor();
  for (const auto& rule : builtin_credential_rules()) {
    INFO("rule " << rule.id);
    auto found = r->scan(rule.example);
    bool named = std::any_of(found.begin(), found.end(),
                             [&](const Finding& f) { return f.is_rule && f.label == rule.id; });
    CHECK(named);
    CHECK(r->scan(rule.counterexample).empty());
  }
}

TEST_CASE("each rule's example is one finding named by that rule alone") {
  // A second rule firing on an example would mean two rules claim one format, and the
  // marker would name whichever starts first.
  auto r = builtin_redactor();
  for (const auto& rule : builtin_credential_rules()) {
    INFO("rule " << rule.id << ", redacted: " << r->redacted(rule.example));
    auto found = r->scan(rule.example);
    REQUIRE(found.size() == 1);
    CHECK(found[0].label == rule.id);
  }
}

TEST_CASE("the shipped rules cover the required credential families") {
  std::set<std::string> ids;
  for (const auto& rule : builtin_credential_rules()) ids.insert(rule.id);
  for (const char* id :
       {"aws-access-key", "aws-secret-key", "gcp-service-account-key", "gcp-api-key",
        "azure-storage-key", "azure-ad-client-secret", "github-token", "github-fine-grained-token",
        "gitlab-token", "slack-token", "slack-webhook", "stripe-secret-key", "openai-api-key",
        "anthropic-api-key", "private-key", "jwt", "url-credentials",
        "generic-secret-assignment"}) {
    INFO(id);
    CHECK(ids.count(id) == 1);
  }
}

TEST_CASE("rule ids are lowercase kebab-case and every rule says what it catches") {
  for (const auto& rule : builtin_credential_rules()) {
    INFO("rule " << rule.id);
    CHECK_FALSE(rule.description.empty());
    CHECK(std::all_of(rule.id.begin(), rule.id.end(), [](unsigned char c) {
      return std::islower(c) || std::isdigit(c) || c == '-';
    }));
  }
}

TEST_CASE("ordinary prose, code, identifiers and URLs produce no finding") {
  auto r = builtin_redactor();
  const std::string text = R"(
{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"Found 3 issues"}],
 "structuredContent":{"issues":[{"id":1024,"node_id":"I_kwDOAbCdEf5xYz12",
 "title":"Login fails when password contains a colon","labels":["bug","auth"],
 "created_at":"2026-11-20T10:31:07Z","sha":"9fceb02d0ae598e95dc970b74767f19372d61af8"}]}}}
commit 3f786850e387550fdab836ed7e6dc881de23001b
    auth: rotate the token cache every 10 minutes; password reset emails use a new template
request_id=6f1c2b9e-8d4a-4f3b-9c1e-2a7b5d9e0f13 trace=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
The password must contain at least 12 characters. Your token expires after 3600 seconds.
def login(user, password):
    token = create_token(user.id, ttl=3600)
    password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt(12))
    secret = os.environ["APP_SECRET"]
    api_key = config.get("api_key")
const token = await getAccessToken(client1);
let password: string = props.password;
token: CancellationToken
"max_tokens": 4096, "input_tokens": 1532, "model": "claude-sonnet-4-5-20250929"
https://docs.example.com:8443/guide/v2/install#step-3 http://localhost:3000/api/v1/users?page=2
ssh://git@github.com:22/acme/widgets.git git@github.com:acme/widgets.git mailto:jane@example.com
npm install @scope/pkg@1.2.3 --registry https://registry.npmjs.org/
data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==
docker.io/library/nginx@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
-----BEGIN CERTIFICATE-----
MIIBszCCAVmgAwIBAgIUFAKEFAKEFAKEFAKEFAKEFAKEFAKEwCgYIKoZIzj0EAwIw
-----END CERTIFICATE-----
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAK jane@laptop
UUIDs: 123e4567-e89b-12d3-a456-426614174000, 550e8400-e29b-41d4-a716-446655440000
role arn:aws:iam::123456789012:role/Admin in eu-west-1; bucket arn:aws:s3:::acme-logs-2026
Set AWS_SECRET_ACCESS_KEY in your environment; use `aws configure` to set aws_access_key_id.
Error: ECONNREFUSED 127.0.0.1:5432 (postgres://db.internal:5432/app)
    // TODO(jane): fix the token: refresh logic, see https://example.com/a//b and file:///etc/hosts
The sk-learn library; risk_level: high; task-1234; hex 0123456789abcdef0123456789abcdef
base64 dGhpcyBpcyBub3QgYSBzZWNyZXQsIGp1c3Qgc29tZSB0ZXh0IGVuY29kZWQgaW4gYmFzZTY0
CSS .btn:hover{color:#ff0000} and C++ std::vector<int> v{1,2,3}; a ? b : c;
)";
  auto found = r->scan(text);
  for (const auto& f : found) {
    INFO(f.label << " matched: " << text.substr(f.begin, f.end - f.begin));
    CHECK(false);
  }
  CHECK(found.empty());
}

TEST_CASE("markers replace the credential and keep the text around it") {
  auto r = builtin_redactor();
  // url-credentials: scheme and host stay, user:password goes.
  CHECK(r->redacted("DATABASE_URL=postgres://app:FAKE-example-0123@db.internal:5432/app") ==
        "DATABASE_URL=postgres:[REDACTED:rule:url-credentials]db.internal:5432/app");
  CHECK(r->redacted("redis://:FAKEexamplePass0123@cache:6379/0 ok") ==
        "redis:[REDACTED:rule:url-credentials]cache:6379/0 ok");
  // A JSON pair keeps its quotes balanced: the key's opening quote, the value's closing one.
  CHECK(r->redacted(R"({"user": "admin", "password": "Fake-Example-0123"})") ==
        R"({"user": "admin", "[REDACTED:rule:generic-secret-assignment]"})");
  CHECK(r->redacted("DB_PASSWORD=FakeExample0123 next") ==
        "DB_[REDACTED:rule:generic-secret-assignment] next");
  CHECK(r->redacted("curl 'https://api.example.com/v1?api_key=fake0123456789example&limit=10'") ==
        "curl 'https://api.example.com/v1?[REDACTED:rule:generic-secret-assignment]&limit=10'");
  // A whole PEM block, headers included, becomes one marker; the lines around it stay.
  CHECK(r->redacted("before\n-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"  // fake
                    "DEK-Info: AES-128-CBC,FAKE0123\n\nMIIEfake0123456789EXAMPLE\n"
                    "-----END RSA PRIVATE KEY-----\nafter") ==
        "before\n[REDACTED:rule:private-key]\nafter");
  // A JSON-escaped PEM (\n as two characters) inside a string is one marker too.
  CHECK(r->redacted(R"("key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1fake0123\n)"  // fake
                    R"(-----END OPENSSH PRIVATE KEY-----\n", "x": 1)") ==
        R"("key": "[REDACTED:rule:private-key]\n", "x": 1)");
  // A block cut off before its END line: the header and the body that follows still go.
  CHECK(r->redacted("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIFAKEexample0123") ==  // fake
        "[REDACTED:rule:private-key]");
}

TEST_CASE("credentials in common file formats are redacted") {
  auto r = builtin_redactor();
  // ~/.aws/credentials (fake example values)
  CHECK(r->redacted("[default]\naws_access_key_id = AKIAQX7TESTFAKE4KEYZ\n"  // fake example
                    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYFAKE0123456\n") ==
        "[default]\naws_access_key_id = [REDACTED:rule:aws-access-key]\n"
        "[REDACTED:rule:aws-secret-key]\n");
  // STS AssumeRole result (fake example values)
  CHECK(r->redacted(R"({"AccessKeyId": "ASIAQX7TESTFAKE4KEYZ", )"  // fake example
                    R"("SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYFAKE0123456"})") ==
        R"({"AccessKeyId": "[REDACTED:rule:aws-access-key]", "[REDACTED:rule:aws-secret-key]"})");
  // Authorization headers, whichever the scheme (fake example values)
  CHECK(r->redacted("Authorization: Basic ZmFrZS1leGFtcGxlOjAxMjM0NTY3ODk=\r\n") ==
        "[REDACTED:rule:authorization-header]\r\n");
  CHECK(r->redacted("curl -H 'Authorization: Bearer FAKEopaque0123456789token' x") ==
        "curl -H '[REDACTED:rule:authorization-header]' x");
  // A CLI flag with the value after a space (fake example value)
  CHECK(r->redacted("mysql -u root --password FakeExample0123 db") ==
        "mysql -u root [REDACTED:rule:generic-secret-assignment] db");
}

TEST_CASE("rule files with missing fields or duplicate ids are refused") {
  auto missing = parse_credential_rules("[[rule]]\nid = \"x\"\n", "t.toml");
  CHECK(missing.status().message() == "t.toml: rule 1: needs id and regex");
  auto duplicate = parse_credential_rules(
      "[[rule]]\nid='a'\nregex='a'\nexample='a'\ncounterexample='b'\n"
      "[[rule]]\nid='a'\nregex='b'\nexample='b'\ncounterexample='c'\n",
      "t.toml");
  CHECK(duplicate.status().code() == keyhold::ErrorCode::kInvalidArgument);
  CHECK(duplicate.status().message() == "t.toml: rule 2: duplicate id 'a'");
}

TEST_CASE("shannon entropy") {
  CHECK(shannon_entropy("aaaa") == 0);
  CHECK(shannon_entropy("abcd") == Approx(2.0));
}
