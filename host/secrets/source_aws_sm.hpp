#pragma once
// `aws-sm:ID[#FIELD]`: AWS Secrets Manager GetSecretValue for the secret ID (a name or an
// ARN), signed with the host's own SigV4 code (signing.hpp) and sent with libcurl. The
// value is SecretString (or the decoded SecretBinary); with #FIELD, SecretString is a JSON
// object and the value is its string member FIELD.
//
// Options:
//   stage=LABEL        VersionStage (default AWSCURRENT); version_id=ID asks for one version
//   region=REGION      else the ARN's region, else $AWS_REGION / $AWS_DEFAULT_REGION
//   endpoint=URL       else $AWS_ENDPOINT_URL_SECRETS_MANAGER / $AWS_ENDPOINT_URL, else
//                      https://secretsmanager.REGION.amazonaws.com; http:// only to loopback
//   credentials=env    (default) $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY and optional
//                      $AWS_SESSION_TOKEN, read at each fetch
//   credentials=vault:NAME  the vault secret NAME, a JSON object {"AccessKeyId": ...,
//                      "SecretAccessKey": ..., "SessionToken": ...} (the shape of
//                      credential_process and STS); the session token is optional
#include <memory>
#include <string>

#include "secrets/source_provider.hpp"

namespace keyhold::secrets {

Result<std::unique_ptr<SourceProvider>> make_aws_sm_provider(const std::string& ref,
                                                             SourceOptions& options);

}  // namespace keyhold::secrets
