#!/usr/bin/env bash
# Leases on chunks (docs/ingest.md, "Workers and leases"): a worker
# SIGSTOPped past its lease and continued has its commit refused
# (LEASE_LOST), nothing is loaded twice and the chunk is run by another; a
# lease that runs out while its chunk commits still commits (the fence is
# the epoch, not the clock) and nobody runs the chunk again; the lease of a
# worker killed with -9 is void at once (its process is gone), whatever its
# TTL. The places are reached with the test-only pauses SLUICE_TEST_PAUSE
# and SLUICE_TEST_PAUSE_COMMIT (docs/ingest.md, Faults) and polled states,
# never sleeps. Expected rows come from the oracle (tests/lib/oracle.py),
# rejects from the generator's manifest.
# Usage: test_lease.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
. "$SRC/tests/lib/harness.sh"
at_exit() { kill -CONT $(jobs -p) 2>/dev/null; kill $(jobs -p) 2>/dev/null; }
q() { sqlite3 -batch "$1" "$2"; }
rejects_are() {
	cdr_rejects "$2" >"$T/want_rejects"
	q "$1" "SELECT record, line, code FROM sluice_rejects ORDER BY record" | tr '|' '\t' >"$T/got_rejects"
	cmp -s "$T/want_rejects" "$T/got_rejects" && ok || bad "$3: rejects (record, line, code) differ from the manifest: $(diff "$T/want_rejects" "$T/got_rejects" | head -4)"
}
NOW_MS="CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
# expired DB SEQ: chunk SEQ's lease has run out (by the store's clock)
expired() { [ "$(q "$1" "SELECT lease_expiry_ms < $NOW_MS FROM sluice_chunks WHERE seq = $2" 2>/dev/null)" = 1 ]; }
# finished DB: the job has a final status
finished() { q "$1" "SELECT status FROM sluice_jobs" 2>/dev/null | grep -Eq '^(Succeeded|PartiallySucceeded|Failed)$'; }
# opened PID FILE: the process has FILE open
opened() { ls -l "/proc/$1/fd" 2>/dev/null | grep -q "$2"; }
# the whole job checked: one job, final, every chunk committed once, the
# table the oracle's, the rejects the manifest's, the counters adding up
job_ok() {
	local db=$1 what=$2
	check "$what: one job, PartiallySucceeded" "$(q "$db" 'SELECT count(*), status FROM sluice_jobs')" "1|PartiallySucceeded"
	check "$what: every chunk Succeeded" "$(q "$db" "SELECT count(*) = sum(status = 'Succeeded') FROM sluice_chunks")" 1
	check "$what: one chunk_end per chunk" "$(q "$db" "SELECT count(*) FROM (SELECT chunk FROM sluice_events WHERE kind = 'chunk_end' GROUP BY chunk HAVING count(*) <> 1)")" 0
	check "$what: counters add up" "$(q "$db" "SELECT rows_read = rows_loaded + rows_rejected AND rows_read = $ROWS AND rows_loaded = (SELECT count(*) FROM call_detail_records) AND rows_rejected = (SELECT count(*) FROM sluice_rejects) FROM sluice_jobs")" 1
	check "$what: chunk counters add up to the job's" "$(q "$db" "SELECT (SELECT sum(rows_loaded) FROM sluice_chunks) = rows_loaded AND (SELECT sum(rows_rejected) FROM sluice_chunks) = rows_rejected FROM sluice_jobs")" 1
	table_is "$db" "$T/cdr.csv" && ok || bad "$what: the table differs from the oracle's rows"
	rejects_are "$db" "$T/man.tsv" "$what"
}
# planned DB: a job for cdr.csv planned and nobody running it: an ingest
# held before its first chunk (SLUICE_TEST_PAUSE), then killed
planned() {
	rm -rf "$T/p0" && mkdir "$T/p0"
	SLUICE_TEST_PAUSE=0:$T/p0 sl_start "$T/plan.err" ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$1" --chunk-size 64k --threads 1 --quiet
	local pid=$BG_PID
	wait_for "the planning ingest held at chunk 0" 1500 test -e "$T/p0/paused"
	sl_kill9 "$pid" "$T/plan.err"
}

ROWS=${ROWS:-20000}
sl gen cdr --rows "$ROWS" --error-rate 0.05 --seed 21 --quoted-rate 0.05 --manifest "$T/man.tsv" -o "$T/cdr.csv" || bad "gen cdr"

# --- a worker paused past its lease: its commit is refused, another runs the chunk -------
planned "$T/s.db"
check "planned: chunks queued" "$(q "$T/s.db" "SELECT count(*) > 5 FROM sluice_chunks WHERE status IN ('Queued', 'Processing')")" 1
rm -rf "$T/p3" && mkdir "$T/p3"
SLUICE_TEST_PAUSE=3:$T/p3 sl_start "$T/a.err" worker --db "$T/s.db" --once --json --name stopped --lease-ttl 0.4 >"$T/a.json"
apid=$BG_PID
wait_for "worker A holding chunk 3" 1500 test -e "$T/p3/paused"
check "A holds chunk 3" "$(q "$T/s.db" "SELECT status, owner LIKE 'stopped %' FROM sluice_chunks WHERE seq = 3")" "Processing|1"
kill -STOP "$apid"
# stopped, its heartbeat stops too: the lease runs out
wait_for "A's lease on chunk 3 to expire" 1500 expired "$T/s.db" 3
sl_run worker --db "$T/s.db" --once --json --name other --lease-ttl 5
check "worker B ran the rest: exit 0" "$(rc)" 0
check "B took chunk 3 over" "$(q "$T/s.db" "SELECT status, owner LIKE 'other %', lease_epoch FROM sluice_chunks WHERE seq = 3")" "Succeeded|1|2"
check "B finished the job (fan-in)" "$(q "$T/s.db" 'SELECT status FROM sluice_jobs')" PartiallySucceeded
: >"$T/p3/go"
kill -CONT "$apid"
sl_wait "$apid" "$T/a.err"
check "A, continued: exit 0" "$?" 0
check "A's commit of chunk 3 was refused (lease lost)" "$(python3 -c "import json; d=json.load(open('$T/a.json')); print(d['lost'], d['chunks'])")" "1 3"
grep -q "chunk 3 not committed: .*(LEASE_LOST)" "$T/a.err" && ok || bad "A says its commit was refused: LEASE_LOST ($(grep -v ' rows, ' "$T/a.err" | head -3))"
check "the refusal is in the job's events" "$(q "$T/s.db" "SELECT count(*) FROM sluice_events WHERE kind = 'chunk_lease_lost' AND chunk = 3 AND message LIKE 'stopped %'")" 1
job_ok "$T/s.db" "SIGSTOP past the lease"

# --- a lease that runs out while its chunk commits: the commit stands, nobody redoes it ---
planned "$T/c.db"
rm -rf "$T/pc" && mkdir "$T/pc"
SLUICE_TEST_PAUSE_COMMIT=2:$T/pc sl_start "$T/a2.err" worker --db "$T/c.db" --once --json --name slow --lease-ttl 0.3 >"$T/a2.json"
apid=$BG_PID
wait_for "worker A inside chunk 2's commit" 1500 test -e "$T/pc/paused"
# A holds the write lock: its heartbeat cannot renew, the lease runs out
wait_for "A's lease on chunk 2 to expire" 1500 expired "$T/c.db" 2
sl_start "$T/b2.err" worker --db "$T/c.db" --once --json --name other --lease-ttl 5 >"$T/b2.json"
bpid=$BG_PID
wait_for "worker B to open the database" 1500 opened "$bpid" "$T/c.db"
check "B cannot take the chunk while A commits it" "$(q "$T/c.db" "SELECT owner LIKE 'slow %' FROM sluice_chunks WHERE seq = 2")" 1
: >"$T/pc/go"
sl_wait "$apid" "$T/a2.err"
check "A: exit 0" "$?" 0
sl_wait "$bpid" "$T/b2.err"
check "B: exit 0" "$?" 0
check "A's late commit stood" "$(python3 -c "import json; d=json.load(open('$T/a2.json')); print(d['lost'])")" 0
check "chunk 2: A's, claimed once" "$(q "$T/c.db" "SELECT owner LIKE 'slow %', lease_epoch FROM sluice_chunks WHERE seq = 2")" "1|1"
job_ok "$T/c.db" "a lease expired during its commit"

# --- kill -9 of a lease holder: its lease is void at once (its process is gone) -------
planned "$T/k.db"
rm -rf "$T/pk" && mkdir "$T/pk"
SLUICE_TEST_PAUSE=1:$T/pk sl_start "$T/a3.err" worker --db "$T/k.db" --once --name killed --lease-ttl 3600 >/dev/null
apid=$BG_PID
wait_for "worker A holding chunk 1" 1500 test -e "$T/pk/paused"
sl_kill9 "$apid" "$T/a3.err"
check "A's lease of an hour is still on the row" "$(q "$T/k.db" "SELECT status, lease_expiry_ms > $NOW_MS + 60000 FROM sluice_chunks WHERE seq = 1")" "Processing|1"
sl_run worker --db "$T/k.db" --once --json --name other
check "B: exit 0, nothing refused" "$(rc)+$(json "$T/out" "d['lost']")" "0+0"
check "B took chunk 1 over without waiting for the hour" "$(q "$T/k.db" "SELECT owner LIKE 'other %' FROM sluice_chunks WHERE seq = 1")" 1
job_ok "$T/k.db" "a killed holder"

# --- cancel of a job that workers run: they stop, the job ends Cancelled ---------------
planned "$T/x.db"
rm -rf "$T/px" && mkdir "$T/px"
SLUICE_TEST_PAUSE=2:$T/px sl_start "$T/a4.err" worker --db "$T/x.db" --once --json >"$T/a4.json"
apid=$BG_PID
wait_for "the worker holding chunk 2" 1500 test -e "$T/px/paused"
job=$(q "$T/x.db" 'SELECT id FROM sluice_jobs')
sl_run cancel "$job" --db "$T/x.db"
check "cancel while a worker holds a chunk: exit 0" "$(rc)" 0
check "the job is still running (the holder ends it)" "$(q "$T/x.db" 'SELECT status FROM sluice_jobs')" Processing
: >"$T/px/go"
sl_wait "$apid" "$T/a4.err"
check "the worker: exit 0" "$?" 0
check "the job Cancelled after the chunk in flight" "$(q "$T/x.db" 'SELECT status FROM sluice_jobs')+$(q "$T/x.db" "SELECT count(*) FROM sluice_chunks WHERE status = 'Succeeded'")" "Cancelled+3"
check "the cancel request is answered" "$(q "$T/x.db" 'SELECT count(*) FROM sluice_cancels')" 0
check "cancelled: counters add up" "$(q "$T/x.db" "SELECT rows_read = rows_loaded + rows_rejected AND rows_loaded = (SELECT count(*) FROM call_detail_records) FROM sluice_jobs")" 1

finish lease
