# End-to-end tests of the ingest engine (src/engine/, src/store/) through the
# program, against real SQLite files. Included from tests/tests.cmake.
add_test(NAME ingest COMMAND bash ${CMAKE_SOURCE_DIR}/tests/engine/test_ingest.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(ingest PROPERTIES LABELS "threads" TIMEOUT 900)
# Header and columns, lenient mapping, dialect options, validate's listing (issue 9).
add_test(NAME ingest_columns COMMAND bash ${CMAKE_SOURCE_DIR}/tests/engine/test_columns.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(ingest_columns PROPERTIES TIMEOUT 300)
# Loading the same file again: reported, not repeated; kill -9 between the last commit and the exit.
add_test(NAME ingest_reload COMMAND bash ${CMAKE_SOURCE_DIR}/tests/engine/test_reload.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(ingest_reload PROPERTIES TIMEOUT 300)
add_test(NAME ingest_types COMMAND bash ${CMAKE_SOURCE_DIR}/tests/engine/test_types.sh $<TARGET_FILE:sluice>)
set_tests_properties(ingest_types PROPERTIES LABELS "threads" TIMEOUT 300)
add_test(NAME ingest_changed COMMAND bash ${CMAKE_SOURCE_DIR}/tests/engine/test_changed.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(ingest_changed PROPERTIES LABELS "threads" TIMEOUT 300)
