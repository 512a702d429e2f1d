#!/usr/bin/env bash
# PostgreSQL's max_connections exhausted (issue 12, Tests): sessions held
# open (psql running pg_sleep) take every slot but the superuser's reserved
# ones, so the server refuses sluice's role (not a superuser) with SQLSTATE
# 53300. `sluice ingest --db postgresql://...` then
#   - tries again with backoff (src/pg/pg_conn.c: the refusals counted in
#     the server's log) and, when the wait (SLUICE_PG_CONNECT_WAIT) runs
#     out, fails with DB_CONN_LIMIT and a message that says the server
#     refused the connection, too many clients, 53300; no job is recorded;
#   - succeeds once the held sessions end while it waits: exit 3 (some
#     rows rejected), one job, and the table, rejects and counts of a
#     one-thread load of the same file into SQLite (tests/pg/state_lib.sh).
# No crash in either (every exit scanned by the harness). The slots are
# taken on a private server made with the fixture's script (max_connections
# 60), not on the shared one other tests use at the same time.
# Usage: test_pg_maxconn.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh"
. "$SRC/tests/pg/state_lib.sh"
use_fixture postgres # skips as the shared fixture did when PostgreSQL is missing
CDR=$SRC/examples/cdr.yaml
FX=$T/fx
SLUICE_FIXTURES=$FX bash "$SRC/tests/pg/fixture_postgres.sh" start - "$SRC" >"$T/fx.out" 2>&1 ||
	{ cat "$T/fx.out"; bad "private server"; finish; exit 1; }
stop_private() { SLUICE_FIXTURES=$FX bash "$SRC/tests/pg/fixture_postgres.sh" stop - "$SRC" >/dev/null 2>&1; }
HOLDERS=()
# a sleeping backend does not notice its client gone: end the sessions
# from the server's side, then their psql
release() {
	[ ${#HOLDERS[@]} -gt 0 ] || return 0
	psql -d postgres -qAtc "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query = 'SELECT pg_sleep(3600)' AND pid <> pg_backend_pid()" >/dev/null 2>&1
	kill "${HOLDERS[@]}" 2>/dev/null
	wait "${HOLDERS[@]}" 2>/dev/null
	HOLDERS=()
}
at_exit() { release; kill -9 $(jobs -p) 2>/dev/null; stop_private; }
. "$FX/postgres.env"
export PGHOST PGPORT PGUSER PGOPTIONS="-c client_min_messages=warning"
LOG=$FX/postgres.log
pgsu() { psql -d postgres -qAtc "$1"; }
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
clients() { pgsu "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"; }
# the server's refusals so far (FATAL 53300 lines of its log)
refusals() { grep -cE 'FATAL: +(remaining connection slots are reserved|sorry, too many clients)' "$LOG"; }

# sluice's role is not a superuser: the reserved slots are not its
pgsu "CREATE ROLE loader LOGIN" && pgsu "CREATE DATABASE m OWNER loader" || bad "role and database"
URI="postgresql://loader@/m"
sl gen cdr --rows 6000 --error-rate 0.02 --seed 5 -o "$T/in.csv" >/dev/null
check "gen" "$?" 0
sl ingest "$T/in.csv" --schema "$CDR" --db "$T/one.db" --threads 1 --chunk-size 64k --json >"$T/one.json"
check "the one-thread load into SQLite" "$?" 3

# take every slot but the reserved ones
MAX=$(pgsu "SHOW max_connections")
RES=$(pgsu "SHOW superuser_reserved_connections")
check "the fixture's server: max_connections 60" "$MAX" 60
holding() { [ "$(clients)" -ge $((MAX - RES)) ]; }
hold() {
	local i
	for i in $(seq 1 $((MAX - RES))); do
		psql -d postgres -qAtc "SELECT pg_sleep(3600)" >/dev/null 2>&1 &
		HOLDERS+=($!)
	done
	wait_for "$((MAX - RES)) sessions holding the slots" 3000 holding
}
hold
psql -d "$URI" -qAtc "SELECT 1" >"$T/probe.out" 2>&1
check "the server refuses the loader role now (psql)" "$?" 2

# 1. the slots stay taken: retried, then a clear failure and no job
before=$(refusals)
SLUICE_PG_CONNECT_WAIT=1.5 SL_ERR=$T/giveup.err sl ingest "$T/in.csv" --schema "$CDR" --db "$URI" --json >"$T/giveup.json"
st=$?
[ "$st" -ne 0 ] && [ "$st" -lt 128 ] && ok || bad "refused: exit $st (want a failure, not 0 or a signal)"
msg=$(cat "$T/giveup.err" "$T/giveup.json")
for w in DB_CONN_LIMIT "refused the connection" "too many clients" 53300 SLUICE_PG_CONNECT_WAIT; do
	grep -qF "$w" <<<"$msg" && ok || bad "refused: the error does not say '$w': $msg"
done
tries=$(($(refusals) - before))
[ "$tries" -ge 2 ] && ok || bad "refused: the connection was tried $tries times (want a retry)"
echo "given up after $tries refused tries: $(head -c 400 "$T/giveup.err")"
check "refused: no job store made, so no job recorded" "$(psql -d m -qAtc "SELECT to_regclass('sluice.jobs') IS NULL")" t
check "refused: no table made" "$(psql -d m -qAtc "SELECT to_regclass('public.call_detail_records') IS NULL")" t

# 2. the slots are freed while it waits: it connects and loads, once
before=$(refusals)
sl_start "$T/ok.err" ingest "$T/in.csv" --schema "$CDR" --db "$URI" --chunk-size 64k --json >"$T/ok.json"
pid=$BG_PID
refused_again() { [ $(($(refusals) - before)) -ge 2 ]; }
wait_for "the ingest to be refused twice (a retry)" 3000 refused_again
kill -0 "$pid" 2>/dev/null && ok || bad "the ingest did not wait for a slot"
release
sl_wait "$pid" "$T/ok.err"
st=$?
check "freed: the load finishes (some rows rejected): $(head -c 300 "$T/ok.err")" "$st" 3
echo "refused $(($(refusals) - before)) times before the slots were freed"
for f in status rows_read rows_loaded rows_rejected rejects_by_code; do
	check "freed: $f as SQLite's" "$(jget "$T/ok.json" "d['$f']")" "$(jget "$T/one.json" "d['$f']")"
done
check "freed: one job" "$(psql -d m -qAtc "SELECT count(*) FROM sluice.jobs")" 1
state sqlite "$T/one.db" "$(jget "$T/one.json" "d['job_id']")" "$T/one"
state pg m "$(jget "$T/ok.json" "d['job_id']")" "$T/pg"
same "after waiting for a slot" "$T/one" "$T/pg"
finish pg_maxconn
