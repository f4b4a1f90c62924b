// utf8.hpp - strict UTF-8 (RFC 3629): no overlong forms (C0, C1, E0 80..9F, F0 80..8F),
// no surrogates (ED A0..BF), nothing above U+10FFFF (F4 90.., F5..FF). JSON needs valid
// UTF-8 (nlohmann's dump throws on anything else), so object bodies that fail the check go
// out as base64, and strings from headers or XML have their invalid bytes replaced.
// Pure; tests/s3/s3_xml_test.cpp covers it.
#pragma once

#include <string>
#include <string_view>

namespace keyhold::s3 {

// True when text is strict UTF-8 throughout.
bool is_valid_utf8(std::string_view text);

// text with every byte that does not start a valid sequence replaced by U+FFFD.
std::string to_valid_utf8(std::string_view text);

}  // namespace keyhold::s3
