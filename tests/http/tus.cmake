# tus resumable uploads (src/http/http_tus.c): the real server driven by the
# real tus client (tests/js, node) and curl. Skips when node is missing.
sluice_shell_test(http_tus tests/http/test_tus.sh)
set_tests_properties(http_tus PROPERTIES LABELS "threads" TIMEOUT 300)
