# End-to-end tests of the program (cli/). Included from tests/tests.cmake.
add_test(NAME cli COMMAND bash ${CMAKE_SOURCE_DIR}/tests/cli/test_cli.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(cli PROPERTIES LABELS "threads")
add_test(NAME cli10 COMMAND bash ${CMAKE_SOURCE_DIR}/tests/cli/test_cli10.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
