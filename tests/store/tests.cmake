# Tests of the store (src/store/): one conformance suite per interface, run
# for every backend of tests/store/backends.c (test_jobstore: js_suite.c,
# test_sink: sink_suite.c), and what one backend has of its own
# (test_store: the fault wrapper, SQLite's file, the registry, the null
# sink). Included from tests/tests.cmake.
sluice_unit_test(test_jobstore tests/store/test_jobstore.c)
target_sources(test_jobstore PRIVATE ${CMAKE_SOURCE_DIR}/tests/store/js_suite.c
               ${CMAKE_SOURCE_DIR}/tests/store/backends.c)
sluice_unit_test(test_sink tests/store/test_sink.c)
target_sources(test_sink PRIVATE ${CMAKE_SOURCE_DIR}/tests/store/sink_suite.c
               ${CMAKE_SOURCE_DIR}/tests/store/backends.c)
sluice_unit_test(test_store tests/store/test_store.c)
# The dependency direction base <- csv, schema <- job <- store <- engine
# (docs/ARCHITECTURE.md), checked on the includes (tests/layers.py).
add_test(NAME layers COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/layers.py ${CMAKE_SOURCE_DIR})
# The job store's lease ops (claims, renewals, the fence, releases, open chunks,
# reject holders), for every backend of backends.c (issue 11).
sluice_unit_test(test_lease_store tests/store/test_lease_store.c)
target_sources(test_lease_store PRIVATE ${CMAKE_SOURCE_DIR}/tests/store/lease_suite.c
               ${CMAKE_SOURCE_DIR}/tests/store/backends.c)
# The sink's replace op: a backend without it refuses with CONFIG (issue 11).
sluice_unit_test(test_sink_replace tests/store/test_sink_replace.c)
# A job row in a final status is not overwritten by job_update (CONFLICT);
# a retry's or a rollback's rewrite is (issue 11). PostgreSQL: pg_job_final.
sluice_unit_test(test_job_final tests/store/test_job_final.c)
target_sources(test_job_final PRIVATE ${CMAKE_SOURCE_DIR}/tests/store/backends.c)
# The leader lease and the reaper (terms, takeovers, the term fence, requeues
# with attempts and backoff), for every backend of backends.c (issue 12).
sluice_unit_test(test_leader_store tests/store/test_leader_store.c)
target_sources(test_leader_store PRIVATE ${CMAKE_SOURCE_DIR}/tests/store/leader_suite.c
               ${CMAKE_SOURCE_DIR}/tests/store/lease_suite.c ${CMAKE_SOURCE_DIR}/tests/store/backends.c)
