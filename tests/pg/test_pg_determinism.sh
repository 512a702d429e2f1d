#!/usr/bin/env bash
# Determinism without ordered commits on PostgreSQL (issue 11, issue 12): a
# file whose keys repeat across chunks, loaded into PostgreSQL with its
# chunks committed in other orders than the file's, gives the table (every
# value and the record each row came from, _sluice_rec), the rejects (with
# their messages, which name the record holding the key) and the counts
# (the job's, its codes', every chunk's) of a one-thread load of the same
# file into SQLite, for on_duplicate reject, ignore and update:
#   - one process, claims in file order, and in two shuffled orders
#     (SLUICE_TEST_CLAIM_ORDER, a test-only knob; docs/ingest.md, Faults);
#   - two processes at once: `sluice ingest` (claiming in a shuffled order)
#     stops inside chunk 4's transaction, its rows written, before its
#     commit (SLUICE_TEST_PAUSE_COMMIT); a `sluice worker` runs the chunks
#     before it meanwhile, until it waits on a row lock of the paused
#     transaction (a key both have: polled in pg_stat_activity) or has
#     nothing else to do; then the ingest commits, and the earlier records
#     the worker commits after it displace chunk 4's later ones.
# The shell's `sqlite3` and `psql` read the two databases; the comparison
# is value by value (numbers as numbers: SQLite keeps a decimal as a
# double, PostgreSQL as numeric).
# Usage: test_pg_determinism.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh"
use_fixture postgres
export PGHOST PGPORT PGUSER
at_exit() { kill -9 $(jobs -p) 2>/dev/null; }
NS=$(fixture_namespace)
SCHEMA=$SRC/examples/cdr.yaml
pq() { psql -d "$1" -qAtc "$2"; }
sq() { sqlite3 -batch "$1" "$2"; }
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
. "$SRC/tests/pg/state_lib.sh"
newdb() { psql -d postgres -qAtc "CREATE DATABASE $1" >/dev/null || bad "CREATE DATABASE $1"; }
# did the chunks of database $1 commit out of file order?
out_of_order() {
	local order sorted
	order=$(pq "$1" "SELECT string_agg(chunk::text, ',' ORDER BY id) FROM sluice.events WHERE kind = 'chunk_end'")
	sorted=$(pq "$1" "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM sluice.chunks")
	[ "$order" != "$sorted" ] && echo yes || echo "no: $order"
}

ROWS=${ROWS:-12000}
sl gen cdr --rows "$ROWS" --error-rate 0.03 --seed 31 --manifest "$T/man.tsv" -o "$T/cdr.csv" >/dev/null || bad "gen cdr"
# keys that repeat across chunks (tests/lib/dup_keys.py)
python3 "$SRC/tests/lib/dup_keys.py" "$T/cdr.csv" "$T/man.tsv" "$T/dup.csv" >"$T/ndup"
check "the file has keys repeated across chunks" "$([ "$(cat "$T/ndup")" -gt 10 ] && echo yes)" yes

for mode in reject ignore update; do
	sed "s/^on_duplicate: .*/on_duplicate: $mode/" "$SCHEMA" >"$T/$mode.yaml"
	sl ingest "$T/dup.csv" --schema "$T/$mode.yaml" --db "$T/one-$mode.db" --chunk-size 16k --threads 1 --quiet --json >"$T/one.json"
	check "$mode, SQLite, one thread: exit 3" "$?" 3
	state sqlite "$T/one-$mode.db" "$(jget "$T/one.json" "d['job_id']")" "$T/one-$mode"
	# rows inserted and updated against the table, an oracle of its own: every
	# key in it was inserted once (the table was empty), every other loaded row
	# updated one (update), or none was (reject, ignore)
	n=$(sq "$T/one-$mode.db" "SELECT count(*) FROM call_detail_records")
	check "$mode: rows inserted, rows updated: the table's keys, the rest of the loaded" \
		"$(jget "$T/one.json" "(d['rows_inserted'], d['rows_updated'])")" \
		"$(jget "$T/one.json" "($n, d['rows_loaded'] - $n)")"
	[ "$mode" = update ] && check "update: some rows updated" "$(jget "$T/one.json" "d['rows_updated'] > 0")" True
	[ "$mode" = update ] || check "$mode: DUP_KEY rejects naming the record that holds the key" \
		"$([ "$(grep -c 'already loaded by record' "$T/one-$mode.errors")" -ge "$(cat "$T/ndup")" ] && echo yes)" yes

	# one process: file order, then two shuffled orders
	for m in 1 500009 333337; do
		db=${NS}_${mode}_$m
		newdb "$db"
		SLUICE_TEST_CLAIM_ORDER=$m sl ingest "$T/dup.csv" --schema "$T/$mode.yaml" --db "postgresql:///$db" --chunk-size 16k --threads 1 --quiet
		check "$mode, order $m: exit 3" "$?" 3
		[ "$m" = 1 ] || check "$mode, order $m: chunks committed out of file order" "$(out_of_order "$db")" yes
		state pg "$db" "$(pq "$db" "SELECT id FROM sluice.jobs")" "$T/pg"
		same "$mode, order $m" "$T/one-$mode" "$T/pg"
	done

	# two processes: the ingest paused inside chunk 4's transaction, a worker
	# committing the others meanwhile
	db=${NS}_${mode}_two
	newdb "$db"
	uri=postgresql:///$db
	mkdir -p "$T/p-$mode"
	: >"$T/two.err"
	SLUICE_TEST_CLAIM_ORDER=500009 SLUICE_TEST_PAUSE_COMMIT=4:$T/p-$mode sl_start "$T/two.err" ingest "$T/dup.csv" \
		--schema "$T/$mode.yaml" --db "$uri" --chunk-size 16k --threads 1 --quiet --lease-ttl 60
	ing=$BG_PID
	wait_for "the ingest to pause in chunk 4's commit" 3000 test -e "$T/p-$mode/paused"
	sl_start "$T/two.err" worker --db "$uri" --name w --quiet
	wrk=$BG_PID
	total=$(pq "$db" "SELECT count(*) FROM sluice.chunks")
	blocked() {
		[ "$(pq "$db" "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")" -gt 0 ] ||
			[ "$(pq "$db" "SELECT count(*) FROM sluice.chunks WHERE status = 'Succeeded'")" -ge $((total - 1)) ]
	}
	wait_for "the worker to wait on the paused transaction, or to run out of chunks" 3000 blocked
	echo "$mode: the worker waited on a row lock: $(pq "$db" "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")"
	touch "$T/p-$mode/go"
	sl_wait "$ing" "$T/two.err"
	check "$mode, two processes: the ingest exits 3" "$?" 3
	kill -TERM "$wrk"
	sl_wait "$wrk" "$T/two.err"
	check "$mode, two processes: the worker stops on SIGTERM" "$?" 0
	check "$mode, two processes: both ran chunks" "$(pq "$db" "SELECT count(DISTINCT owner) FROM sluice.chunks")" 2
	check "$mode, two processes: chunks committed out of file order" "$(out_of_order "$db")" yes
	state pg "$db" "$(pq "$db" "SELECT id FROM sluice.jobs")" "$T/pg"
	same "$mode, two processes" "$T/one-$mode" "$T/pg"
done

finish pg_determinism
