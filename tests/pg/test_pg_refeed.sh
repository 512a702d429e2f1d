#!/usr/bin/env bash
# Fix and refeed on PostgreSQL (sluice refeed --db postgres://..., issue 12):
# the story of tests/engine/refeed_body.sh (written once for every backend),
# in databases of the `postgres` fixture read with psql
# (tests/lib/backend_pg.sh); the refeed's input file goes into the current
# directory (a URI is no place for a file) and is gone when the refeed job
# ends.
# Usage: test_pg_refeed.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
. "$SRC/tests/lib/harness.sh"
. "$SRC/tests/lib/backend_pg.sh"
. "$SRC/tests/engine/refeed_body.sh"
finish pg_refeed
