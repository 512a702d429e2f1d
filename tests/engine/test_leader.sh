#!/usr/bin/env bash
# The leader and the reaper (docs/scaling.md) on SQLite: a chunk that kills
# its worker every time (SLUICE_TEST_KILL_CHUNK, a poison input) ends Failed
# with ATTEMPTS after --max-attempts, requeued in between with its attempts
# kept, and the job ends PartiallySucceeded with its counters right; the
# leader killed with -9 is replaced within the TTL (term + 1); a leader
# SIGSTOPped past its lease and continued has its leader-only writes refused
# (TERM_LOST) and leads no more; a stopped leader steps down at once; the
# leader's retention deletes the rejects and events of old finished jobs
# (--retention 0: kept). States are polled, never slept for; expected rows
# come from the oracle (tests/lib/oracle.py), rejects from the manifest.
# Usage: test_leader.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
. "$SRC/tests/lib/harness.sh"
at_exit() { kill -CONT $(jobs -p) 2>/dev/null; kill $(jobs -p) 2>/dev/null; }
q() { sqlite3 -batch "$1" "$2"; }
NOW_MS="CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
# leader DB: "TERM|OWNER-NAME" of the leader lease (the owner's first word)
leader() { q "$1" "SELECT term || '|' || substr(owner, 1, instr(owner, ' ') - 1) FROM sluice_leader" 2>/dev/null; }
leads() { [ "$(leader "$1")" = "$2" ]; }
finished() { q "$1" "SELECT status FROM sluice_jobs" 2>/dev/null | grep -Eq '^(Succeeded|PartiallySucceeded|Failed)$'; }
now_ms() { date +%s%3N; }
# stop_idle PID DB: SIGSTOP the process at a moment it holds no write
# transaction of DB (a stopped holder of SQLite's write lock would stop
# everyone): stop it, try the lock at once, continue it and try again when
# the lock was taken
stop_idle() {
	local i
	for i in $(seq 1 200); do
		kill -STOP "$1"
		if sqlite3 -batch "$2" "PRAGMA busy_timeout = 0; BEGIN IMMEDIATE; ROLLBACK;" >/dev/null 2>&1; then
			return 0
		fi
		kill -CONT "$1"
	done
	bad "could not stop $1 outside a transaction"
}
# planned DB: a job for cdr.csv planned, nobody running it (an ingest held
# before its first chunk, then killed)
planned() {
	rm -rf "$T/p0" && mkdir "$T/p0"
	SLUICE_TEST_PAUSE=0:$T/p0 sl_start "$T/plan.err" ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$1" --chunk-size 64k --threads 1 --quiet
	local pid=$BG_PID
	wait_for "the planning ingest held at chunk 0" 1500 test -e "$T/p0/paused"
	sl_kill9 "$pid" "$T/plan.err"
}

ROWS=${ROWS:-20000}
sl gen cdr --rows "$ROWS" --error-rate 0.05 --seed 33 --manifest "$T/man.tsv" -o "$T/cdr.csv" || bad "gen cdr"

# --- a poison chunk: it kills every worker that runs it, then ends Failed (ATTEMPTS) ------
planned "$T/p.db"
nchunks=$(q "$T/p.db" 'SELECT count(*) FROM sluice_chunks')
check "planned: several chunks" "$((nchunks > 4))" 1
kills=0
runs=0
# each worker runs chunks until it starts chunk 2, which kills it; the one
# that claims chunk 2 a 4th time (3 attempts used) fails it and finishes the job
while [ $runs -lt 10 ] && ! finished "$T/p.db"; do
	runs=$((runs + 1))
	SLUICE_TEST_KILL_CHUNK=2 sl_start "$T/w.err" worker --db "$T/p.db" --once --quiet --max-attempts 3 --retry-backoff 0.05
	wpid=$BG_PID
	wait "$wpid" 2>/dev/null
	st=$?
	sanitizer_scan "$st" "$T/w.err" "poison run $runs"
	[ "$st" = 137 ] && kills=$((kills + 1))
done
check "the workers killed by chunk 2: one per attempt" "$kills" 3
check "the job ended PartiallySucceeded" "$(q "$T/p.db" 'SELECT status FROM sluice_jobs')" PartiallySucceeded
check "chunk 2: Failed with ATTEMPTS after 3 attempts" "$(q "$T/p.db" "SELECT status, last_error, attempts FROM sluice_chunks WHERE seq = 2")" "Failed|ATTEMPTS|3"
q "$T/p.db" "SELECT last_message FROM sluice_chunks WHERE seq = 2" | grep -q "3 attempts, and each time its lease ran out" && ok || bad "chunk 2's message names the attempts: $(q "$T/p.db" "SELECT last_message FROM sluice_chunks WHERE seq = 2")"
check "requeued once per lost attempt, each naming it" "$(q "$T/p.db" "SELECT group_concat(substr(message, 1, 9), ',') FROM (SELECT message FROM sluice_events WHERE kind = 'chunk_requeued' AND chunk = 2 ORDER BY id)")" "attempt 1,attempt 2,attempt 3"
check "the other chunks Succeeded, each once" "$(q "$T/p.db" "SELECT count(*) FROM sluice_chunks WHERE status = 'Succeeded'")+$(q "$T/p.db" "SELECT count(*) FROM sluice_events WHERE kind = 'chunk_end'")" "$((nchunks - 1))+$((nchunks - 1))"
check "job counters: chunks" "$(q "$T/p.db" 'SELECT chunks_processed, chunks_succeeded, chunks_failed FROM sluice_jobs')" "$nchunks|$((nchunks - 1))|1"
check "job counters: rows add up to the chunks'" "$(q "$T/p.db" "SELECT rows_read = rows_loaded + rows_rejected AND rows_loaded = (SELECT count(*) FROM call_detail_records) AND rows_rejected = (SELECT count(*) FROM sluice_rejects) AND rows_read = (SELECT sum(rows_read) FROM sluice_chunks) AND rows_read = $ROWS - (SELECT records_planned FROM sluice_chunks WHERE seq = 2) FROM sluice_jobs")" 1
# the rows loaded are the file's but chunk 2's: the oracle's rows of the
# other chunks' records
first=$(q "$T/p.db" "SELECT first_record FROM sluice_chunks WHERE seq = 2")
count=$(q "$T/p.db" "SELECT records_planned FROM sluice_chunks WHERE seq = 2")
# (first_record counts from 0, _sluice_rec from 1)
check "no row of chunk 2 loaded" "$(q "$T/p.db" "SELECT count(*) FROM call_detail_records WHERE _sluice_rec BETWEEN $((first + 1)) AND $((first + count))")" 0
sl_run status "$(q "$T/p.db" 'SELECT id FROM sluice_jobs')" --db "$T/p.db" --chunks
grep -q "Failed .*ATTEMPTS: chunk 2: 3 attempts" "$T/out" && ok || bad "sluice status --chunks names ATTEMPTS: $(grep -i attempt "$T/out" | head -3)"

# --- the leader killed with -9: another takes over within the TTL -----------------------
rm -f "$T/l.db"*
sl_start "$T/a.err" worker --db "$T/l.db" --name A --lease-ttl 2 --quiet
apid=$BG_PID
wait_for "A to lead" 1500 leads "$T/l.db" "1|A"
sl_start "$T/b.err" worker --db "$T/l.db" --name B --lease-ttl 2 --quiet
bpid=$BG_PID
wait_for "B to run (its candidate opened the store)" 1500 sh -c "ls -l /proc/$bpid/fd 2>/dev/null | grep -q l.db"
check "B does not lead while A's lease lives" "$(leader "$T/l.db")" "1|A"
t0=$(now_ms)
sl_kill9 "$apid" "$T/a.err"
wait_for "B to take over" 3000 leads "$T/l.db" "2|B"
took=$(($(now_ms) - t0))
[ "$took" -lt 2000 ] && ok || bad "B took over in $took ms, more than the TTL (2000 ms)"

# --- the leader SIGSTOPped past its lease: its writes are refused when it continues ------
sl_start "$T/c.err" worker --db "$T/l.db" --name C --lease-ttl 0.6 --quiet
cpid=$BG_PID
kill -TERM "$bpid"
sl_wait "$bpid" "$T/b.err"
check "B stops on SIGTERM: exit 0" "$?" 0
# B stepped down (its lease expired at once): C leads in term 3
wait_for "C to lead after B stepped down" 3000 leads "$T/l.db" "3|C"
stop_idle "$cpid" "$T/l.db"
sl_start "$T/d.err" worker --db "$T/l.db" --name D --lease-ttl 5 --quiet
dpid=$BG_PID
wait_for "D to take over from the stopped C" 3000 leads "$T/l.db" "4|D"
kill -CONT "$cpid"
wait_for "C's refused beat on its stderr" 3000 grep -q "TERM_LOST" "$T/c.err"
grep -q "leader: TERM_LOST: term 3 of C .* is over: the store is in term 4, led by D" "$T/c.err" && ok || bad "C says its term 3 is over, D leads term 4: $(head -3 "$T/c.err")"
check "D still leads term 4 (C did not take it back)" "$(leader "$T/l.db")" "4|D"
kill -TERM "$cpid" "$dpid"
sl_wait "$cpid" "$T/c.err"
check "C stops: exit 0" "$?" 0
sl_wait "$dpid" "$T/d.err"
check "D stops: exit 0" "$?" 0
check "D stepped down: the lease expired at once, the term kept" "$(q "$T/l.db" "SELECT term, expires_ms FROM sluice_leader")" "4|0"

# --- retention: the leader deletes old finished jobs' rejects and events ----------------
rm -f "$T/r.db"*
sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/r.db" --quiet
check "a load with rejects: exit 3" "$(rc)" 3
nrej=$(q "$T/r.db" 'SELECT count(*) FROM sluice_rejects')
check "its rejects are kept" "$((nrej > 0))" 1
sl_run worker --db "$T/r.db" --once --quiet --retention 1d
check "a worker, retention 1 day: exit 0" "$(rc)" 0
check "a job finished just now keeps its rejects" "$(q "$T/r.db" 'SELECT count(*) FROM sluice_rejects')" "$nrej"
q "$T/r.db" "UPDATE sluice_jobs SET updated_ms = updated_ms - 2 * 86400000, finished_ms = finished_ms - 2 * 86400000"
sl_run worker --db "$T/r.db" --once --quiet --retention 0
check "retention 0: kept" "$(q "$T/r.db" 'SELECT count(*) FROM sluice_rejects')" "$nrej"
sl_run worker --db "$T/r.db" --once --quiet --retention 1d
check "retention 1 day, a job finished 2 days ago: exit 0" "$(rc)" 0
check "its rejects and events are deleted" "$(q "$T/r.db" 'SELECT count(*) FROM sluice_rejects')+$(q "$T/r.db" 'SELECT count(*) FROM sluice_events')" "0+0"
check "the job itself stays" "$(q "$T/r.db" 'SELECT count(*), status FROM sluice_jobs')" "1|PartiallySucceeded"

finish leader
