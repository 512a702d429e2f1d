#!/usr/bin/env bash
# The leader and the reaper with the job store in PostgreSQL (sluice.leader,
# src/store/store_pg_leader.c), on the shared server of the `postgres`
# fixture: a poison chunk (SLUICE_TEST_KILL_CHUNK kills every worker that
# starts it) ends Failed with ATTEMPTS after --max-attempts and the job
# PartiallySucceeded with its counters right; the leader killed with -9 is
# replaced within the TTL (term + 1); a leader SIGSTOPped past its lease
# (stopped while no transaction of the database is open) and continued has
# its leader-only writes refused (TERM_LOST) and leads no more. States are
# polled in the database, never slept for.
# Usage: test_pg_leader.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh"
use_fixture postgres
export PGHOST PGPORT PGUSER
at_exit() { kill -CONT $(jobs -p) 2>/dev/null; kill -9 $(jobs -p) 2>/dev/null; }
NS=$(fixture_namespace)
CDR=$SRC/examples/cdr.yaml
q() { psql -d "$DB" -qAtc "$1" 2>/dev/null; }
leader() { q "SELECT term || '|' || split_part(owner, ' ', 1) FROM sluice.leader WHERE owner IS NOT NULL"; }
leads() { [ "$(leader)" = "$1" ]; }
finished() { q "SELECT status FROM sluice.jobs" | grep -Eq '^(Succeeded|PartiallySucceeded|Failed)$'; }
now_ms() { date +%s%3N; }
# stop_idle PID: SIGSTOP the process while no session of the database is in
# a transaction (a stopped holder of the leader's row lock would stop the
# takeover too): stop, look, continue and try again when one is
stop_idle() {
	local i
	for i in $(seq 1 200); do
		kill -STOP "$1"
		if [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'")" = 0 ]; then
			return 0
		fi
		kill -CONT "$1"
	done
	bad "could not stop $1 outside a transaction"
}

ROWS=12000
sl gen cdr --rows $ROWS --error-rate 0.02 --seed 12 -o "$T/in.csv" >/dev/null
check "gen" "$?" 0

# --- a poison chunk: it kills every worker that runs it, then ends Failed (ATTEMPTS) ------
DB=${NS}_p
psql -d postgres -qAtc "CREATE DATABASE $DB" >/dev/null || bad "CREATE DATABASE $DB"
URI="postgresql:///$DB"
rm -rf "$T/p0" && mkdir "$T/p0"
SLUICE_TEST_PAUSE=0:$T/p0 sl_start "$T/plan.err" ingest "$T/in.csv" --schema "$CDR" --db "$URI" --chunk-size 64k --threads 1 --quiet
ppid=$BG_PID
wait_for "the planning ingest held at chunk 0" 3000 test -e "$T/p0/paused"
sl_kill9 "$ppid" "$T/plan.err"
nchunks=$(q "SELECT count(*) FROM sluice.chunks")
check "planned: several chunks" "$((nchunks > 4))" 1
kills=0 runs=0
while [ $runs -lt 10 ] && ! finished; do
	runs=$((runs + 1))
	SLUICE_TEST_KILL_CHUNK=2 sl_start "$T/w.err" worker --db "$URI" --once --quiet --max-attempts 3 --retry-backoff 0.05
	wpid=$BG_PID
	wait "$wpid" 2>/dev/null
	st=$?
	sanitizer_scan "$st" "$T/w.err" "poison run $runs"
	[ "$st" = 137 ] && kills=$((kills + 1))
done
check "the workers killed by chunk 2: one per attempt" "$kills" 3
check "the job ended PartiallySucceeded" "$(q "SELECT status FROM sluice.jobs")" PartiallySucceeded
check "chunk 2: Failed with ATTEMPTS after 3 attempts" "$(q "SELECT status, last_error, attempts FROM sluice.chunks WHERE seq = 2")" "Failed|ATTEMPTS|3"
check "requeued once per lost attempt" "$(q "SELECT string_agg(substr(message, 1, 9), ',' ORDER BY id) FROM sluice.events WHERE kind = 'chunk_requeued' AND chunk = 2")" "attempt 1,attempt 2,attempt 3"
check "the others Succeeded, each once" "$(q "SELECT count(*) FROM sluice.chunks WHERE status = 'Succeeded'")+$(q "SELECT count(*) FROM sluice.events WHERE kind = 'chunk_end'")" "$((nchunks - 1))+$((nchunks - 1))"
check "job counters" "$(q "SELECT chunks_processed, chunks_succeeded, chunks_failed, rows_read = rows_loaded + rows_rejected, rows_read = (SELECT sum(rows_read) FROM sluice.chunks), rows_read = $ROWS - (SELECT records_planned FROM sluice.chunks WHERE seq = 2), rows_loaded = (SELECT count(*) FROM call_detail_records) FROM sluice.jobs")" "$nchunks|$((nchunks - 1))|1|t|t|t|t"

# --- the leader killed with -9: another takes over within the TTL -----------------------
DB=${NS}_l
psql -d postgres -qAtc "CREATE DATABASE $DB" >/dev/null || bad "CREATE DATABASE $DB"
URI="postgresql:///$DB"
sl_start "$T/a.err" worker --db "$URI" --name A --lease-ttl 2 --quiet
apid=$BG_PID
wait_for "A to lead" 3000 leads "1|A"
sl_start "$T/b.err" worker --db "$URI" --name B --lease-ttl 2 --quiet
bpid=$BG_PID
wait_for "B connected" 3000 sh -c "[ \"\$(psql -d $DB -qAtc \"SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB'\")\" -ge 6 ]"
check "B does not lead while A's lease lives" "$(leader)" "1|A"
t0=$(now_ms)
sl_kill9 "$apid" "$T/a.err"
wait_for "B to take over" 3000 leads "2|B"
took=$(($(now_ms) - t0))
[ "$took" -lt 2000 ] && ok || bad "B took over in $took ms, more than the TTL (2000 ms)"

# --- the leader SIGSTOPped past its lease: its writes are refused when it continues ------
stop_idle "$bpid"
sl_start "$T/d.err" worker --db "$URI" --name D --lease-ttl 5 --quiet
dpid=$BG_PID
wait_for "D to take over from the stopped B" 5000 leads "3|D"
kill -CONT "$bpid"
wait_for "B's refused beat on its stderr" 3000 grep -q "TERM_LOST" "$T/b.err"
grep -q "leader: TERM_LOST: term 2 of B .* is over: the store is in term 3, led by D" "$T/b.err" && ok || bad "B says its term 2 is over, D leads term 3: $(head -3 "$T/b.err")"
check "D still leads term 3 (B did not take it back)" "$(leader)" "3|D"
kill -TERM "$bpid" "$dpid"
sl_wait "$bpid" "$T/b.err"
check "B stops: exit 0" "$?" 0
sl_wait "$dpid" "$T/d.err"
check "D stops: exit 0" "$?" 0
check "D stepped down: the lease expired at once, the term kept" "$(q "SELECT term, expires_ms FROM sluice.leader")" "3|0"

finish pg_leader
