#!/usr/bin/env bash
# Load modes on SQLite: the story of tests/engine/modes_body.sh (written once
# for every backend), on SQLite files read with the sqlite3 shell
# (tests/lib/backend_sqlite.sh); then what only SQLite has: a replace job's
# new table gets the lookup index of the job column.
# Usage: test_modes.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
. "$SRC/tests/lib/harness.sh"
. "$SRC/tests/lib/backend_sqlite.sh"
. "$SRC/tests/engine/modes_body.sh"

check "replace: the lookup indexes on the new table" \
	"$(q replace "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'call_detail_records' AND name LIKE 'sluice_job_%'")" 1
finish modes
