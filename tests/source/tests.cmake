# Unit tests of the sources (src/source/): the file source, the gzip and
# zstd decoders, access points and ranged readers, corrupt and truncated
# streams. Included from tests/tests.cmake. The end-to-end loads of
# compressed files are tests/source/test_compressed.sh.
sluice_unit_test(test_source tests/source/test_source.c)
set_tests_properties(test_source PROPERTIES LABELS "threads" TIMEOUT 300)
# The same unit tests with zlib forced (SLUICE_GZIP_DECODER=zlib: ISA-L is
# the default of a build with libisal), and both decoders compared on the
# same files, truncated and flipped (tests/source/test_gzip_decoders.c).
add_test(NAME test_source_zlib COMMAND test_source)
set_tests_properties(test_source_zlib PROPERTIES LABELS "threads" TIMEOUT 300
                     ENVIRONMENT "SLUICE_GZIP_DECODER=zlib")
set_property(GLOBAL APPEND PROPERTY SLUICE_NATIVE_TESTS test_source_zlib)
sluice_unit_test(gzip_decoders tests/source/test_gzip_decoders.c)
set_tests_properties(gzip_decoders PROPERTIES TIMEOUT 600)
sluice_shell_test(source_compressed tests/source/test_compressed.sh)
set_tests_properties(source_compressed PROPERTIES LABELS "threads" TIMEOUT 900)
# Standard input, a FIFO, --from-program.
sluice_shell_test(source_streams tests/source/test_streams.sh)
set_tests_properties(source_streams PROPERTIES LABELS "threads" TIMEOUT 600)
# The set source (several files as one stream): headers left out, newlines added, the
# layout learned or set, cuts, ranged reads from points on several threads.
sluice_unit_test(source_multi tests/source/test_multi.c)
set_tests_properties(source_multi PROPERTIES LABELS "threads" TIMEOUT 300)
