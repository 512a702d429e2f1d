# Tests of the schema module (src/schema/). Included from tests/tests.cmake.
sluice_unit_test(test_schema tests/schema/test_schema.c)
sluice_unit_test(test_header tests/schema/test_header.c)
