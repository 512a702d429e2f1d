# The records API (GET /v1/datasets/{name}/records, /records/{key}) end to
# end over loopback; included OPTIONAL from tests/http/tests.cmake.
add_test(NAME http_records COMMAND bash ${CMAKE_SOURCE_DIR}/tests/http/test_records.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(http_records PROPERTIES LABELS "threads" TIMEOUT 300)
add_test(NAME http_records_types COMMAND bash ${CMAKE_SOURCE_DIR}/tests/http/test_records_types.sh $<TARGET_FILE:sluice> ${CMAKE_SOURCE_DIR})
set_tests_properties(http_records_types PROPERTIES LABELS "threads" TIMEOUT 120)
