# CORS, tus X-HTTP-Method-Override and Upload-Expires (tests/http/test_cors.sh).
sluice_shell_test(http_cors tests/http/test_cors.sh)
set_tests_properties(http_cors PROPERTIES LABELS "threads" TIMEOUT 120)
