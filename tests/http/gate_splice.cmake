# Request bodies spliced by the gate (tests/http/test_gate_splice.sh, raw sockets in splice.py).
sluice_shell_test(http_gate_splice tests/http/test_gate_splice.sh)
set_tests_properties(http_gate_splice PROPERTIES LABELS "threads" TIMEOUT 120)
