#!/usr/bin/env bash
# Idle workers woken by NOTIFY (migration 9's triggers, src/store/store_pg_notify.c)
# on the shared server of the `postgres` fixture: a worker whose polling
# fallback is 60 s (--poll 60), idle and waiting on its connection's socket,
# claims and commits a chunk of a job planned after it went idle within
# seconds, so the news woke it, not the poll; the job then finishes with
# every chunk once. The worker's state is read from /proc (a thread in
# poll(2)) and the database, never waited for with a timer.
# Usage: test_pg_notify.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh"
use_fixture postgres
export PGHOST PGPORT PGUSER
at_exit() { kill -9 $(jobs -p) 2>/dev/null; }
NS=$(fixture_namespace)
CDR=$SRC/examples/cdr.yaml
q() { psql -d "$DB" -qAtc "$1" 2>/dev/null; }
finished() { q "SELECT status FROM sluice.jobs" | grep -Eq '^(Succeeded|PartiallySucceeded|Failed)$'; }
# idle PID: one of its threads waits in poll(2) (the idle wait on its
# socket) while no session of the database runs a statement (so it is not
# a statement's wait), three looks in a row
idle() {
	local n
	if grep -qs poll_schedule /proc/"$1"/task/*/wchan &&
		[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'")" = 0 ]; then
		n=$(($(cat "$T/idle" 2>/dev/null || echo 0) + 1))
	else
		n=0
	fi
	echo "$n" >"$T/idle"
	[ "$n" -ge 3 ]
}

sl gen cdr --rows 20000 --error-rate 0.02 --seed 13 -o "$T/in.csv" >/dev/null
check "gen" "$?" 0
DB=${NS}_n
psql -d postgres -qAtc "CREATE DATABASE $DB" >/dev/null || bad "CREATE DATABASE $DB"
URI="postgresql:///$DB"

sl_start "$T/w.err" worker --db "$URI" --name W --poll 60 --quiet
wpid=$BG_PID
wait_for "the worker idle on its socket" 1500 idle "$wpid"
# a job planned now, by an ingest that runs it with one thread: the idle
# worker, woken, takes chunks of it too
sl_start "$T/i.err" ingest "$T/in.csv" --schema "$CDR" --db "$URI" --chunk-size 64k --threads 1 --quiet
ipid=$BG_PID
# 500 tries of 20 ms: 10 s, well before the worker's first poll (45 s at the earliest)
wait_for "the woken worker to commit a chunk" 500 sh -c "[ \"\$(psql -d $DB -qAtc \"SELECT count(*) FROM sluice.chunks WHERE status = 'Succeeded' AND owner LIKE 'W %'\")\" -ge 1 ]"
sl_wait "$ipid" "$T/i.err"
check "the ingest: exit 3 (PartiallySucceeded)" "$?" 3
check "the job finished, every chunk once" "$(q "SELECT status FROM sluice.jobs")+$(q "SELECT count(*) = sum((status = 'Succeeded')::int) FROM sluice.chunks")+$(q "SELECT count(*) FROM (SELECT chunk FROM sluice.events WHERE kind = 'chunk_end' GROUP BY chunk HAVING count(*) <> 1) x")" "PartiallySucceeded+t+0"
check "the worker ran some of it" "$(q "SELECT count(*) > 0 FROM sluice.chunks WHERE owner LIKE 'W %'")" t
kill -TERM "$wpid"
sl_wait "$wpid" "$T/w.err"
check "the worker stops on SIGTERM: exit 0" "$?" 0

finish pg_notify
