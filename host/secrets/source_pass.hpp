#pragma once
// `pass:NAME`: the entry NAME of the standard Unix password store (`pass show NAME`, which
// decrypts with gpg), run as a command: source (source_command.hpp). The value is the
// entry's first line, pass's own convention for the password; `line=all` takes the whole
// entry. pass reads PASSWORD_STORE_DIR and GNUPGHOME from keyhold's environment as usual.
#include <memory>
#include <string>

#include "secrets/source_provider.hpp"

namespace keyhold::secrets {

Result<std::unique_ptr<SourceProvider>> make_pass_provider(const std::string& ref,
                                                           SourceOptions& options);

}  // namespace keyhold::secrets
