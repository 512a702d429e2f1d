#!/usr/bin/env bash
# NOT_FOUND and CONFLICT through the program: every command that names a job
# answers a job the store does not hold with NOT_FOUND and exit 2 (the
# caller's mistake, not a failed load), and one whose state forbids the
# command (a rollback of a job rolled back already, the cancel of a finished
# job) with CONFLICT and exit 2. The store is a real one written by ingest.
# Usage: test_not_found.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
# sl_run ARGS: every run of the program (stdout $T/out, stderr $T/err, status RC)
. "$SRC/tests/lib/harness.sh"

sl_run gen cdr --rows 50 --error-rate 0 --seed 5 -o "$T/in.csv"
check "gen: exit 0" "$RC" 0
sl_run ingest "$T/in.csv" --schema "$SCHEMA" --db "$T/s.db" --json
check "ingest: exit 0" "$RC" 0
JOB=$(json "$T/out" "d['job_id']")

for cmd in status errors resume retry rollback cancel; do
	sl_run "$cmd" jnosuchjob --db "$T/s.db"
	check "$cmd of an unknown job: exit 2" "$RC" 2
	grep -q "(NOT_FOUND)" "$T/err" && ok || bad "$cmd of an unknown job: NOT_FOUND ($(cat "$T/err"))"
	grep -q "jnosuchjob" "$T/err" && ok || bad "$cmd of an unknown job: the id is named ($(cat "$T/err"))"
done

sl_run cancel "$JOB" --db "$T/s.db"
check "cancel of a finished job: exit 2" "$RC" 2
grep -q "(CONFLICT)" "$T/err" && ok || bad "cancel of a finished job: CONFLICT ($(cat "$T/err"))"

sl_run rollback "$JOB" --db "$T/s.db" --json
check "rollback: exit 0" "$RC" 0
sl_run rollback "$JOB" --db "$T/s.db"
check "second rollback: exit 2" "$RC" 2
grep -q "(CONFLICT)" "$T/err" && ok || bad "second rollback: CONFLICT ($(cat "$T/err"))"
sl_run status "$JOB" --db "$T/s.db" --json
check "second rollback: the job stays RolledBack" "$(json "$T/out" "d['status']")" RolledBack

finish not_found
