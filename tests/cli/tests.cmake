# End-to-end tests of the program (cli/). Included from tests/tests.cmake.
sluice_shell_test(cli tests/cli/test_cli.sh)
set_tests_properties(cli PROPERTIES LABELS "threads")
sluice_shell_test(cli10 tests/cli/test_cli10.sh)
# Options no other test used, and the human outputs (tests/cli/test_options.sh).
sluice_shell_test(cli_options tests/cli/test_options.sh)
set_tests_properties(cli_options PROPERTIES LABELS "threads" TIMEOUT 300)
# Error codes no other test produced, produced where a user meets them (tests/cli/test_codes.sh).
sluice_shell_test(cli_codes tests/cli/test_codes.sh)
set_tests_properties(cli_codes PROPERTIES LABELS "threads" TIMEOUT 300)
# NOT_FOUND and CONFLICT from the commands that name a job (tests/cli/test_not_found.sh).
sluice_shell_test(cli_not_found tests/cli/test_not_found.sh)
# `make demo` as a user runs it (scripts/demo.sh), small: the commands it
# shows and the JSON it reads must keep working.
add_test(NAME demo COMMAND env SLUICE=$<TARGET_FILE:sluice> DEMO_DIR=${CMAKE_BINARY_DIR}/demo-test
         DEMO_ROWS=20000 bash ${CMAKE_SOURCE_DIR}/scripts/demo.sh)
# `sluice jobs --limit/--after/--dataset`: the keyset pages of the job store (tests/cli/test_jobs_page.sh).
sluice_shell_test(cli_jobs_page tests/cli/test_jobs_page.sh)
