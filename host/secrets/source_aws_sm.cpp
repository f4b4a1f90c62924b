#include "secrets/source_aws_sm.hpp"

namespace keyhold::secrets {

Result<std::unique_ptr<SourceProvider>> make_aws_sm_provider(const std::string&, SourceOptions&) {
  return invalid_argument("aws-sm: is not built yet");
}

}  // namespace keyhold::secrets
