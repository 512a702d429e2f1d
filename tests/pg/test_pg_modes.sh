#!/usr/bin/env bash
# Load modes on PostgreSQL (issue 11, issue 12): the story of
# tests/engine/modes_body.sh (written once for every backend), in databases
# of the `postgres` fixture read with psql (tests/lib/backend_pg.sh; each
# case's database copied from one holding file a with CREATE DATABASE ...
# TEMPLATE); then what only PostgreSQL has: the replaced table keeps its
# primary key; atomic into a table with a CHECK of its own gives append's
# rejects and rows; a table with a column sluice does not write (the shadow
# is made LIKE the target: it keeps it).
# Usage: test_pg_modes.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
. "$SRC/tests/lib/harness.sh"
. "$SRC/tests/lib/backend_pg.sh"
. "$SRC/tests/engine/modes_body.sh"

check "replace: the new table keeps the key" \
	"$(q replace "SELECT count(*) FROM pg_index WHERE indrelid = 'call_detail_records'::regclass AND indisprimary")" 1

# ... and where the table refuses rows (its own CHECK, which the stage has
# too: LIKE), the writer's exact path (rows refused one by one) finds the
# same duplicates against the target as append does
db_new check
q check "CREATE TABLE call_detail_records(caller_id text NOT NULL, recipient text, call_date date,
	end_time time, duration bigint, cost numeric(12,3) CONSTRAINT cost_below_99 CHECK (cost < 99),
	reference text PRIMARY KEY, currency text, _sluice_job text NOT NULL,
	_sluice_row bigint GENERATED ALWAYS AS IDENTITY)" >/dev/null || bad "create"
sl_run ingest "$T/a.csv" --schema "$CDR" --db "$(db check)" --json --quiet
check "check: a loaded" "$(rc)" 3
for mode in append atomic; do
	d=ck_$mode
	db_copy $d check
	sl_run ingest "$T/b2.csv" --schema "$CDR" --db "$(db $d)" --mode $mode --chunk-size 32k --json --quiet
	check "check, $mode: exit 3" "$(rc)" 3
	[ "$(json "$T/out" "d['rejects_by_code'].get('DB_CONSTRAINT', 0)")" -gt 0 ] && ok || bad "check, $mode: no row refused: the exact path is not tested"
	q $d "SELECT record, code, message FROM ${META}rejects WHERE job_id = '$(json "$T/out" "d['job_id']")' ORDER BY record" |
		sed 's/job j[0-9a-f]*/job J/' >"$T/ckrej_$mode.txt"
	db_json $d >"$T/ck_$mode.json"
done
[ -s "$T/ckrej_atomic.txt" ] && cmp -s "$T/ckrej_append.txt" "$T/ckrej_atomic.txt" && ok ||
	bad "check: atomic's rejects differ from append's: $(diff "$T/ckrej_append.txt" "$T/ckrej_atomic.txt" | head -12)"
cmp -s "$T/ck_append.json" "$T/ck_atomic.json" && ok || bad "check: atomic's table differs from append's"

# --- a table with a column sluice does not write: the shadow and the stage keep it ----------
for mode in replace atomic; do
	d=extra_$mode
	db_copy $d base
	q $d "ALTER TABLE call_detail_records ADD COLUMN note text DEFAULT 'kept'" >/dev/null || bad "ALTER"
	sl_run ingest "$T/b.csv" --schema "$CDR" --db "$(db $d)" --mode $mode --json --quiet
	check "extra column, $mode: exit 3" "$(rc)" 3
	check "extra column, $mode: every row has the column's default" \
		"$(q $d "SELECT count(*) FILTER (WHERE note = 'kept') = count(*) FROM call_detail_records")" t
done
is_table "extra column, replace: exactly b" extra_replace "$T/b.csv"
is_table "extra column, atomic: a and b" extra_atomic "$T/ab.csv"

finish pg_modes
