# Conformance of `sluice csv dump` against third-party CSV suites (csv-spectrum,
# PapaParse, DuckDB) kept in the shared corpus.  See docs/conformance.md.
# The test is always registered: a missing corpus or python3 makes it fail, not vanish.
find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_Interpreter_FOUND)
  set(SLUICE_PYTHON3 ${Python3_EXECUTABLE})
else()
  set(SLUICE_PYTHON3 python3)
endif()
add_test(NAME conformance
         COMMAND ${SLUICE_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/conformance/conformance.py
                 --sluice $<TARGET_FILE:sluice> --corpus ${SLUICE_SHARED_CORPUS})
set_tests_properties(conformance PROPERTIES TIMEOUT 300 LABELS conformance)
# Robustness on polluted files (fast subset): sluice --lenient recovers at least
# as many records and cells as Python's csv module, per kind of pollution.
add_test(NAME pollution
         COMMAND ${SLUICE_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/conformance/pollution.py
                 --sluice $<TARGET_FILE:sluice> --corpus ${SLUICE_SHARED_CORPUS}
                 --variants 70 --check)
set_tests_properties(pollution PROPERTIES TIMEOUT 300 LABELS conformance)
