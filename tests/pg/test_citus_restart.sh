#!/usr/bin/env bash
# Exactly once on Citus (the `citus` fixture: a coordinator and two
# workers), through failures of both kinds of process:
#  1. a Citus worker node restarted (fast, then immediate: a crash) while a
#     load is held between chunks (SLUICE_TEST_PAUSE, so the moment is
#     exact): the coordinator's connection to that node is gone, the next
#     chunk's transaction fails on it (Citus: "failure on connection marked
#     as essential", DB_CONN for sluice) and is retried; the load finishes
#     with the counts of a load into SQLite and the oracle's rows;
#  2. `sluice ingest` and two `sluice worker`s on one job, each killed with
#     -9 at random (after progress polled in sluice.chunks, never by a
#     timer) and started again, and in the middle of that a worker node
#     restarted while they load: every row once, every reject once (the
#     counts of a one-thread SQLite load), no chunk left open. A node slower
#     to come back than a chunk's retries (about 0.7 s) fails the chunks in
#     flight as DB_CONN (the job ends PartiallySucceeded with failed
#     chunks; a connection failure outside a chunk fails the job): then
#     `sluice retry` runs them again, and the load is still exactly once.
# Citus commits a chunk that wrote to both workers by two-phase commit; a
# worker that missed its COMMIT PREPARED gets it from the coordinator's
# recovery (recover_prepared_transactions(), also run every 2 s by the
# fixture's setting), which the test runs before counting.
# Usage: test_citus_restart.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh"
use_fixture citus
. "$SRC/tests/pg/citus_lib.sh"
at_exit() { kill -9 $(jobs -p) 2>/dev/null; }
NS=$(fixture_namespace)
ORACLE=$SRC/tests/lib/oracle.py
DIST=$T/cdr_dist.yaml
sed 's/^key: \[reference\]/key: [reference]\ndistribution: {column: reference, shard_count: 8}/' \
	"$SRC/examples/cdr.yaml" >"$DIST"
q() { psql -d "$DB" -qAtc "$1" 2>/dev/null; }
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
now_ms() { date +%s%3N; }

sl gen cdr --rows 30000 --error-rate 0.01 --seed 3 -o "$T/in.csv" >/dev/null
check "gen" "$?" 0
sl ingest "$T/in.csv" --schema "$DIST" --db "$T/one.db" --threads 1 --json >"$T/one.json"
check "the one-thread load into SQLite" "$?" 3

# --- 1. a worker node restarted between two chunks -------------------------------------
for mode in fast immediate; do
	DB=${NS}_$mode
	citus_newdb "$DB" || bad "$mode: a database on every node"
	mkdir -p "$T/p_$mode"
	SLUICE_TEST_PAUSE=3:$T/p_$mode sl_start "$T/$mode.err" ingest "$T/in.csv" --schema "$DIST" \
		--db "postgresql:///$DB" --chunk-size 256K --threads 1 --json >"$T/$mode.json"
	pid=$BG_PID
	wait_for "the load to hold before chunk 3" 3000 test -e "$T/p_$mode/paused"
	citus_restart_worker 1 "$mode"
	check "$mode restart of worker node 1" "$?" 0
	up=$(now_ms)
	touch "$T/p_$mode/go"
	sl_wait "$pid" "$T/$mode.err"
	check "$mode: the load finishes (some rows rejected)" "$?" 3
	for f in status rows_read rows_loaded rows_rejected rejects_by_code; do
		check "$mode: $f as SQLite's" "$(jget "$T/$mode.json" "d['$f']")" "$(jget "$T/one.json" "d['$f']")"
	done
	J=$(jget "$T/$mode.json" "d['job_id']")
	check "$mode: the node restarted while the job ran" \
		"$(q "SELECT started_ms < $up AND $up < finished_ms FROM sluice.jobs WHERE id = '$J'")" t
	echo "$mode: chunk attempts $(q "SELECT string_agg(attempts::text, ' ' ORDER BY seq) FROM sluice.chunks")"
	check "$mode: the chunk after the restart was tried again (the node's connection was gone)" \
		"$(q "SELECT attempts FROM sluice.chunks WHERE seq = 3")" 2
	q "SELECT recover_prepared_transactions()" >/dev/null
	q "SELECT coalesce(json_agg(r ORDER BY r->>'reference'), '[]') FROM (SELECT json_build_object(
		'caller_id', caller_id, 'recipient', recipient, 'call_date', to_char(call_date, 'YYYY-MM-DD'),
		'end_time', end_time::text, 'duration', duration, 'cost', cost, 'reference', reference,
		'currency', currency) r FROM call_detail_records) t" >"$T/got_$mode.json"
	python3 "$ORACLE" compare "$T/in.csv" "$T/got_$mode.json" && ok || bad "$mode: the table differs from the oracle"
done

# --- 2. sluice processes killed -9 at random, a worker node restarted meanwhile -----------
DB=${NS}_kill
citus_newdb "$DB" || bad "a database on every node"
URI="postgresql:///$DB"
committed() {
	local n
	n=$(q "SELECT count(*) FROM sluice.chunks WHERE status = 'Succeeded'")
	echo "${n:-0}"
}
finished() { q "SELECT status FROM sluice.jobs" | grep -Eq '^(Succeeded|PartiallySucceeded|Failed)$'; }
: >"$T/kl.err"
declare -a pids
start_role() { # 0 is the ingest, 1 and 2 workers
	if [ "$1" = 0 ]; then
		sl_start "$T/kl.err" ingest "$T/in.csv" --schema "$DIST" --db "$URI" --chunk-size 32k --threads 2 --quiet
	else
		sl_start "$T/kl.err" worker --db "$URI" --name "w$1" --lease-ttl 2 --quiet
	fi
	pids[$1]=$BG_PID
}
for i in 0 1 2; do start_role $i; done
KILLS=0 prev=0 RESTARTED=
for _ in $(seq 1 60); do
	want=$((prev + 1))
	while [ "$(committed)" -lt "$want" ] && ! finished; do sleep 0.01; done
	finished && break
	if [ "$KILLS" = 3 ] && [ -z "$RESTARTED" ]; then
		# the workers are loading: the restart cuts their transactions
		citus_restart_worker 2 fast
		check "worker node 2 restarted mid-load" "$?" 0
		RESTARTED=$(committed)
	fi
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
wait_for "the job to finish" 9000 finished
sl_wait "${pids[0]}" "$T/kl.err"
st=$?
{ [ "$st" = 3 ] || [ "$st" = 0 ]; } && ok || bad "the last ingest: exit $st"
for i in 1 2; do
	kill -TERM "${pids[$i]}" 2>/dev/null
	sl_wait "${pids[$i]}" "$T/kl.err"
done
[ "$KILLS" -ge 5 ] && ok || bad "only $KILLS kills landed"
[ -n "$RESTARTED" ] && ok || bad "the job finished before the worker node was restarted"
total=$(q "SELECT count(*) FROM sluice.chunks")
[ -n "$RESTARTED" ] && [ "$RESTARTED" -lt "$total" ] && ok || bad "the restart came after the last chunk ($RESTARTED of $total)"

J=$(q "SELECT id FROM sluice.jobs")
# a node that takes longer to come back than a chunk's retries with backoff
# (about 0.7 s in all: seen on a loaded machine) fails the chunks that were
# in flight as DB_CONN, and the job with them; `sluice retry` runs those
# chunks again, still exactly once
RETRIED=no
if [ "$(q "SELECT status = 'Failed' OR chunks_failed > 0 FROM sluice.jobs")" = t ]; then
	RETRIED="yes (job: $(q "SELECT error_code || ' ' || error_message FROM sluice.jobs"); chunks: $(q "SELECT string_agg(seq || ': ' || coalesce(last_error, '') || ' ' || coalesce(last_message, ''), '; ') FROM sluice.chunks WHERE status = 'Failed'"))"
	check "only connection failures failed the job" \
		"$(q "SELECT count(*) FROM sluice.jobs WHERE coalesce(error_code, 'DB_CONN') NOT IN ('DB_CONN', 'DB_BUSY')")" 0
	check "only connection failures failed chunks" \
		"$(q "SELECT count(*) FROM sluice.chunks WHERE status = 'Failed' AND last_error NOT IN ('DB_CONN', 'DB_BUSY')")" 0
	sl retry "$J" --db "$URI" --quiet
	echo "retry: exit $?"
fi
echo "the job: $(q "SELECT status || ' ' || coalesce(error_code, '') || ' ' || coalesce(error_message, '') FROM sluice.jobs")"
check "the job: PartiallySucceeded" "$(q "SELECT status FROM sluice.jobs")" "PartiallySucceeded"
sl status "$J" --db "$URI" --json >"$T/st.json"
check "status on the URI" "$?" 0
for f in rows_loaded rows_rejected rejects_by_code; do
	check "$f: the one-thread SQLite load's" "$(jget "$T/st.json" "d['$f']")" "$(jget "$T/one.json" "d['$f']")"
done
check "every reject once" "$(q "SELECT count(*) || ' ' || count(DISTINCT record) FROM sluice.rejects WHERE job_id = '$J'")" \
	"$(jget "$T/one.json" "d['rows_rejected']") $(jget "$T/one.json" "d['rows_rejected']")"
q "SELECT recover_prepared_transactions()" >/dev/null
check "every row once: the table's count is rows loaded" \
	"$(q "SELECT count(*) || ' ' || count(DISTINCT reference) FROM call_detail_records")" \
	"$(jget "$T/one.json" "d['rows_loaded']") $(jget "$T/one.json" "d['rows_loaded']")"
check "no chunk left open" "$(q "SELECT count(*) FROM sluice.chunks WHERE status IN ('Queued', 'Processing')")" 0
citus_rows_per_node "$DB" call_detail_records >"$T/nodes"
check "both worker nodes hold rows" "$(awk '$2 > 0' "$T/nodes" | wc -l)" 2
echo "failed chunks retried: $RETRIED"
echo "kills: $KILLS; worker node 2 restarted after $RESTARTED of $total chunks; chunk owners: $(q "SELECT count(DISTINCT owner) FROM sluice.chunks"); attempts > 1: $(q "SELECT count(*) FROM sluice.chunks WHERE attempts > 1")"
finish citus_restart
