# Uploads kept in object storage (`sluice serve --upload-store s3://...`),
# presigned direct uploads and a `watch:` entry for a bucket, against the
# s3rver fixture (tests/s3/tests.cmake).
sluice_shell_test(http_upload_s3 tests/http/test_upload_s3.sh threads)
set_tests_properties(http_upload_s3 PROPERTIES TIMEOUT 300)
sluice_uses_server(http_upload_s3 s3rver)
