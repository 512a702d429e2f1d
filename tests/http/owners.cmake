# What belongs to an API key: tus uploads, idempotency keys, caps on pending
# tus uploads, bearer tokens taken whole (tests/http/test_owners.sh).
sluice_shell_test(http_owners tests/http/test_owners.sh)
set_tests_properties(http_owners PROPERTIES LABELS "threads" TIMEOUT 180)
