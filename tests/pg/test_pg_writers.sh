#!/usr/bin/env bash
# The writers of one `sluice ingest` into PostgreSQL without a key
# (src/engine/ingest.c, lanes; docs/scaling.md): besides the run's own
# writer, runners on connections of their own commit chunks of the job at
# the same time. Checked against a one-thread load of the same file into
# SQLite, value by value (tests/pg/state_lib.sh: the table with each row's
# record, the rejects, the job's and every chunk's counts):
#   - the default with 2 threads: the chunks are committed by two owners
#     (two connections' leases), and the load is the SQLite one;
#   - SLUICE_PG_WRITERS=3: three owners, the same load;
#   - SLUICE_PG_WRITERS=1, --threads 1, and a keyed schema: one owner;
#   - the ingest killed -9 (SLUICE_TEST_KILL=last_chunk: right after a
#     commit of its own) and resumed: every row once.
# Usage: test_pg_writers.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh"
use_fixture postgres
export PGHOST PGPORT PGUSER
NS=$(fixture_namespace)
pq() { psql -d "$1" -qAtc "$2"; }
. "$SRC/tests/pg/state_lib.sh"
newdb() { psql -d postgres -qAtc "CREATE DATABASE $1" >/dev/null || bad "CREATE DATABASE $1"; }
owners() { pq "$1" "SELECT count(DISTINCT owner) FROM sluice.chunks WHERE status = 'Succeeded'"; }

sl gen cdr --rows 20000 --error-rate 0.02 --seed 41 -o "$T/cdr.csv" >/dev/null || bad "gen cdr"
grep -v '^key:\|^on_duplicate:' "$SRC/examples/cdr.yaml" | sed 's/index: true.*//' >"$T/nokey.yaml"
sl ingest "$T/cdr.csv" --schema "$T/nokey.yaml" --db "$T/one.db" --chunk-size 64k --threads 1 --quiet --json >"$T/one.json"
check "SQLite, one thread: exit 3 (rejects)" "$?" 3
state sqlite "$T/one.db" "$(json "$T/one.json" "d['job_id']")" "$T/one"
chunks=$(sqlite3 -batch "$T/one.db" "SELECT count(*) FROM sluice_chunks")
check "the file has many chunks" "$([ "$chunks" -ge 8 ] && echo yes)" yes

run() { # NAME WANT_OWNERS [ENV...] -- [ARGS...]
	local name=$1 want=$2 db=${NS}_$1
	shift 2
	newdb "$db"
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	SL_WRAP="env ${envs[*]}" sl ingest "$T/cdr.csv" --schema "$T/nokey.yaml" --db "postgresql:///$db" \
		--chunk-size 64k --quiet "$@"
	check "$name: exit 3" "$?" 3
	check "$name: owners of the committed chunks" "$(owners "$db")" "$want"
	state pg "$db" "$(pq "$db" "SELECT id FROM sluice.jobs")" "$T/pg"
	same "$name" "$T/one" "$T/pg"
}
run default 2 SL_NONE=1 -- --threads 2
run three 3 SLUICE_PG_WRITERS=3 -- --threads 2
run one_writer 1 SLUICE_PG_WRITERS=1 -- --threads 2
run one_thread 1 SL_NONE=1 -- --threads 1

# a keyed load keeps one writer (its sorted COPY, the earliest-record rule)
db=${NS}_keyed
newdb "$db"
sed 's/index: true.*//' "$SRC/examples/cdr.yaml" >"$T/keyed.yaml"
sl ingest "$T/cdr.csv" --schema "$T/keyed.yaml" --db "postgresql:///$db" --chunk-size 64k --threads 2 --quiet
check "keyed: exit 3" "$?" 3
check "keyed: one owner" "$(owners "$db")" 1

# killed -9 right after a chunk of its own committed, then resumed
db=${NS}_kill
newdb "$db"
SL_EXPECT=killed SL_WRAP="env SLUICE_TEST_KILL=last_chunk" sl_run ingest "$T/cdr.csv" --schema "$T/nokey.yaml" \
	--db "postgresql:///$db" --chunk-size 64k --threads 2 --quiet --lease-ttl 2
check "killed: by SIGKILL" "$(rc)" 137
sl ingest "$T/cdr.csv" --schema "$T/nokey.yaml" --db "postgresql:///$db" --chunk-size 64k --threads 2 --quiet
check "resumed: exit 3" "$?" 3
check "resumed: every row once" "$(pq "$db" "SELECT count(*) = count(DISTINCT _sluice_rec) FROM call_detail_records")" t
state pg "$db" "$(pq "$db" "SELECT id FROM sluice.jobs")" "$T/pg"
same "killed and resumed" "$T/one" "$T/pg"

finish pg_writers
