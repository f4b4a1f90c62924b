#pragma once
// `aws-sm:ID[#FIELD]`: AWS Secrets Manager GetSecretValue.
#include <memory>
#include <string>

#include "secrets/source_provider.hpp"

namespace keyhold::secrets {

Result<std::unique_ptr<SourceProvider>> make_aws_sm_provider(const std::string& ref,
                                                             SourceOptions& options);

}  // namespace keyhold::secrets
