# What belongs to an API key: tus uploads, idempotency keys, caps on pending
# tus uploads, bearer tokens taken whole (tests/http/test_owners.sh).
add_test(NAME http_owners COMMAND bash ${CMAKE_SOURCE_DIR}/tests/http/test_owners.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(http_owners PROPERTIES LABELS "threads" TIMEOUT 180)
