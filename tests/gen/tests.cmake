# Tests of the test-data generator (src/gen/). Included from tests/tests.cmake.
add_executable(test_gen_cdr tests/gen/test_gen_cdr.c)
target_link_libraries(test_gen_cdr PRIVATE sluice_lib PkgConfig::CMOCKA)
add_test(NAME gen_cdr COMMAND test_gen_cdr)
