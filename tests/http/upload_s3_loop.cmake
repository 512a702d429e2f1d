# The event loop answers while an upload streams into a slow bucket
# (tests/http/test_upload_s3_loop.sh; the s3rver fixture's delay fault).
sluice_shell_test(http_upload_s3_loop tests/http/test_upload_s3_loop.sh threads)
set_tests_properties(http_upload_s3_loop PROPERTIES TIMEOUT 180)
sluice_uses_server(http_upload_s3_loop s3rver)
