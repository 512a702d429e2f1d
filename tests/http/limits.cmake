# Slow, idle and greedy clients (tests/http/test_limits.sh): the event loop
# holds 500 idle connections and 50 trickling uploads while the probes
# answer; rate floor, per-client limits, trusted proxy.
add_test(NAME http_limits COMMAND bash ${CMAKE_SOURCE_DIR}/tests/http/test_limits.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(http_limits PROPERTIES LABELS "threads" TIMEOUT 180)
