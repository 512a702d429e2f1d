#!/usr/bin/env bash
# A worker paused INSIDE its chunk's transaction on PostgreSQL: its fence
# UPDATE has locked the chunk's row, its rows are written, and it is
# SIGSTOPped there (SLUICE_TEST_PAUSE_COMMIT: the place is exact). Its lease
# runs out, but a claim's SKIP LOCKED would pass the locked row for as long
# as the paused session lives, so nobody could take the chunk over. sluice
# sets idle_in_transaction_session_timeout on every connection that works
# under a lease (the lease TTL, at least 5 s: sl__lease_hold_limit), so the
# server ends the paused session and frees its locks: worker B takes the
# chunk over and finishes the job; A, continued, finds its connection gone,
# reconnects, and its commit is refused by the fence (LEASE_LOST). The job's
# table, rejects and counts are a one-thread SQLite load's.
# Usage: test_pg_lease_hold.sh SLUICE SOURCE_DIR
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
idle_in_txn() { q "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB' AND application_name = 'sluice' AND state = 'idle in transaction'"; }

sl gen cdr --rows 8000 --error-rate 0.03 --seed 29 -o "$T/in.csv" >/dev/null
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

SLUICE_TEST_PAUSE_COMMIT=3:$T/p3 sl_start "$T/a.err" worker --db "$URI" --once --json --name stopped \
	--lease-ttl 0.5 >"$T/a.json"
apid=$BG_PID
wait_for "worker A inside chunk 3's transaction" 3000 test -e "$T/p3/paused"
kill -STOP "$apid"
check "A's session holds a transaction open" "$(idle_in_txn)" 1
wait_for "A's lease on chunk 3 to expire" 3000 expired 3
# B: bounded, so a takeover that never comes fails here instead of hanging
SL_WRAP="timeout 120" SL_NAME=b sl_run worker --db "$URI" --once --json --name other --lease-ttl 5
check "worker B ran the rest: exit 0 (124: it never got chunk 3)" "$(rc b)" 0
check "the server ended A's idle transaction" "$(idle_in_txn)" 0
check "B took chunk 3 over" "$(q "SELECT status || ' ' || (owner LIKE 'other %') || ' ' || lease_epoch FROM sluice.chunks WHERE seq = 3")" "Succeeded true 2"
check "B finished the job" "$(q "SELECT status FROM sluice.jobs")" PartiallySucceeded
: >"$T/p3/go"
kill -CONT "$apid"
sl_wait "$apid" "$T/a.err"
check "A, continued: exit 0" "$?" 0
check "A's chunk 3 was refused (lease lost)" "$(jget "$T/a.json" "d['lost']")" 1
grep -q "chunk 3 not committed: .*(LEASE_LOST)" "$T/a.err" && ok ||
	bad "A says its commit was refused: LEASE_LOST ($(grep -v ' rows, ' "$T/a.err" | head -3))"
check "chunk 3 ended once, every chunk once" \
	"$(q "SELECT count(*) FILTER (WHERE chunk = 3) || ' ' || count(*) || ' ' || count(DISTINCT chunk) FROM sluice.events WHERE kind = 'chunk_end'")" \
	"1 $(q "SELECT count(*) FROM sluice.chunks") $(q "SELECT count(*) FROM sluice.chunks")"
J=$(q "SELECT id FROM sluice.jobs")
state sqlite "$T/one.db" "$(jget "$T/one.json" "d['job_id']")" "$T/one"
state pg "$DB" "$J" "$T/pg"
same "a worker paused inside its chunk's transaction" "$T/one" "$T/pg"
check "every row once" "$(q "SELECT count(*) = count(DISTINCT reference) FROM call_detail_records")" t
finish pg_lease_hold
