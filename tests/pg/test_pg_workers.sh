#!/usr/bin/env bash
# Several processes on one job whose store is PostgreSQL (the leases of
# src/store/store_pg_lease.c), on the shared server of the `postgres`
# fixture: `sluice ingest` and two `sluice worker`s, each killed with -9 at
# random (after progress polled in sluice.chunks, never by a timer) and
# started again, until the job is finished. Then every row is in the table
# once, and the table (with the record each row came from), the rejects
# (with their messages) and the counts (the job's, every chunk's) are those
# of a one-thread load of the same file into SQLite (tests/pg/state_lib.sh).
# Usage: test_pg_workers.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh"
. "$SRC/tests/pg/state_lib.sh"
use_fixture postgres
export PGHOST PGPORT PGUSER
at_exit() { kill -9 $(jobs -p) 2>/dev/null; }
NS=$(fixture_namespace)
CDR=$SRC/examples/cdr.yaml
q() { psql -d "$DB" -qAtc "$1" 2>/dev/null; }
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
committed() {
	local n
	n=$(q "SELECT count(*) FROM sluice.chunks WHERE status = 'Succeeded'")
	echo "${n:-0}"
}
finished() { q "SELECT status FROM sluice.jobs" | grep -Eq '^(Succeeded|PartiallySucceeded|Failed)$'; }

sl gen cdr --rows 60000 --error-rate 0.02 --seed 11 -o "$T/in.csv" >/dev/null
check "gen" "$?" 0
sl ingest "$T/in.csv" --schema "$CDR" --db "$T/one.db" --threads 1 --chunk-size 8k --json >"$T/one.json"
check "the one-thread load into SQLite" "$?" 3

DB=${NS}_w
psql -d postgres -qAtc "CREATE DATABASE $DB" >/dev/null || bad "CREATE DATABASE $DB"
URI="postgresql:///$DB"
: >"$T/kl.err"
declare -a pids
start_role() { # 0 is the ingest, 1 and 2 workers
	if [ "$1" = 0 ]; then
		sl_start "$T/kl.err" ingest "$T/in.csv" --schema "$CDR" --db "$URI" --chunk-size 8k --threads 2 --quiet
	else
		sl_start "$T/kl.err" worker --db "$URI" --name "w$1" --lease-ttl 2 --quiet
	fi
	pids[$1]=$BG_PID
}
for i in 0 1 2; do start_role $i; done
KILLS=0 prev=0
for _ in $(seq 1 60); do
	want=$((prev + 1))
	while [ "$(committed)" -lt "$want" ] && ! finished; do sleep 0.01; done
	finished && break
	victim=$((RANDOM % 3))
	kill -9 "${pids[$victim]}" 2>/dev/null
	wait "${pids[$victim]}" 2>/dev/null
	st=$?
	sanitizer_scan "$st" "$T/kl.err" "kill loop, role $victim"
	[ "$st" = 137 ] && KILLS=$((KILLS + 1))
	now=$(committed)
	[ "$now" -ge "$prev" ] || bad "kill $KILLS: fewer chunks committed than before ($prev, then $now)"
	prev=$now
	start_role "$victim"
	[ "$KILLS" -ge 10 ] && break
done
# the rest runs to the end without kills
wait_for "the job to finish" 6000 finished
sl_wait "${pids[0]}" "$T/kl.err"
st=$?
{ [ "$st" = 3 ] || [ "$st" = 0 ]; } && ok || bad "the last ingest: exit $st"
for i in 1 2; do
	kill -TERM "${pids[$i]}" 2>/dev/null
	sl_wait "${pids[$i]}" "$T/kl.err"
done
[ "$KILLS" -ge 5 ] && ok || bad "only $KILLS kills landed"

J=$(q "SELECT id FROM sluice.jobs")
check "the job: PartiallySucceeded" "$(q "SELECT status FROM sluice.jobs")" "PartiallySucceeded"
sl status "$J" --db "$URI" --json >"$T/st.json"
check "status on the URI" "$?" 0
for f in rows_loaded rows_rejected rejects_by_code; do
	check "$f: the one-thread SQLite load's" "$(jget "$T/st.json" "d['$f']")" "$(jget "$T/one.json" "d['$f']")"
done
check "every row once: the table's count is rows loaded" \
	"$(q "SELECT count(*) || ' ' || count(DISTINCT reference) FROM call_detail_records")" \
	"$(jget "$T/one.json" "d['rows_loaded']") $(jget "$T/one.json" "d['rows_loaded']")"
state sqlite "$T/one.db" "$(jget "$T/one.json" "d['job_id']")" "$T/one"
state pg "$DB" "$J" "$T/pg"
same "after $KILLS kills" "$T/one" "$T/pg"
check "no chunk left open" "$(q "SELECT count(*) FROM sluice.chunks WHERE status IN ('Queued', 'Processing')")" 0
echo "kills: $KILLS; chunk owners: $(q "SELECT count(DISTINCT owner) FROM sluice.chunks")"
finish pg_workers
