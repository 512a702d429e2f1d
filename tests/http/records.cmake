# The records API (GET /v1/datasets/{name}/records, /records/{key}) end to
# end over loopback; included OPTIONAL from tests/http/tests.cmake.
sluice_shell_test(http_records tests/http/test_records.sh)
set_tests_properties(http_records PROPERTIES LABELS "threads" TIMEOUT 300)
sluice_shell_test(http_records_types tests/http/test_records_types.sh)
set_tests_properties(http_records_types PROPERTIES LABELS "threads" TIMEOUT 120)
