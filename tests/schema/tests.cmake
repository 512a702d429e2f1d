# Tests of the schema module (src/schema/). Included from tests/tests.cmake.
sluice_unit_test(test_schema tests/schema/test_schema.c)
sluice_unit_test(test_values tests/schema/test_values.c)
sluice_unit_test(test_infer tests/schema/test_infer.c)
# `sluice schema infer` end to end: inferred schemas load their files (hand-made,
# generated and the shared corpus) with `sluice ingest` and no false rejects.
sluice_shell_test(schema_infer tests/schema/test_infer.sh)
set_tests_properties(schema_infer PROPERTIES LABELS "threads" TIMEOUT 600 ENVIRONMENT "SLUICE_CORPUS=${SLUICE_SHARED_CORPUS}")
sluice_unit_test(test_header tests/schema/test_header.c)
sluice_unit_test(test_distribution tests/schema/test_distribution.c)
