# keyhold_add_plugin(<name> [FIXTURE] <sources>...)
# Builds <name>.so as a keyhold connector plugin: a MODULE library with hidden
# visibility, so only the entry symbol (KH_EXPORT) is exported. In the keyhold build
# tree the library lands in build/plugins/ and is installed with keyhold, unless it is a
# FIXTURE (a test plugin, some deliberately hostile: never installed).
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
