# HTTP/1.1 correctness (tests/http/test_http11.sh, raw sockets in http11.py).
add_test(NAME http_http11 COMMAND bash ${CMAKE_SOURCE_DIR}/tests/http/test_http11.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(http_http11 PROPERTIES LABELS "threads" TIMEOUT 120)
