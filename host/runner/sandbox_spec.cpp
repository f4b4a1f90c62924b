#include "runner/sandbox_spec.hpp"

#include <cstdint>
#include <string>

namespace keyhold::runner {
namespace {

using nlohmann::json;

constexpr char kHex[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// sock_filter[] from its hex text; false on anything but whole instructions of hex digits.
bool decode_program(const std::string& hex, std::vector<sock_filter>* code) {
  constexpr std::size_t kDigits = 2 * sizeof(sock_filter);
  if (hex.empty() || hex.size() % kDigits != 0) return false;
  code->resize(hex.size() / kDigits);
  auto* bytes = reinterpret_cast<unsigned char*>(code->data());
  for (std::size_t i = 0; i < hex.size() / 2; ++i) {
    const int high = hex_value(hex[2 * i]), low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    bytes[i] = static_cast<unsigned char>(high << 4 | low);
  }
  return true;
}

void read_seccomp(const json& spec, sandbox::SeccompProgram* program) {
  auto it = spec.find("seccomp");
  if (it == spec.end() || !it->is_object()) return;  // keeps the default reason
  if (auto why = it->find("unavailable"); why != it->end() && why->is_string()) {
    program->unavailable_reason = why->get<std::string>();
    return;
  }
  auto bpf = it->find("bpf");
  if (bpf == it->end() || !bpf->is_string() ||
      !decode_program(bpf->get<std::string>(), &program->code)) {
    program->code.clear();
    program->unavailable_reason = "the compiled seccomp filter in the policy is malformed";
    return;
  }
  program->summary = it->value("summary", std::string("seccomp filter"));
  program->unavailable_reason.clear();
}

}  // namespace

sandbox::Policy policy_from_spec(const json& spec) {
  sandbox::Policy policy;
  if (!spec.is_object()) return policy;
  auto strings = [&](const char* key, std::vector<std::string>* out) {
    if (auto it = spec.find(key); it != spec.end() && it->is_array())
      for (const auto& v : *it)
        if (v.is_string()) out->push_back(v.get<std::string>());
  };
  strings("read", &policy.read_paths);
  strings("write", &policy.write_paths);
  const std::string network = spec.value("network", std::string("none"));
  policy.network = network == "any"         ? sandbox::Network::kAny
                   : network == "allowlist" ? sandbox::Network::kAllowlist
                                            : sandbox::Network::kNone;
  if (auto it = spec.find("ports"); it != spec.end() && it->is_array())
    for (const auto& v : *it)
      if (v.is_number_unsigned() && v.get<std::uint64_t>() <= 65535)
        policy.connect_ports.push_back(static_cast<std::uint16_t>(v.get<std::uint64_t>()));
  policy.allow_udp = spec.value("udp", false);
  policy.unix_sockets = spec.value("unix_sockets", false);
  policy.memory_bytes = spec.value("memory", policy.memory_bytes);
  policy.max_open_files = spec.value("max_open_files", policy.max_open_files);
  policy.max_processes = spec.value("max_processes", policy.max_processes);
  if (spec.value("run_as_nobody", false)) policy.run_as = sandbox::Identity{};
  policy.best_effort = spec.value("best_effort", false);
  read_seccomp(spec, &policy.seccomp);
  return policy;
}

json seccomp_to_spec(const sandbox::SeccompProgram& program) {
  if (program.code.empty()) return {{"unavailable", program.unavailable_reason}};
  const auto* bytes = reinterpret_cast<const unsigned char*>(program.code.data());
  const std::size_t size = program.code.size() * sizeof(sock_filter);
  std::string hex;
  hex.reserve(2 * size);
  for (std::size_t i = 0; i < size; ++i) {
    hex.push_back(kHex[bytes[i] >> 4]);
    hex.push_back(kHex[bytes[i] & 0xf]);
  }
  return {{"bpf", std::move(hex)}, {"summary", program.summary}};
}

}  // namespace keyhold::runner
