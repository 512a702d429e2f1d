# Issue 10's service tests, each in its own file: the CLI and the API agree
# on every job's numbers in every state (test_numbers.sh), and a kill -9
# mid-upload leaves nothing behind after a restart (test_partials.sh).
sluice_shell_test(http_numbers tests/http/test_numbers.sh)
set_tests_properties(http_numbers PROPERTIES LABELS "threads" TIMEOUT 300)
sluice_shell_test(http_partials tests/http/test_partials.sh)
set_tests_properties(http_partials PROPERTIES LABELS "threads" TIMEOUT 300)
