# Integrators' conventions (tests/http/test_conventions.sh).
add_test(NAME http_conventions COMMAND bash ${CMAKE_SOURCE_DIR}/tests/http/test_conventions.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(http_conventions PROPERTIES LABELS "threads" TIMEOUT 180)
