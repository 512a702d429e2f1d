# Unit tests of the sources (src/source/): the file source, the gzip and
# zstd decoders, access points and ranged readers, corrupt and truncated
# streams. Included from tests/tests.cmake. The end-to-end loads of
# compressed files are tests/source/test_compressed.sh.
sluice_unit_test(test_source tests/source/test_source.c)
set_tests_properties(test_source PROPERTIES LABELS "threads" TIMEOUT 300)
sluice_shell_test(source_compressed tests/source/test_compressed.sh)
set_tests_properties(source_compressed PROPERTIES LABELS "threads" TIMEOUT 900)
# Standard input, a FIFO, --from-program.
sluice_shell_test(source_streams tests/source/test_streams.sh)
set_tests_properties(source_streams PROPERTIES LABELS "threads" TIMEOUT 600)
# The set source (several files as one stream): headers left out, newlines added, the
# layout learned or set, cuts, ranged reads from points on several threads.
sluice_unit_test(source_multi tests/source/test_multi.c)
set_tests_properties(source_multi PROPERTIES LABELS "threads" TIMEOUT 300)
