# The upload store's objects after their jobs: deleted once --retention
# passes; a failed multipart upload aborted (tests/http/test_upload_s3_retention.sh).
sluice_shell_test(http_upload_s3_retention tests/http/test_upload_s3_retention.sh threads)
set_tests_properties(http_upload_s3_retention PROPERTIES TIMEOUT 180)
sluice_uses_server(http_upload_s3_retention s3rver)
