#!/usr/bin/env bash
# tests/engine/test_refeed_kill.sh on PostgreSQL: the refeed's input read from
# the job store as a source, kill -9 in the middle and after the last chunk,
# resume, rows changed or gone (the same checks, through psql).
# Usage: test_pg_refeed_kill.sh SLUICE SOURCE_DIR
exec bash "$2/tests/engine/test_refeed_kill.sh" "$1" "$2" pg
