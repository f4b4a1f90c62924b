# Compiles the C++ plugin example of README.md ("## Writing a plugin") as printed, with the
# flags its text gives for builds without CMake, warnings as errors, and checks that the
# library exports the entry symbol and nothing else. Run by ctest as
#   cmake -DREADME=... -DINCLUDE_DIR=... -DCXX=... -DWORK_DIR=... -P readme_plugin.cmake
foreach(var README INCLUDE_DIR CXX WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "readme_plugin.cmake needs -D${var}=...")
  endif()
endforeach()

file(READ "${README}" text)
string(FIND "${text}" "## Writing a plugin" section)
if(section EQUAL -1)
  message(FATAL_ERROR "README.md has no '## Writing a plugin' section")
endif()
string(SUBSTRING "${text}" ${section} -1 text)
# The first ```cpp block of the section, up to its closing fence.
string(FIND "${text}" "```cpp\n" open)
if(open EQUAL -1)
  message(FATAL_ERROR "'## Writing a plugin' in README.md has no ```cpp block")
endif()
math(EXPR open "${open} + 7")
string(SUBSTRING "${text}" ${open} -1 text)
string(FIND "${text}" "\n```" close)
math(EXPR close "${close} + 1")
string(SUBSTRING "${text}" 0 ${close} snippet)
if(NOT snippet MATCHES "KEYHOLD_PLUGIN\\(")
  message(FATAL_ERROR "the README example found is not a plugin:\n${snippet}")
endif()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
file(WRITE "${WORK_DIR}/hello.cpp" "${snippet}")
set(library "${WORK_DIR}/hello.so")
set(map "${WORK_DIR}/keyhold_plugin.map")
file(WRITE "${map}" "{ global: keyhold_plugin_entry; local: *; };\n")
# The flags README.md gives for builds without keyhold_add_plugin.
execute_process(
  COMMAND "${CXX}" -std=c++20 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden
          -fvisibility-inlines-hidden "-Wl,--version-script=${map}" -Wl,--no-undefined
          -I "${INCLUDE_DIR}" "${WORK_DIR}/hello.cpp" -o "${library}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the README plugin example does not compile as printed:\n${out}")
endif()

include(${CMAKE_CURRENT_LIST_DIR}/exported_symbols.cmake)
keyhold_check_only_entry_exported("${library}")
message(STATUS "README plugin example compiles; hello.so exports only keyhold_plugin_entry")
