# Drop folders (src/watch/, `sluice watch`): end to end through the program,
# with real inotify, real SQLite files and the engine's jobs. The watcher's
# jobs start worker threads: `threads`, so TSan runs them too.
sluice_shell_test(watch tests/watch/test_watch.sh threads)
set_tests_properties(watch PROPERTIES TIMEOUT 300)
sluice_shell_test(watch_crash tests/watch/test_watch_crash.sh threads)
set_tests_properties(watch_crash PROPERTIES TIMEOUT 300)
sluice_shell_test(watch_serve tests/watch/test_watch_serve.sh threads)
set_tests_properties(watch_serve PROPERTIES TIMEOUT 300)
# Drop folders in object storage (`sluice watch s3://BUCKET/PREFIX/`) against
# the s3rver fixture (tests/s3/tests.cmake).
sluice_shell_test(watch_s3 tests/watch/test_watch_s3.sh threads)
set_tests_properties(watch_s3 PROPERTIES TIMEOUT 300)
sluice_uses_server(watch_s3 s3rver)
# Drop-folder batches: a directory moved in or marked by NAME.done is one job of its files
# (plain, gzip, zstd) against the oracle of loading them one after another; kill -9 mid-batch.
sluice_shell_test(watch_batch tests/watch/test_watch_batch.sh threads)
set_tests_properties(watch_batch PROPERTIES TIMEOUT 300)
