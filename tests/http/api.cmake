# docs/api.yaml (OpenAPI) checked against the running server: every route
# of the server described, every described operation answering as
# described. Included OPTIONAL from tests/http/tests.cmake.
sluice_shell_test(http_api tests/http/test_api.sh)
set_tests_properties(http_api PROPERTIES LABELS "threads" TIMEOUT 300)
# docs/api.yaml through Redocly's lint and openapi-typescript (npm, tests/js).
add_test(NAME http_api_tools COMMAND bash ${CMAKE_SOURCE_DIR}/tests/http/test_api_tools.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(http_api_tools PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
