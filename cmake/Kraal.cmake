# Helpers shared by every part of the build.

# kr_add_plugin(<dir>) — in plugins/<kind>/CMakeLists.txt, one line per
# plugin.  A plugin whose folder is gone is skipped, so deleting the folder
# removes the plugin and nothing else.
function(kr_add_plugin dir)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/CMakeLists.txt)
    add_subdirectory(${dir})
  else()
    message(STATUS "kraal: plugin ${dir} not present, skipped")
  endif()
endfunction()

# kr_plugin_module(SOURCES ... [LIBS ...] [KIND k] [NAME n]) — in a plugin's
# own CMakeLists.txt.  Kind and name default to the folder names
# (plugins/<kind>/<name>/), the module is <kind>-<name>.so in
# lib/kraal/plugins and exports only `kraal_plugin`.
function(kr_plugin_module)
  cmake_parse_arguments(P "" "KIND;NAME" "SOURCES;LIBS" ${ARGN})
  if(NOT P_NAME)
    get_filename_component(P_NAME ${CMAKE_CURRENT_SOURCE_DIR} NAME)
  endif()
  if(NOT P_KIND)
    get_filename_component(parent ${CMAKE_CURRENT_SOURCE_DIR} DIRECTORY)
    get_filename_component(P_KIND ${parent} NAME)
  endif()
  set(target plugin-${P_KIND}-${P_NAME})
  add_library(${target} MODULE ${P_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX "" OUTPUT_NAME "${P_KIND}-${P_NAME}"
    LIBRARY_OUTPUT_DIRECTORY ${KRAAL_PLUGIN_OUTPUT_DIR}
    C_VISIBILITY_PRESET hidden)
  target_link_libraries(${target} PRIVATE kraal ${P_LIBS})
  install(TARGETS ${target} LIBRARY DESTINATION ${KRAAL_PLUGIN_INSTALL_DIR})
  set(KR_PLUGIN_TARGET ${target} PARENT_SCOPE)
endfunction()

# kr_add_unit_test(<name> SOURCES ... [LIBS ...] [LABELS ...] [TIMEOUT s])
# — a cmocka test run by ctest.
function(kr_add_unit_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE kraal PkgConfig::CMOCKA ${T_LIBS})
  add_test(NAME ${name} COMMAND ${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "unit;${T_LABELS}"
    ENVIRONMENT "KRAAL_PLUGIN_PATH=${KRAAL_PLUGIN_OUTPUT_DIR}")
endfunction()
