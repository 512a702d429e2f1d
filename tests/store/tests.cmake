# Tests of the store (src/store/): the store suite, run for every backend
# (tests/store/store_suite.c), and each backend's own tests. Included from
# tests/tests.cmake.
sluice_unit_test(test_store tests/store/test_store.c)
target_sources(test_store PRIVATE ${CMAKE_SOURCE_DIR}/tests/store/store_suite.c)
# The dependency direction base <- csv, schema <- job <- store <- engine
# (docs/ARCHITECTURE.md), checked on the includes (tests/layers.py).
add_test(NAME layers COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/layers.py ${CMAKE_SOURCE_DIR})
