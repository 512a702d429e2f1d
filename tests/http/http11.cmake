# HTTP/1.1 correctness (tests/http/test_http11.sh, raw sockets in http11.py).
sluice_shell_test(http_http11 tests/http/test_http11.sh)
set_tests_properties(http_http11 PROPERTIES LABELS "threads" TIMEOUT 120)
