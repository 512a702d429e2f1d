#!/usr/bin/env bash
# Fix and refeed on SQLite: the story of tests/engine/refeed_body.sh (written
# once for every backend), on SQLite files read with the sqlite3 shell
# (tests/lib/backend_sqlite.sh); the refeed's input file goes next to the
# database and is gone when the refeed job ends.
# Usage: test_refeed.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
. "$SRC/tests/lib/harness.sh"
. "$SRC/tests/lib/backend_sqlite.sh"
. "$SRC/tests/engine/refeed_body.sh"
finish refeed
