#!/usr/bin/env bash
# Runs the PostgreSQL module's cmocka tests (tests/pg/test_pg.c) against the
# shared server of the `postgres` fixture: its PG* variables, and a prefix
# of this run's own for the databases each case makes.
# Usage: run_unit.sh SLUICE SOURCE_DIR TEST_BINARY
set -u
S=$1
SRC=$2
UNIT=$3
. "$SRC/tests/lib/harness.sh"
use_fixture postgres
export PGHOST PGPORT PGUSER
SLUICE_PG_PREFIX=$(fixture_namespace)
export SLUICE_PG_PREFIX
"$UNIT" >"$T/unit.out" 2>"$T/unit.err"
st=$?
cat "$T/unit.out"
sanitizer_scan "$st" "$T/unit.err" "test_pg" || true
[ -s "$T/unit.err" ] && cat "$T/unit.err" >&2
check "test_pg: failed cases" "$st" 0
finish "$(basename "$UNIT")"
