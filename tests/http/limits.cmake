# Slow, idle and greedy clients (tests/http/test_limits.sh): the event loop
# holds 500 idle connections and 50 trickling uploads while the probes
# answer; rate floor, per-client limits, trusted proxy.
sluice_shell_test(http_limits tests/http/test_limits.sh)
set_tests_properties(http_limits PROPERTIES LABELS "threads" TIMEOUT 180)
