# Request bodies through the gate, in many writes, and the requests after
# them (tests/http/test_gate_bodies.sh, raw sockets in gate_bodies.py).
sluice_shell_test(http_gate_bodies tests/http/test_gate_bodies.sh)
set_tests_properties(http_gate_bodies PROPERTIES LABELS "threads" TIMEOUT 120)
