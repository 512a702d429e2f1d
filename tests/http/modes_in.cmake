# Load modes on every way in (issue 11): tus uploads (Upload-Metadata mode,
# tests/http/test_tus_mode.sh) and the refeed route (?mode= and the body's
# schema, tests/http/test_refeed_mode.sh), each on SQLite and on PostgreSQL
# (the `postgres` fixture, tests/pg/).
foreach(t tus_mode refeed_mode)
  sluice_shell_test(http_${t} tests/http/test_${t}.sh threads)
  set_tests_properties(http_${t} PROPERTIES TIMEOUT 240)
  add_test(NAME pg_http_${t}
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/http/test_${t}.sh $<TARGET_FILE:sluice>
                   ${CMAKE_SOURCE_DIR} pg)
  set_tests_properties(pg_http_${t} PROPERTIES LABELS "threads" TIMEOUT 240)
  sluice_uses_server(pg_http_${t} postgres)
endforeach()
