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

# The ledger of error codes the program reports (sl__error_report, base.h):
# every test writes what it made the program report to codes/<test>.tsv;
# codes_ledger_reset empties the ledger before the tests that need it, and
# codes_coverage, after all of them, lists the codes of include/sluice/error.h
# no test produced (tests/codes_coverage.py; the reasons for the ones no test
# can produce are in tests/codes_exempt.tsv).
set(SLUICE_CODES_DIR ${CMAKE_BINARY_DIR}/codes)
get_property(sluice_all_tests DIRECTORY PROPERTY TESTS)
add_test(NAME codes_ledger_reset
         COMMAND sh -c "rm -rf \"$0\" && mkdir -p \"$0\"" ${SLUICE_CODES_DIR})
set_tests_properties(codes_ledger_reset PROPERTIES FIXTURES_SETUP codes_ledger)
foreach(t ${sluice_all_tests})
  set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "SLUICE_CODES_LOG=${SLUICE_CODES_DIR}/${t}.tsv")
  set_property(TEST ${t} APPEND PROPERTY FIXTURES_REQUIRED codes_ledger)
endforeach()
find_package(Python3 COMPONENTS Interpreter QUIET)
set(SLUICE_PY python3)
if(Python3_Interpreter_FOUND)
  set(SLUICE_PY ${Python3_EXECUTABLE})
endif()
add_test(NAME codes_coverage
         COMMAND ${SLUICE_PY} ${CMAKE_SOURCE_DIR}/tests/codes_coverage.py
                 ${CMAKE_SOURCE_DIR}/include/sluice/error.h ${SLUICE_CODES_DIR}
                 ${CMAKE_SOURCE_DIR}/tests/codes_exempt.tsv)
set_tests_properties(codes_coverage PROPERTIES DEPENDS "${sluice_all_tests}"
                     FIXTURES_REQUIRED codes_ledger LABELS coverage)
# the check itself must fail on an empty ledger (it cannot pass vacuously)
add_test(NAME codes_coverage_selftest
         COMMAND ${SLUICE_PY} ${CMAKE_SOURCE_DIR}/tests/codes_coverage.py --selftest
                 ${CMAKE_SOURCE_DIR}/include/sluice/error.h
                 ${CMAKE_SOURCE_DIR}/tests/codes_exempt.tsv)
