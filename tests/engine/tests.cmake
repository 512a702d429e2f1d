# End-to-end tests of the ingest engine (src/engine/, src/store/) through the
# program, against real SQLite files. Included from tests/tests.cmake.
add_test(NAME ingest COMMAND bash ${CMAKE_SOURCE_DIR}/tests/engine/test_ingest.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(ingest PROPERTIES LABELS "threads" TIMEOUT 900)
add_test(NAME ingest_changed COMMAND bash ${CMAKE_SOURCE_DIR}/tests/engine/test_changed.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(ingest_changed PROPERTIES LABELS "threads" TIMEOUT 300)
