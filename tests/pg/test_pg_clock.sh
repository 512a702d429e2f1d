#!/usr/bin/env bash
# Leases on the database's clock (issue 12; docs/scaling.md, Clocks): a
# process whose own clock is an hour off (libfaketime's `faketime`, an
# LD_PRELOAD that shifts the clock the process reads) agrees with the others
# on when a lease runs out, because every lease and backoff is set and
# compared on PostgreSQL's clock, never on a process's:
#   - a worker an hour AHEAD, leader candidate and reaper included, runs the
#     chunks of a job while an ingest (the true clock) holds chunk 0 paused
#     (SLUICE_TEST_PAUSE): the ingest's live lease is not requeued, not
#     taken over; the ingest then commits it (no chunk_lease_lost), the job
#     ends with every row once;
#   - a worker an hour BEHIND holds chunk 3 paused while the ingest's leader
#     (the true clock) beats again and again (its lease row renewed, polled):
#     the worker's lease is not requeued either; it then commits it.
# With the process's clock, the first worker's reaper would see the
# ingest's lease as an hour expired, and the second worker's lease would
# be an hour expired to the ingest's reaper. (NO_FAKE_STAT=1: the files'
# times are left alone, or the job's file would look changed.)
# Usage: test_pg_clock.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh"
use_fixture postgres
export PGHOST PGPORT PGUSER
command -v faketime >/dev/null || skip "faketime is not installed (Debian package faketime)" installable
at_exit() { kill -9 $(jobs -p) 2>/dev/null; }
NS=$(fixture_namespace)
CDR=$SRC/examples/cdr.yaml
pq() { psql -d "$1" -qAtc "$2"; }
renewed() { [ "$(pq "$1" "SELECT expires_ms > $2 FROM sluice.leader")" = t ]; }
newdb() { psql -d postgres -qAtc "CREATE DATABASE $1" >/dev/null || bad "CREATE DATABASE $1"; }
# libfaketime after the sanitizer's runtime (ASan wants to be first)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
sl gen cdr --rows 12000 --error-rate 0.02 --seed 43 -o "$T/in.csv" >/dev/null || bad "gen cdr"
check "faketime shifts the clock" "$(($(faketime -f '+1h' date +%s) - $(date +%s) > 3000))" 1

for skew in ${SKEWS:-ahead behind}; do
	db=${NS}_$skew
	newdb "$db"
	URI=postgresql:///$db
	rm -rf "$T/p0" "$T/p3"
	mkdir "$T/p0" "$T/p3"
	SLUICE_TEST_PAUSE=0:$T/p0 sl_start "$T/ing.err" ingest "$T/in.csv" --schema "$CDR" --db "$URI" \
		--chunk-size 64k --threads 1 --lease-ttl 3 --quiet
	ipid=$BG_PID
	wait_for "the ingest held at chunk 0" 1500 test -e "$T/p0/paused"
	check "$skew: the ingest leads" "$(pq "$db" "SELECT split_part(owner, ' ', 1) FROM sluice.leader")" ingest
	if [ $skew = ahead ]; then
		SL_WRAP="env NO_FAKE_STAT=1 faketime -f +1h" sl worker --db "$URI" --once --quiet --lease-ttl 3
		check "ahead: the worker ran the other chunks and stopped" "$?" 0
	else
		SLUICE_TEST_PAUSE=3:$T/p3 SL_WRAP="env NO_FAKE_STAT=1 faketime -f -1h" sl_start "$T/w.err" worker --db "$URI" --once --quiet --lease-ttl 3
		wpid=$BG_PID
		wait_for "the worker held at chunk 3" 1500 test -e "$T/p3/paused"
		# three renewals of the ingest's leader lease: its reaper ran each time
		e0=$(pq "$db" "SELECT expires_ms FROM sluice.leader")
		for i in 1 2 3; do
			wait_for "leader beat $i" 1500 renewed "$db" "$e0"
			e0=$(pq "$db" "SELECT expires_ms FROM sluice.leader")
		done
		check "behind: the worker's chunk 3 still its own" \
			"$(pq "$db" "SELECT status || ' ' || split_part(owner, ' ', 1) FROM sluice.chunks WHERE seq = 3")" "Processing worker"
		touch "$T/p3/go"
		sl_wait "$wpid" "$T/w.err"
		check "behind: the worker stopped cleanly" "$?" 0
	fi
	check "$skew: nothing requeued" "$(pq "$db" "SELECT count(*) FROM sluice.events WHERE kind = 'chunk_requeued'")" 0
	check "$skew: chunk 0 still the ingest's" \
		"$(pq "$db" "SELECT status || ' ' || split_part(owner, ' ', 1) FROM sluice.chunks WHERE seq = 0")" "Processing ingest"
	touch "$T/p0/go"
	sl_wait "$ipid" "$T/ing.err"
	check "$skew: the ingest's exit (rows rejected)" "$?" 3
	check "$skew: no commit refused" "$(pq "$db" "SELECT count(*) FROM sluice.events WHERE kind = 'chunk_lease_lost'")" 0
	check "$skew: the job" "$(pq "$db" "SELECT status FROM sluice.jobs")" PartiallySucceeded
	check "$skew: every chunk once" "$(pq "$db" "SELECT count(*) = count(*) FILTER (WHERE status = 'Succeeded') FROM sluice.chunks")|$(pq "$db" "SELECT count(*) FROM sluice.events WHERE kind = 'chunk_end'") " \
		"t|$(pq "$db" "SELECT count(*) FROM sluice.chunks") "
	check "$skew: every row once" "$(pq "$db" "SELECT count(*) = count(DISTINCT _sluice_rec) AND count(*) = (SELECT rows_loaded FROM sluice.jobs) FROM call_detail_records")" t
	check "$skew: both ran chunks" "$(pq "$db" "SELECT count(DISTINCT split_part(owner, ' ', 1)) FROM sluice.chunks")" 2
done
finish pg_clock
