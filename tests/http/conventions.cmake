# Integrators' conventions (tests/http/test_conventions.sh).
sluice_shell_test(http_conventions tests/http/test_conventions.sh)
set_tests_properties(http_conventions PROPERTIES LABELS "threads" TIMEOUT 180)
