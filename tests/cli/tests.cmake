# End-to-end tests of the program (cli/). Included from tests/tests.cmake.
add_test(NAME cli COMMAND bash ${CMAKE_SOURCE_DIR}/tests/cli/test_cli.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(cli PROPERTIES LABELS "threads")
add_test(NAME cli10 COMMAND bash ${CMAKE_SOURCE_DIR}/tests/cli/test_cli10.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
# Options no other test used, and the human outputs (tests/cli/test_options.sh).
add_test(NAME cli_options COMMAND bash ${CMAKE_SOURCE_DIR}/tests/cli/test_options.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(cli_options PROPERTIES LABELS "threads" TIMEOUT 300)
# Error codes no other test produced, produced where a user meets them (tests/cli/test_codes.sh).
add_test(NAME cli_codes COMMAND bash ${CMAKE_SOURCE_DIR}/tests/cli/test_codes.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(cli_codes PROPERTIES LABELS "threads" TIMEOUT 300)
# NOT_FOUND and CONFLICT from the commands that name a job (tests/cli/test_not_found.sh).
add_test(NAME cli_not_found COMMAND bash ${CMAKE_SOURCE_DIR}/tests/cli/test_not_found.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
