# End-to-end tests of the ingest engine (src/engine/, src/store/) through the
# program, against real SQLite files. Included from tests/tests.cmake.
sluice_shell_test(ingest tests/engine/test_ingest.sh)
set_tests_properties(ingest PROPERTIES LABELS "threads" TIMEOUT 900)
# Header and columns, lenient mapping, dialect options, validate's listing (issue 9).
sluice_shell_test(ingest_columns tests/engine/test_columns.sh)
set_tests_properties(ingest_columns PROPERTIES TIMEOUT 300)
# Loading the same file again: reported, not repeated; kill -9 between the last commit and the exit.
sluice_shell_test(ingest_reload tests/engine/test_reload.sh)
set_tests_properties(ingest_reload PROPERTIES TIMEOUT 300)
sluice_shell_test(ingest_types tests/engine/test_types.sh)
set_tests_properties(ingest_types PROPERTIES LABELS "threads" TIMEOUT 300)
sluice_shell_test(ingest_changed tests/engine/test_changed.sh)
set_tests_properties(ingest_changed PROPERTIES LABELS "threads" TIMEOUT 300)
# Leases on chunks: SIGSTOP past the lease (commit refused), a lease expiring during its
# commit, a killed holder's lease void at once, cancel with workers (issue 11).
sluice_shell_test(ingest_lease tests/engine/test_lease.sh)
set_tests_properties(ingest_lease PROPERTIES LABELS "threads" TIMEOUT 300)
# Chunks committed in any order: shuffled commit orders against a one-thread load
# (reject, ignore, update), and 2 and 3 workers + ingest on one job under kill -9.
sluice_shell_test(ingest_workers tests/engine/test_workers.sh)
set_tests_properties(ingest_workers PROPERTIES LABELS "threads" TIMEOUT 900)
# A fault in the sink's flush: rollback, discard, retry; the result equals a clean load (tests/engine/test_sink_faults.sh).
sluice_shell_test(ingest_sink_faults tests/engine/test_sink_faults.sh)
set_tests_properties(ingest_sink_faults PROPERTIES TIMEOUT 300)
# Fix and refeed: rejected rows loaded again through a fixed schema (sluice refeed).
sluice_shell_test(ingest_refeed tests/engine/test_refeed.sh)
set_tests_properties(ingest_refeed PROPERTIES LABELS "threads" TIMEOUT 300)
# Lookup indexes of `index: true` columns built at the job's end; kill -9 and resume (issue 11).
sluice_shell_test(ingest_index tests/engine/test_index.sh)
set_tests_properties(ingest_index PROPERTIES TIMEOUT 300)
# Load modes (issue 11): replace and atomic against readers in another process, the
# error budget, kill -9 during the load and around the swap/merge, on_duplicate update.
sluice_shell_test(ingest_modes tests/engine/test_modes.sh)
set_tests_properties(ingest_modes PROPERTIES LABELS "threads" TIMEOUT 600)
# Rows inserted and rows updated counted apart, against Python's count of the file (issue 12).
sluice_shell_test(ingest_counts_split tests/engine/test_counts_split.sh)
# The SQLite sink's WAL checkpoints on their own thread: a big load, a kill -9
# during it and its resume (src/store/store_sqlite_ckpt.c).
sluice_shell_test(ingest_ckpt tests/engine/test_ckpt.sh threads)
# Several files as one job (issue 13): a glob or paths of plain, gzip and zstd files against
# the oracle of loading them one after another; headers, a changed set, kill -9 and resume.
sluice_shell_test(ingest_multifile tests/engine/test_multifile.sh)
set_tests_properties(ingest_multifile PROPERTIES LABELS "threads" TIMEOUT 600)
# The leader and the reaper: a poison chunk ends Failed (ATTEMPTS), the leader
# killed -9 is replaced within the TTL, a SIGSTOPped leader's writes are refused
# (TERM_LOST), a stopped leader steps down, retention (issue 12).
sluice_shell_test(ingest_leader tests/engine/test_leader.sh)
set_tests_properties(ingest_leader PROPERTIES LABELS "threads" TIMEOUT 300)

# a poison chunk under ingest's parallel readers: its spent attempts are
# checked at the claim, before any reader parses it
sluice_shell_test(ingest_poison_readers tests/engine/test_poison_readers.sh threads)
# The refeed's input read from the job store as a source: kill -9 in a refeed and resume
# (every row once, resolved marks once), rows changed or gone before a resume (issue 11).
sluice_shell_test(ingest_refeed_kill tests/engine/test_refeed_kill.sh)
set_tests_properties(ingest_refeed_kill PROPERTIES TIMEOUT 300)
# The pipelined plan (issue 13): a compressed file's chunks handed to the workers by the
# planning pass; the same rows as the plain file, chunks committed while the job is
# Chunking, kill -9 mid-plan resumed exactly once, a truncated .gz keeping what committed.
sluice_shell_test(ingest_pipeline tests/engine/test_pipeline.sh)
set_tests_properties(ingest_pipeline PROPERTIES LABELS "threads" TIMEOUT 600)
