#pragma once
// Matching a resource URI against the URI templates (RFC 6570) that resources/templates/list
// announces, to find which instance serves a resources/read.
#include <string_view>

namespace keyhold {

// True when `uri` is an expansion of `uri_template`: each simple {var} matches one or more
// characters other than '/', a reserved {+var} or fragment {#var} ("#" then the value)
// may span '/'; literal text must match exactly.
bool template_matches(std::string_view uri_template, std::string_view uri);

}  // namespace keyhold
