# ?mode= on uploads: the job's load mode over the dataset's (tests/http/test_upload_mode.sh).
sluice_shell_test(http_upload_mode tests/http/test_upload_mode.sh)
set_tests_properties(http_upload_mode PROPERTIES LABELS "threads" TIMEOUT 180)
