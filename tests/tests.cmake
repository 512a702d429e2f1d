# Tests, mirroring src/. Each module's tests live in tests/<module>/ with a
# tests.cmake of their own.
function(sluice_unit_test name src)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE sluice_lib PkgConfig::CMOCKA)
  add_test(NAME ${name} COMMAND ${name} ${ARGN})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "SLUICE_CORPUS=${SLUICE_SHARED_CORPUS}")
endfunction()

foreach(mod base csv gen schema store engine cli conformance http)
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/${mod}/tests.cmake)
    include(${CMAKE_SOURCE_DIR}/tests/${mod}/tests.cmake)
  endif()
endforeach()
