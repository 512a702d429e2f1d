#!/usr/bin/env bash
# A poison chunk under `sluice ingest`'s parallel readers (issue 12): a
# chunk that kills the process that starts reading it
# (SLUICE_TEST_KILL_CHUNK=2, docs/ingest.md) kills each run that claims it
# while attempts are left; once they are spent (--max-attempts 3) the claim
# fails it with ATTEMPTS before any reader parses it, so that run is not
# killed, finishes the other chunks and ends the job PartiallySucceeded.
# Before, the check was the writer's, after the readers had parsed ahead:
# every run died on the chunk and the job never ended. Runs with 2 threads
# (a reader per slot, reading ahead of the writer); the lease TTL of 1 s
# lets each resume's leader queue the chunk again (attempts kept). A chunk
# another reader held when chunk 2 killed the run loses its lease as well,
# and may spend its attempts beside it.
# Usage: test_poison_readers.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh"
q() { sqlite3 -batch "$T/p.db" "$1"; }
finished() { q "SELECT status FROM sluice_jobs" 2>/dev/null | grep -Eq '^(Succeeded|PartiallySucceeded|Failed)$'; }

sl gen cdr --rows 20000 --error-rate 0.02 --seed 35 -o "$T/cdr.csv" >/dev/null || bad "gen cdr"
kills=0
runs=0
last=
while [ $runs -lt 8 ] && ! finished; do
	runs=$((runs + 1))
	SLUICE_TEST_KILL_CHUNK=2 sl_start "$T/i.err" ingest "$T/cdr.csv" --schema "$SRC/examples/cdr.yaml" --db "$T/p.db" \
		--chunk-size 64k --threads 2 --lease-ttl 1 --max-attempts 3 --retry-backoff 0.05 --quiet
	pid=$BG_PID
	wait "$pid" 2>/dev/null
	last=$?
	sanitizer_scan "$last" "$T/i.err" "run $runs"
	[ "$last" = 137 ] && kills=$((kills + 1))
done
check "runs killed by chunk 2: one per attempt" "$kills" 3
check "the run after them: not killed (exit 3: rows rejected)" "$last" 3
check "the job: PartiallySucceeded" "$(q 'SELECT status FROM sluice_jobs')" PartiallySucceeded
check "chunk 2: Failed with ATTEMPTS after 3 attempts" "$(q "SELECT status, last_error, attempts FROM sluice_chunks WHERE seq = 2")" "Failed|ATTEMPTS|3"
n=$(q 'SELECT count(*) FROM sluice_chunks')
check "the file has more chunks than the readers" "$([ "$n" -gt 4 ] && echo yes)" yes
# a chunk held beside chunk 2 when it killed the run lost its lease too:
# it may have spent its attempts the same way (and failed the same way)
check "every other chunk Succeeded, or Failed with ATTEMPTS beside chunk 2" \
	"$(q "SELECT count(*) FROM sluice_chunks WHERE seq <> 2 AND NOT (status = 'Succeeded' OR (status = 'Failed' AND last_error = 'ATTEMPTS'))")" 0
check "most chunks Succeeded" "$([ "$(q "SELECT count(*) FROM sluice_chunks WHERE status = 'Succeeded'")" -ge $((n - 3)) ] && echo yes)" yes
check "no row of a Failed chunk loaded" "$(q "SELECT count(*) FROM call_detail_records r JOIN sluice_chunks c ON r._sluice_rec BETWEEN c.first_record + 1 AND c.first_record + c.records_planned WHERE c.status = 'Failed'")" 0
check "the job's rows: the table's and the rejects', the Succeeded chunks' records" \
	"$(q "SELECT rows_loaded = (SELECT count(*) FROM call_detail_records) AND rows_rejected = (SELECT count(*) FROM sluice_rejects) AND rows_read = (SELECT sum(records_planned) FROM sluice_chunks WHERE status = 'Succeeded') FROM sluice_jobs")" 1
finish poison_readers
