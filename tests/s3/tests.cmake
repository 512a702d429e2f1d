# The S3 client (src/s3/) against a real S3-protocol server on loopback:
# s3rver with a fault proxy in front (tests/s3/s3rver.cjs), a CTest fixture
# shared by every S3 test. Included from tests/tests.cmake.
sluice_shared_server(s3rver tests/s3/fixture_s3rver.sh)
sluice_unit_test(test_s3 tests/s3/test_s3.c)
# its own skip code: it exits 77 before any case runs when the fixture skipped
set_tests_properties(test_s3 PROPERTIES SKIP_RETURN_CODE 77)
sluice_uses_server(test_s3 s3rver)
sluice_shell_test(s3_ingest tests/s3/test_s3_ingest.sh threads)
set_tests_properties(s3_ingest PROPERTIES TIMEOUT 600)
sluice_uses_server(s3_ingest s3rver)
# The pipelined plan over S3: the chunks handed to the workers by the planner's stream
# (tests/s3/test_s3_pipeline.sh).
sluice_shell_test(s3_pipeline tests/s3/test_s3_pipeline.sh threads)
set_tests_properties(s3_pipeline PROPERTIES TIMEOUT 600)
sluice_uses_server(s3_pipeline s3rver)
