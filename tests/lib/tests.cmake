# The harness of the shell tests checked with fake programs (a sanitizer
# report must fail a test; skips exit 77; servers on port 0) and the oracle
# on a small file. Included from tests/tests.cmake.
sluice_shell_test(harness tests/lib/test_harness.sh)
