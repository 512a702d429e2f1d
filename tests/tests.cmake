# Tests, mirroring src/. Each module's tests live in tests/<module>/ with a
# tests.cmake of their own.
function(sluice_unit_test name src)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE sluice_lib PkgConfig::CMOCKA)
  add_test(NAME ${name} COMMAND ${name} ${ARGN})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "SLUICE_CORPUS=${SLUICE_SHARED_CORPUS}")
  set_property(GLOBAL APPEND PROPERTY SLUICE_NATIVE_TESTS ${name})
endfunction()

# Every test, wherever it is registered (this directory's tests.cmake files,
# CMakeLists.txt), runs with the sanitizers' options set explicitly: a
# report halts with a stack trace and a distinct exit status (ASan and LSan
# 86, UBSan 87, TSan 66), which tests/lib/harness.sh recognises. Appended
# at the end of the directory, after every add_test, so no test is missed
# and a test's own ENVIRONMENT is kept. Every test also gets
# SKIP_RETURN_CODE 77 (the harness's `skip`), unless it set its own or is a
# cmocka test (sluice_unit_test, gen_cdr: their status is the number of
# failed cases, and 77 failures must not read as a skip). And every test
# without a TIMEOUT of its own gets SLUICE_TEST_TIMEOUT seconds: a test
# that hangs (a takeover that never comes) fails with a name instead of
# holding the run until CI's budget is spent.
set(SLUICE_SANITIZER_ENV
    "ASAN_OPTIONS=exitcode=86:halt_on_error=1:abort_on_error=0:detect_leaks=1:print_stacktrace=1"
    "LSAN_OPTIONS=exitcode=86"
    "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=87"
    "TSAN_OPTIONS=exitcode=66:halt_on_error=0:second_deadlock_stack=1")
set(SLUICE_TEST_TIMEOUT 600)
function(sluice_sanitizer_env)
  get_property(all DIRECTORY ${CMAKE_SOURCE_DIR} PROPERTY TESTS)
  get_property(native GLOBAL PROPERTY SLUICE_NATIVE_TESTS)
  list(APPEND native gen_cdr)
  foreach(t IN LISTS all)
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT ${SLUICE_SANITIZER_ENV})
    get_property(limit TEST ${t} PROPERTY TIMEOUT)
    if(NOT limit)
      set_property(TEST ${t} PROPERTY TIMEOUT ${SLUICE_TEST_TIMEOUT})
    endif()
    get_property(skip TEST ${t} PROPERTY SKIP_RETURN_CODE)
    if(NOT skip AND NOT t IN_LIST native)
      set_property(TEST ${t} PROPERTY SKIP_RETURN_CODE 77)
    endif()
  endforeach()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL sluice_sanitizer_env)

# sluice_shell_test(NAME SCRIPT [LABELS...]): a shell test written with
# tests/lib/harness.sh, run as `bash SCRIPT SLUICE SOURCE_DIR`; exit 77 is
# a skip (CTest says "Skipped", never "Passed").
function(sluice_shell_test name script)
  add_test(NAME ${name} COMMAND bash ${CMAKE_SOURCE_DIR}/${script} $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77)
  if(ARGN)
    set_tests_properties(${name} PROPERTIES LABELS "${ARGN}")
  endif()
endfunction()

# Shared servers (PostgreSQL, Citus, s3rver: docs/testing.md, "Shared
# servers"): sluice_shared_server(NAME SCRIPT) registers `bash SCRIPT start`
# as the setup and `bash SCRIPT stop` as the cleanup of the CTest fixture
# NAME, so the server runs once per CTest run, whatever tests need it;
# sluice_uses_server(TEST NAME) makes TEST require it. Both sides find each
# other in ${CMAKE_BINARY_DIR}/fixtures/NAME.env (tests/lib/harness.sh:
# fixture_started, use_fixture).
set(SLUICE_FIXTURES_DIR ${CMAKE_BINARY_DIR}/fixtures)
function(sluice_shared_server name script)
  foreach(step start stop)
    add_test(NAME fixture_${name}_${step}
             COMMAND bash ${CMAKE_SOURCE_DIR}/${script} ${step} $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
    set_tests_properties(fixture_${name}_${step} PROPERTIES
                         ENVIRONMENT "SLUICE_FIXTURES=${SLUICE_FIXTURES_DIR}" LABELS fixture)
  endforeach()
  set_tests_properties(fixture_${name}_start PROPERTIES FIXTURES_SETUP ${name})
  set_tests_properties(fixture_${name}_stop PROPERTIES FIXTURES_CLEANUP ${name})
endfunction()
function(sluice_uses_server test name)
  set_property(TEST ${test} APPEND PROPERTY FIXTURES_REQUIRED ${name})
  set_property(TEST ${test} APPEND PROPERTY ENVIRONMENT "SLUICE_FIXTURES=${SLUICE_FIXTURES_DIR}")
endfunction()

foreach(mod lib base csv gen schema s3 source store pg engine cli conformance http watch)
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
