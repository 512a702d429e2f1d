# Tests of the CSV engine (src/csv/). Included from tests/tests.cmake.
sluice_unit_test(test_csv tests/csv/test_csv.c)
sluice_unit_test(test_csv_corpus tests/csv/test_corpus.c ${SLUICE_SHARED_CORPUS})
set_tests_properties(test_csv_corpus PROPERTIES LABELS "corpus")
target_link_libraries(test_csv_corpus PRIVATE PkgConfig::ZLIB)
sluice_unit_test(test_csv_messy tests/csv/test_csv_messy.c)
sluice_shell_test(csv_cli tests/csv/test_csv_cli.sh)
