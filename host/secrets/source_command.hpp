#pragma once
// `command:["PROGRAM", "ARG", ...]`: the value is what an administrator's program prints on
// stdout (one trailing newline removed), e.g. `op read`, `bw get password`, `gopass show -o`,
// `vault kv get -field=...`. The argv runs as given (no shell, PATH searched for argv[0]),
// with stdin from nothing, killed when `timeout` passes; what it writes on stderr goes to
// the host's log (which the redactor filters), with the fetched value cut out first.
// `command:PROGRAM` (no brackets) runs a program without arguments.
#include <memory>
#include <string>
#include <vector>

#include "secrets/source_provider.hpp"

namespace keyhold::secrets {

Result<std::unique_ptr<SourceProvider>> make_command_provider(const std::string& ref,
                                                              SourceOptions& options);

// Runs argv as the command source does; label names it in the log and in errors.
Result<vault::SecretBuffer> run_source_command(const std::string& label,
                                               const std::vector<std::string>& argv,
                                               std::chrono::seconds timeout);

}  // namespace keyhold::secrets
