#include "secrets/precompiled_rules.hpp"

#include "rules_db_stamp.hpp"  // generated beside the databases

static_assert(sizeof(KEYHOLD_RULES_DB_STAMP) > 1, "the databases' content stamp");

// The build writes the two files (host/CMakeLists.txt) and passes their directory as
// KEYHOLD_RULES_DB_DIR; the assembler copies them into .rodata.
#define KEYHOLD_STRINGIFY2(x) #x
#define KEYHOLD_STRINGIFY(x) KEYHOLD_STRINGIFY2(x)

__asm__(".section .rodata\n"
        ".balign 16\n"
        ".hidden keyhold_rules_detect\n"
        "keyhold_rules_detect:\n"
        ".incbin \"" KEYHOLD_STRINGIFY(KEYHOLD_RULES_DB_DIR) "/detect.hsdb\"\n"
        ".hidden keyhold_rules_detect_end\n"
        "keyhold_rules_detect_end:\n"
        ".balign 16\n"
        ".hidden keyhold_rules_positions\n"
        "keyhold_rules_positions:\n"
        ".incbin \"" KEYHOLD_STRINGIFY(KEYHOLD_RULES_DB_DIR) "/positions.hsdb\"\n"
        ".hidden keyhold_rules_positions_end\n"
        "keyhold_rules_positions_end:\n"
        ".previous\n");

extern "C" {
extern const char keyhold_rules_detect[];
extern const char keyhold_rules_detect_end[];
extern const char keyhold_rules_positions[];
extern const char keyhold_rules_positions_end[];
}

namespace keyhold::secrets::precompiled {

std::string_view detect() {
  return {keyhold_rules_detect,
          static_cast<std::size_t>(keyhold_rules_detect_end - keyhold_rules_detect)};
}

std::string_view positions() {
  return {keyhold_rules_positions,
          static_cast<std::size_t>(keyhold_rules_positions_end - keyhold_rules_positions)};
}

}  // namespace keyhold::secrets::precompiled
