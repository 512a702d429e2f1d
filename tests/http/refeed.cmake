# POST /v1/jobs/{id}/refeed: fix and refeed over the API (tests/http/test_refeed_api.sh).
sluice_shell_test(http_refeed tests/http/test_refeed_api.sh)
set_tests_properties(http_refeed PROPERTIES LABELS "threads" TIMEOUT 180)
