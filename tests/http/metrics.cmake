# The leases and the leader in /metrics: claims, leases held, the leader's term
# and takeovers across two services on one store (issue 12).
sluice_shell_test(http_metrics tests/http/test_metrics_leader.sh)
set_tests_properties(http_metrics PROPERTIES LABELS "threads" TIMEOUT 120)
