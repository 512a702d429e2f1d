#!/usr/bin/env bash
# The PostgreSQL server restarted in the middle of a load, fast and
# immediate (a crash: no shutdown checkpoint), while sluice holds its
# connection: the next chunk's transaction finds the session gone (DB_CONN)
# and begins in a new one, and the load finishes exactly once: the same counts and the same table (read with psql, compared with
# the oracle) as a load that never saw a restart. The load is held before
# chunk 3 (SLUICE_TEST_PAUSE) while the server restarts, so the moment is
# exact, not timed. This test restarts its own server (a private cluster
# made with the fixture's script), not the shared one other tests use.
# Usage: test_pg_restart.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh"
use_fixture postgres # skips as the shared fixture did when PostgreSQL is missing
ORACLE=$SRC/tests/lib/oracle.py
CDR=$SRC/examples/cdr.yaml
FX=$T/fx
SLUICE_FIXTURES=$FX bash "$SRC/tests/pg/fixture_postgres.sh" start - "$SRC" >"$T/fx.out" 2>&1 ||
	{ cat "$T/fx.out"; bad "private server"; finish; exit 1; }
stop_private() { SLUICE_FIXTURES=$FX bash "$SRC/tests/pg/fixture_postgres.sh" stop - "$SRC" >/dev/null 2>&1; }
at_exit() { stop_private; }
. "$FX/postgres.env"
export PGHOST PGPORT PGUSER PGOPTIONS="-c client_min_messages=warning"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

sl gen cdr --rows 30000 --error-rate 0.01 --seed 3 --manifest "$T/man.tsv" -o "$T/in.csv" >/dev/null
check "gen" "$?" 0

for mode in fast immediate; do
	psql -d postgres -qc "CREATE DATABASE r_$mode" || bad "createdb"
	mkdir -p "$T/p_$mode"
	SLUICE_TEST_PAUSE=3:$T/p_$mode sl_start "$T/$mode.err" ingest "$T/in.csv" --schema "$CDR" \
		--db "postgresql:///r_$mode" --chunk-size 256K --threads 1 --json >"$T/$mode.json"
	pid=$BG_PID
	wait_for "the load to hold before chunk 3" 1500 test -e "$T/p_$mode/paused"
	as_pg "$PG_BIN/pg_ctl" -D "$PG_FIXTURE_DIR/data" -m "$mode" -w restart -l "$PG_FIXTURE_DIR/restart_$mode.log" >"$T/restart_$mode.out" 2>&1
	check "$mode restart: $(cat "$T/restart_$mode.out")" "$?" 0
	psql -d postgres -qAtc "SELECT (extract(epoch FROM pg_postmaster_start_time()) * 1000)::bigint" >"$T/up_$mode"
	touch "$T/p_$mode/go"
	sl_wait "$pid" "$T/$mode.err"
	check "$mode: the load finishes (some rows rejected)" "$?" 3
	grep -q . "$T/$mode.json" || bad "$mode: no JSON: $(cat "$T/$mode.err")"
done
# the load had a retried chunk (the connection was gone), and the same
# outcome as one that saw no restart
sl ingest "$T/in.csv" --schema "$CDR" --db "$T/a.db" --json >"$T/sq.json"
check "the same file into SQLite" "$?" 3
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
for mode in fast immediate; do
	for f in status rows_read rows_loaded rows_rejected rejects_by_code; do
		check "$mode: $f as SQLite's" "$(jget "$T/$mode.json" "d['$f']")" "$(jget "$T/sq.json" "d['$f']")"
	done
	J=$(jget "$T/$mode.json" "d['job_id']")
	check "$mode: the server restarted while the job ran" \
		"$(psql -d "r_$mode" -qAtc "SELECT started_ms < $(cat "$T/up_$mode") AND $(cat "$T/up_$mode") < finished_ms
			FROM sluice.jobs WHERE id = '$J'")" t
	psql -d "r_$mode" -qAtc "SELECT coalesce(json_agg(t ORDER BY reference), '[]') FROM (SELECT caller_id, recipient,
		to_char(call_date, 'YYYY-MM-DD') AS call_date, end_time::text AS end_time, duration, cost, reference,
		currency FROM call_detail_records) t" >"$T/got_$mode.json"
	python3 "$ORACLE" compare "$T/in.csv" "$T/got_$mode.json" && ok || bad "$mode: the table differs from the oracle"
done
finish pg_restart
