#!/usr/bin/env bash
# A worker SIGSTOPped past its lease on PostgreSQL (issue 12, Tests; the
# SQLite case is tests/engine/test_lease.sh): worker A holds chunk 3
# (SLUICE_TEST_PAUSE: the place is exact, not timed), is stopped, its
# lease runs out (polled against the server's clock), worker B takes chunk 3
# over and finishes the job; A, continued, runs chunk 3 and its commit is
# refused by the fence (LEASE_LOST: said on its stderr, counted in its
# JSON, an event of the job). The chunk is done once, by B, and the job's
# table, rejects and counts are a one-thread SQLite load's
# (tests/pg/state_lib.sh).
# Usage: test_pg_lease_stop.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh"
. "$SRC/tests/pg/state_lib.sh"
use_fixture postgres
export PGHOST PGPORT PGUSER
at_exit() { kill -CONT $(jobs -p) 2>/dev/null; kill -9 $(jobs -p) 2>/dev/null; }
NS=$(fixture_namespace)
CDR=$SRC/examples/cdr.yaml
DB=${NS}_s
URI="postgresql:///$DB"
q() { psql -d "$DB" -qAtc "$1" 2>/dev/null; }
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
NOW_MS="(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
expired() { [ "$(q "SELECT lease_expiry_ms < $NOW_MS FROM sluice.chunks WHERE seq = $1")" = t ]; }

sl gen cdr --rows 8000 --error-rate 0.03 --seed 23 -o "$T/in.csv" >/dev/null
check "gen" "$?" 0
sl ingest "$T/in.csv" --schema "$CDR" --db "$T/one.db" --threads 1 --chunk-size 64k --json >"$T/one.json"
check "the one-thread load into SQLite" "$?" 3
psql -d postgres -qAtc "CREATE DATABASE $DB" >/dev/null || bad "CREATE DATABASE $DB"

# the job planned and nobody running it: an ingest held before chunk 0, killed
mkdir -p "$T/p0" "$T/p3"
SLUICE_TEST_PAUSE=0:$T/p0 sl_start "$T/plan.err" ingest "$T/in.csv" --schema "$CDR" --db "$URI" \
	--chunk-size 64k --threads 1 --quiet
wait_for "the planning ingest held at chunk 0" 3000 test -e "$T/p0/paused"
sl_kill9 "$BG_PID" "$T/plan.err"
check "planned: more than 4 chunks" "$([ "$(q "SELECT count(*) FROM sluice.chunks")" -gt 4 ] && echo yes)" yes

SLUICE_TEST_PAUSE=3:$T/p3 sl_start "$T/a.err" worker --db "$URI" --once --json --name stopped --lease-ttl 0.5 >"$T/a.json"
apid=$BG_PID
wait_for "worker A holding chunk 3" 3000 test -e "$T/p3/paused"
check "A holds chunk 3" "$(q "SELECT status || ' ' || (owner LIKE 'stopped %') FROM sluice.chunks WHERE seq = 3")" "Processing true"
kill -STOP "$apid"
# stopped, its heartbeat stops too: the lease runs out
wait_for "A's lease on chunk 3 to expire" 3000 expired 3
SL_NAME=b sl_run worker --db "$URI" --once --json --name other --lease-ttl 5
check "worker B ran the rest: exit 0" "$(rc b)" 0
check "B took chunk 3 over" "$(q "SELECT status || ' ' || (owner LIKE 'other %') || ' ' || lease_epoch FROM sluice.chunks WHERE seq = 3")" "Succeeded true 2"
check "B finished the job" "$(q "SELECT status FROM sluice.jobs")" PartiallySucceeded
: >"$T/p3/go"
kill -CONT "$apid"
sl_wait "$apid" "$T/a.err"
check "A, continued: exit 0" "$?" 0
check "A's commit of chunk 3 was refused (lease lost)" "$(jget "$T/a.json" "(d['lost'], d['chunks'])")" "(1, 3)"
grep -q "chunk 3 not committed: .*(LEASE_LOST)" "$T/a.err" && ok ||
	bad "A says its commit was refused: LEASE_LOST ($(grep -v ' rows, ' "$T/a.err" | head -3))"
check "the refusal is in the job's events" \
	"$(q "SELECT count(*) FROM sluice.events WHERE kind = 'chunk_lease_lost' AND chunk = 3 AND message LIKE 'stopped %'")" 1
check "chunk 3 ended once, every chunk once" \
	"$(q "SELECT count(*) FILTER (WHERE chunk = 3) || ' ' || count(*) || ' ' || count(DISTINCT chunk) FROM sluice.events WHERE kind = 'chunk_end'")" \
	"1 $(q "SELECT count(*) FROM sluice.chunks") $(q "SELECT count(*) FROM sluice.chunks")"
check "chunk 3 is still B's" "$(q "SELECT owner LIKE 'other %' FROM sluice.chunks WHERE seq = 3")" t
J=$(q "SELECT id FROM sluice.jobs")
state sqlite "$T/one.db" "$(jget "$T/one.json" "d['job_id']")" "$T/one"
state pg "$DB" "$J" "$T/pg"
same "a worker stopped past its lease" "$T/one" "$T/pg"
check "every row once" "$(q "SELECT count(*) = count(DISTINCT reference) FROM call_detail_records")" t
finish pg_lease_stop
