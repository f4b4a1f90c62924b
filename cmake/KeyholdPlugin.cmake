# keyhold_add_plugin(<name> [FIXTURE] <sources>...)
# Builds <name>.so as a keyhold connector plugin: a MODULE library that exports the entry
# symbol keyhold_plugin_entry and nothing else. Hidden visibility alone is not enough:
# libstdc++ declares namespace std with default visibility, so every std:: template the
# plugin instantiates would be exported too (and could interpose on the host's copies); a
# linker version script keeps only the entry. In the keyhold build tree the library lands
# in build/plugins/ and is installed with keyhold, unless it is a FIXTURE (a test plugin,
# some deliberately hostile: never installed).
function(keyhold_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 KH "FIXTURE" "" "")
  add_library(${name} MODULE ${KH_UNPARSED_ARGUMENTS})
  if(TARGET keyhold::plugin_sdk)
    target_link_libraries(${name} PRIVATE keyhold::plugin_sdk)
  endif()
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  set(map ${CMAKE_BINARY_DIR}/keyhold_plugin.map)
  file(CONFIGURE OUTPUT ${map} CONTENT "{ global: keyhold_plugin_entry; local: *; };\n")
  target_link_options(${name} PRIVATE "LINKER:--version-script=${map}")
  set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS ${map})
  if(DEFINED KEYHOLD_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${KEYHOLD_PLUGIN_OUTPUT_DIR})
    if(NOT KH_FIXTURE)
      install(TARGETS ${name} LIBRARY DESTINATION ${KEYHOLD_INSTALL_PLUGINDIR})
    endif()
  endif()
  # Refuse undefined symbols at link time rather than at dlopen time. Not in the fuzz
  # build: clang leaves the sanitizer and coverage hooks for the executable to define.
  if(NOT KEYHOLD_FUZZ)
    target_link_options(${name} PRIVATE -Wl,--no-undefined)
  endif()
endfunction()
