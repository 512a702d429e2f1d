# Framing refused by the gate before libmicrohttpd (tests/http/test_framing.sh, raw sockets in framing.py).
sluice_shell_test(http_framing tests/http/test_framing.sh)
set_tests_properties(http_framing PROPERTIES LABELS "threads" TIMEOUT 120)
