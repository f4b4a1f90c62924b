// keyhold/sdk/paths.hpp - where keyhold keeps its data by default: $XDG_DATA_HOME/keyhold
// when XDG_DATA_HOME is an absolute path (the XDG spec says to ignore a relative one),
// else $HOME/.local/share/keyhold. The vault, a connector's history or a demo database
// live below it. Nothing is created here: the caller creates what it needs (0700 for a
// directory that holds secrets).
#pragma once

#include <keyhold/sdk/result.hpp>

#include <cstdlib>
#include <string>
#include <string_view>

namespace keyhold::sdk {

// The keyhold data directory for the given XDG_DATA_HOME and HOME values (empty when
// unset), without a trailing '/'; an error when neither gives a directory.
inline Result<std::string> keyhold_data_dir(std::string_view xdg_data_home, std::string_view home) {
  const auto strip = [](std::string path) {
    while (!path.empty() && path.back() == '/') path.pop_back();
    return path;
  };
  if (!xdg_data_home.empty() && xdg_data_home.front() == '/')
    return Result<std::string>::success(strip(std::string(xdg_data_home)) + "/keyhold");
  if (!home.empty() && home.front() == '/')
    return Result<std::string>::success(strip(std::string(home)) + "/.local/share/keyhold");
  return Result<std::string>::failure(
      "cannot find the keyhold data directory: neither XDG_DATA_HOME nor HOME is set to an "
      "absolute path");
}

// The same, from this process's environment.
inline Result<std::string> keyhold_data_dir() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  const char* home = std::getenv("HOME");
  return keyhold_data_dir(xdg != nullptr ? xdg : "", home != nullptr ? home : "");
}

}  // namespace keyhold::sdk
