# Issue 10's service tests, each in its own file: the CLI and the API agree
# on every job's numbers in every state (test_numbers.sh), and a kill -9
# mid-upload leaves nothing behind after a restart (test_partials.sh).
add_test(NAME http_numbers COMMAND bash ${CMAKE_SOURCE_DIR}/tests/http/test_numbers.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(http_numbers PROPERTIES LABELS "threads" TIMEOUT 300)
add_test(NAME http_partials COMMAND bash ${CMAKE_SOURCE_DIR}/tests/http/test_partials.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(http_partials PROPERTIES LABELS "threads" TIMEOUT 300)
