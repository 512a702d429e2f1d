# CORS, tus X-HTTP-Method-Override and Upload-Expires (tests/http/test_cors.sh).
add_test(NAME http_cors COMMAND bash ${CMAKE_SOURCE_DIR}/tests/http/test_cors.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(http_cors PROPERTIES LABELS "threads" TIMEOUT 120)
