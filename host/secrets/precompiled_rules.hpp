#pragma once
// The shipped credential rules' two Hyperscan databases, serialized at build time by
// host/tools/precompile_rules.cpp and embedded by precompiled_rules.cpp. The redactor
// loads them instead of compiling when it is given exactly the shipped rules and this
// libhs and CPU accept them.
#include <string_view>

namespace keyhold::secrets::precompiled {

// Without start of match (HS_FLAG_SINGLEMATCH): says whether any rule matches.
std::string_view detect();
// With leftmost start of match: where they match.
std::string_view positions();

}  // namespace keyhold::secrets::precompiled
