#pragma once
// The three small conversions at the C ABI line, shared by the host's kh_host_api, the
// runner's proxy of it, and the runner backend: a borrowed kh_str as a view, appending to
// a kh_sink, and a kh_sink that appends to a std::string.
#include <keyhold/plugin.h>

#include <string>
#include <string_view>

namespace keyhold::abi {

inline std::string_view view(kh_str s) {
  return s.data == nullptr ? std::string_view() : std::string_view(s.data, s.size);
}

// Appends bytes to sink; a null sink (or one without append) takes nothing.
inline void write_sink(kh_sink* sink, std::string_view bytes) {
  if (sink != nullptr && sink->append != nullptr)
    sink->append(sink->host_data, bytes.data(), bytes.size());
}

// kh_sink::append for a sink whose host_data is a std::string.
inline void append_to_string(void* host_data, const char* data, size_t size) {
  static_cast<std::string*>(host_data)->append(data, size);
}

}  // namespace keyhold::abi
