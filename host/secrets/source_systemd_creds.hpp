#pragma once
// `systemd-creds:NAME`: the credential NAME that systemd handed the service, i.e. the file
// $CREDENTIALS_DIRECTORY/NAME (LoadCredential=, LoadCredentialEncrypted=, SetCredential=;
// see the README for a unit file). The file's bytes are the value, as systemd-creds wrote
// them (no newline is removed). Fails when keyhold does not run with a credentials
// directory or the service was not given NAME.
#include <memory>
#include <string>

#include "secrets/source_provider.hpp"

namespace keyhold::secrets {

Result<std::unique_ptr<SourceProvider>> make_systemd_creds_provider(const std::string& ref,
                                                                    SourceOptions& options);

}  // namespace keyhold::secrets
