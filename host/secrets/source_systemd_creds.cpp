#include "secrets/source_systemd_creds.hpp"

#include <cstdlib>

#include "keyhold/vault/credentials.hpp"

namespace keyhold::secrets {
namespace {

class SystemdCredsProvider : public SourceProvider {
 public:
  explicit SystemdCredsProvider(std::string name) : name_(std::move(name)) {}
  Result<vault::SecretBuffer> fetch(SharedVault*) override {
    const char* directory = std::getenv("CREDENTIALS_DIRECTORY");
    if (directory == nullptr || *directory == '\0')
      return unavailable(
          "CREDENTIALS_DIRECTORY is not set: run keyhold as a systemd service with "
          "LoadCredentialEncrypted=" +
          name_ + ":... (or LoadCredential=) in its unit");
    auto value = vault::read_file_secret(std::filesystem::path(directory) / name_);
    if (!value.is_ok() && value.status().code() == ErrorCode::kNotFound)
      return not_found("the service has no credential '" + name_ + "' in " + directory +
                       " (add LoadCredentialEncrypted=" + name_ + ":... to its unit)");
    return value;
  }

 private:
  std::string name_;
};

}  // namespace

Result<std::unique_ptr<SourceProvider>> make_systemd_creds_provider(const std::string& ref,
                                                                    SourceOptions&) {
  // systemd's own rule for credential names: a file name, nothing that leaves the directory.
  if (ref == "." || ref == ".." || ref.find('/') != std::string::npos)
    return invalid_argument("a credential name is a plain file name (no '/', not . or ..)");
  return std::unique_ptr<SourceProvider>(std::make_unique<SystemdCredsProvider>(ref));
}

}  // namespace keyhold::secrets
