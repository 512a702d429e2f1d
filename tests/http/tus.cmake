# tus resumable uploads (src/http/http_tus.c): the real server driven by the
# real tus client (tests/js, node) and curl. Skips when node is missing.
add_test(NAME http_tus COMMAND bash ${CMAKE_SOURCE_DIR}/tests/http/test_tus.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(http_tus PROPERTIES LABELS "threads" TIMEOUT 300)
