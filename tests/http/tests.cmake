# End-to-end tests of `sluice serve` (src/http/) over loopback with curl,
# against the real server and a real SQLite file. Included from
# tests/tests.cmake; labelled "threads" so it also runs under TSan.
sluice_shell_test(http tests/http/test_http.sh)
set_tests_properties(http PROPERTIES LABELS "threads" TIMEOUT 300)
# Tests of single features, each in its own file (absent ones are skipped).
include(${CMAKE_CURRENT_LIST_DIR}/tus.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/records.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/dashboard.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/api.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/numbers.cmake OPTIONAL)
sluice_shell_test(http_lifecycle tests/http/test_lifecycle.sh)
set_tests_properties(http_lifecycle PROPERTIES LABELS "threads" TIMEOUT 600)
if(SLUICE_SANITIZE)
  # a sanitizer makes every chunk several times slower: smaller files keep
  # the jobs long-running there and the test inside its time
  set_tests_properties(http_lifecycle PROPERTIES ENVIRONMENT "LIFE_ROWS=40000")
endif()
include(${CMAKE_CURRENT_LIST_DIR}/layers.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/limits.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/owners.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/http11.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/conventions.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/cors.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/parse.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/framing.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/refeed.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/upload_s3.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/upload_mode.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/metrics.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/modes_in.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/upload_s3_loop.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/upload_s3_retention.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/gate_bodies.cmake OPTIONAL)
