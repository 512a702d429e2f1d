# Tests of the PostgreSQL module (src/pg/), against one real server per
# CTest run: the `postgres` fixture (tests/pg/fixture_postgres.sh; Debian's
# postgresql-15, initdb in a temp dir). Every test that needs it says so
# with sluice_uses_server() and works in its own database. Included from
# tests/tests.cmake.
#
# The `threads` label here (what `make test` runs under TSan): the tests
# that drive each of sluice's own threaded paths against PostgreSQL and
# Citus, where every thread (the writer, the lease heartbeat, the leader's
# candidate, serve's runners, the worker's LISTEN wait) opens a connection
# of its own and runs src/pg/ and src/store/store_pg*.c at the same time:
#   engine readers + writer    pg_ingest      citus_ingest
#   workers, leases, kill -9   pg_workers     citus_restart (also the
#                                             reconnect of every thread)
#   leader and reaper          pg_leader
#   serve (gate, pool, SSE)    pg_cli
#   worker woken by NOTIFY     pg_notify
# The other end-to-end tests (pg_restart, pg_copy, pg_determinism,
# pg_multifile, pg_modes, pg_refeed, pg_chaos, pg_maxconn, pg_lease_stop)
# run the same threads as those and as their SQLite twins, which TSan runs
# (ingest_*, cli*, http*): what differs is SQL and server behaviour, which
# the ASan+UBSan run and the normal build test; under TSan they would spend
# their time in the server and the shell, not in sluice's threads.
sluice_shared_server(postgres tests/pg/fixture_postgres.sh)

# the module's own cases (cmocka), run by a shell wrapper that reads the fixture
add_executable(test_pg tests/pg/test_pg.c)
target_include_directories(test_pg PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_pg PRIVATE sluice_lib PkgConfig::CMOCKA)
add_test(NAME pg_unit COMMAND bash ${CMAKE_SOURCE_DIR}/tests/pg/run_unit.sh $<TARGET_FILE:sluice>
         ${CMAKE_SOURCE_DIR} $<TARGET_FILE:test_pg>)
sluice_uses_server(pg_unit postgres)

# the conformance suites of the sink, the job store and its leases
# (tests/store/), on PostgreSQL: the same binaries with
# SLUICE_STORE_BACKEND=postgres
foreach(suite jobstore sink lease_store job_final leader_store)
  add_test(NAME pg_${suite} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/pg/run_unit.sh $<TARGET_FILE:sluice>
           ${CMAKE_SOURCE_DIR} $<TARGET_FILE:test_${suite}>)
  set_tests_properties(pg_${suite} PROPERTIES ENVIRONMENT "SLUICE_STORE_BACKEND=postgres")
  sluice_uses_server(pg_${suite} postgres)
endforeach()

# sluice ingest --db postgres://... end to end (against SQLite, the oracle, the manifest)
sluice_shell_test(pg_ingest tests/pg/test_pg_ingest.sh threads)
sluice_uses_server(pg_ingest postgres)

# the server restarted (fast, immediate) mid-load: reconnect, retry, exactly once (its own server)
sluice_shell_test(pg_restart tests/pg/test_pg_restart.sh)
sluice_uses_server(pg_restart postgres)

# what only PostgreSQL's leases must do: claims and fences of two
# connections with transactions open at once (SKIP LOCKED, the fence's lock)
add_executable(test_pg_lease tests/pg/test_pg_lease.c tests/store/backends.c
               tests/store/lease_suite.c)
target_include_directories(test_pg_lease PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_pg_lease PRIVATE sluice_lib PkgConfig::CMOCKA)
add_test(NAME pg_lease COMMAND bash ${CMAKE_SOURCE_DIR}/tests/pg/run_unit.sh $<TARGET_FILE:sluice>
         ${CMAKE_SOURCE_DIR} $<TARGET_FILE:test_pg_lease>)
set_tests_properties(pg_lease PROPERTIES ENVIRONMENT "SLUICE_STORE_BACKEND=postgres")
sluice_uses_server(pg_lease postgres)

# sluice ingest and two sluice workers on one job in PostgreSQL, killed -9 at random: every row once
sluice_shell_test(pg_workers tests/pg/test_pg_workers.sh threads)
sluice_uses_server(pg_workers postgres)

# COPY binary and COPY text give the same table (every type, values at their edges)
sluice_shell_test(pg_copy tests/pg/test_pg_copy.sh)
sluice_uses_server(pg_copy postgres)

# chunks committed out of file order on PostgreSQL (shuffled claims, and a
# worker committing while the ingest is paused inside an earlier commit):
# the table, rejects and counts of a one-thread SQLite load, for reject,
# ignore and update
sluice_shell_test(pg_determinism tests/pg/test_pg_determinism.sh)
sluice_uses_server(pg_determinism postgres)
# several files as one job on PostgreSQL: as SQLite, the manifest and rejects' files, kill -9
sluice_shell_test(pg_multifile tests/pg/test_pg_multifile.sh)
sluice_uses_server(pg_multifile postgres)
# load modes (replace, atomic) on PostgreSQL: readers, kill -9 at the swap and the merge, resume
sluice_shell_test(pg_modes tests/pg/test_pg_modes.sh)
sluice_uses_server(pg_modes postgres)
set_tests_properties(pg_modes PROPERTIES TIMEOUT 600)

# fix and refeed on PostgreSQL: the refeed story of tests/engine/test_refeed.sh, 1 and 4 threads
sluice_shell_test(pg_refeed tests/pg/test_pg_refeed.sh)
sluice_uses_server(pg_refeed postgres)

# every command on PostgreSQL (jobs, status, errors, retry, cancel, rollback, gc, refeed,
# worker, serve and the records API), /healthz/ready, two serve instances on one store
sluice_shell_test(pg_cli tests/pg/test_pg_cli.sh threads)
sluice_uses_server(pg_cli postgres)
set_tests_properties(pg_cli PROPERTIES TIMEOUT 600)
# Citus (docs/scaling.md, Citus): a coordinator and two workers of the
# `citus` fixture (tests/pg/fixture_citus.sh builds Citus with
# ../shared/deps/citus/build.sh once per machine when it is missing, or
# skips). Its start may build for a minute; the tests that restart a node
# hold the `citus_nodes` lock, so no other Citus test runs meanwhile.
sluice_shared_server(citus tests/pg/fixture_citus.sh)
set_tests_properties(fixture_citus_start PROPERTIES TIMEOUT 900)
# the same file into Citus and SQLite: the same rows, rejects and counts; rows on every shard
sluice_shell_test(citus_ingest tests/pg/test_citus.sh threads)
sluice_uses_server(citus_ingest citus)
set_tests_properties(citus_ingest PROPERTIES RESOURCE_LOCK citus_nodes TIMEOUT 600)
# exactly once through a Citus worker node restarted mid-load and sluice processes killed -9
sluice_shell_test(citus_restart tests/pg/test_citus_restart.sh threads)
sluice_uses_server(citus_restart citus)
set_tests_properties(citus_restart PROPERTIES RESOURCE_LOCK citus_nodes TIMEOUT 600)
# rows a Citus shard refuses, each constraint kind, with and without the key:
# DB_CONSTRAINT with the SQLSTATE and the constraint's own name; an XX000 that is
# no constraint stays DB_ERROR
sluice_shell_test(citus_constraints tests/pg/test_citus_constraints.sh threads)
sluice_uses_server(citus_constraints citus)
set_tests_properties(citus_constraints PROPERTIES RESOURCE_LOCK citus_nodes TIMEOUT 600)
# `distribution:` on plain PostgreSQL: CONFIG, Citus is needed
sluice_shell_test(pg_distribution tests/pg/test_pg_distribution.sh)
sluice_uses_server(pg_distribution postgres)
# the leader and the reaper in PostgreSQL: a poison chunk ends Failed (ATTEMPTS),
# the leader killed -9 is replaced within the TTL, a SIGSTOPped leader's writes
# are refused (TERM_LOST) (issue 12)
sluice_shell_test(pg_leader tests/pg/test_pg_leader.sh threads)
sluice_uses_server(pg_leader postgres)

# an idle worker (its poll 60 s) woken by NOTIFY claims a new job's chunks at once (issue 12)
sluice_shell_test(pg_notify tests/pg/test_pg_notify.sh threads)
sluice_uses_server(pg_notify postgres)

# three sluice workers on two "machines" and the ingest, kill -9 of a random
# one at least 20 times: every row once, every reject once, SQLite's counts
sluice_shell_test(pg_chaos tests/pg/test_pg_chaos.sh)
sluice_uses_server(pg_chaos postgres)

# max_connections exhausted (a private server): the connection retried with
# backoff, DB_CONN_LIMIT when it never comes, the load once when slots free
sluice_shell_test(pg_maxconn tests/pg/test_pg_maxconn.sh)
sluice_uses_server(pg_maxconn postgres)

# a worker SIGSTOPped past its lease and continued: its commit refused
# (LEASE_LOST), the chunk done once by another
sluice_shell_test(pg_lease_stop tests/pg/test_pg_lease_stop.sh)
sluice_uses_server(pg_lease_stop postgres)
sluice_shell_test(pg_lease_hold tests/pg/test_pg_lease_hold.sh)
sluice_uses_server(pg_lease_hold postgres)

# the writers of one ingest without a key: runners on their own connections
# commit chunks beside the run's writer; the load is a one-thread SQLite load's
sluice_shell_test(pg_writers tests/pg/test_pg_writers.sh threads)
sluice_uses_server(pg_writers postgres)

# leases on the database's clock: workers whose clocks are an hour ahead or
# behind (faketime) neither requeue live leases nor lose their own
sluice_shell_test(pg_clock tests/pg/test_pg_clock.sh)
sluice_uses_server(pg_clock postgres)
# the refeed's input as a source from the job store: kill -9 and resume, rows changed (issue 11)
sluice_shell_test(pg_refeed_kill tests/pg/test_pg_refeed_kill.sh)
sluice_uses_server(pg_refeed_kill postgres)
set_tests_properties(pg_refeed_kill PROPERTIES TIMEOUT 300)
# the pipelined plan on PostgreSQL: a .gz's chunks committed while the job is Chunking, kill -9 mid-plan
sluice_shell_test(pg_pipeline tests/pg/test_pg_pipeline.sh threads)
sluice_uses_server(pg_pipeline postgres)
