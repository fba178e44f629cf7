# avf_add_unit_test(NAME SOURCES file.c... LIBS lib... [LABELS label...])
# One cmocka executable per module, registered with CTest under the given labels
# (default: unit). Tests run from the build tree with AVF_TEST_TMPDIR pointing at a
# per-test scratch directory that the test itself creates and removes.
function(avf_add_unit_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  add_executable(${name} ${T_SOURCES})
  # Test binaries stay out of bin/, which holds only the programs.
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${T_LIBS} avf_testutil PkgConfig::CMOCKA)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT 120)
endfunction()
