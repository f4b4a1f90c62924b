#pragma once
// Rotation in the `keyhold vault` commands: `set-rotation`, `rotate --due` / `rotate NAME
// --now`, and the rotation columns of `list` and `status`.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/vault_cli_support.hpp"

namespace keyhold::cli::vault_cli {

// One line for `list` and `status`: "next 2026-...Z, last ok" / "OVERDUE since ..." /
// "last failed: STEP: WHY" / "pending version N (resumes on the next run)".
std::string rotation_summary(const vault::RotationInfo& info, vault::UnixSeconds now);
// The same as JSON.
nlohmann::json rotation_json(const vault::RotationInfo& info, vault::UnixSeconds now);

// Runs `rotate --due` (name empty) or `rotate NAME --now`; prints one line per secret and
// fails with exit 7 when any rotation failed.
void run_rotations(const CommonOptions& common, const std::optional<std::string>& name);

}  // namespace keyhold::cli::vault_cli
