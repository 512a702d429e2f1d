#!/usr/bin/env bash
# sluice ingest into Citus (a coordinator and two workers of the `citus`
# fixture, tests/pg/fixture_citus.sh), each run in a database of its own on
# every node: the CDR schema with `distribution: {column: reference,
# shard_count: 8}` makes the target a hash-distributed table; the same file
# loaded into Citus and into SQLite (which ignores `distribution:`) gives
# the same counts and the same rejects (record, line, code, message), the
# table read back equals the oracle's rows value by value, and the rows are
# on every shard and on both worker nodes (citus_shards, a count per
# shard); the job store stays on the coordinator (sluice.jobs is a plain
# table there). Then on_duplicate: update (rows updated counted as in
# SQLite), a table without a key (COPY straight into the distributed
# table), a CHECK constraint on the distributed table (DB_CONSTRAINT, the
# rest loads), and the mistakes: a table distributed on another column
# (DB_SCHEMA naming both columns), a Citus database without nodes (CONFIG).
# Usage: test_citus.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh"
use_fixture citus
. "$SRC/tests/pg/citus_lib.sh"
NS=$(fixture_namespace)
ORACLE=$SRC/tests/lib/oracle.py
DIST=$T/cdr_dist.yaml
sed 's/^key: \[reference\]/key: [reference]\ndistribution: {column: reference, shard_count: 8}/' \
	"$SRC/examples/cdr.yaml" >"$DIST"
grep -q '^distribution:' "$DIST" || bad "the schema has no distribution"
q() { psql -d "$1" -qAtc "$2"; }
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
# the CDR table $3 (call_detail_records) of database $1 as the sqlite3 shell's
# -json would give it (json_build_object: Citus's json_agg of a subquery's
# rows loses the column names)
pg_json() {
	q "$1" "SELECT coalesce(json_agg(r ORDER BY r->>'reference'), '[]') FROM (SELECT json_build_object(
		'caller_id', caller_id, 'recipient', recipient, 'call_date', to_char(call_date, 'YYYY-MM-DD'),
		'end_time', end_time::text, 'duration', duration, 'cost', cost, 'reference', reference,
		'currency', currency) r FROM ${3:-call_detail_records} ${2:+WHERE $2}) t"
}
same_counts() { # WHAT CITUS_JSON SQLITE_JSON FIELDS...
	local what=$1 a=$2 b=$3 f
	shift 3
	for f in "$@"; do
		check "$what: $f as SQLite's" "$(jget "$a" "d.get('$f')")" "$(jget "$b" "d.get('$f')")"
	done
}

ROWS=8000
sl gen cdr --rows $ROWS --error-rate 0.02 --seed 7 --manifest "$T/man.tsv" -o "$T/in.csv" >/dev/null
check "gen" "$?" 0

# --- the same file into Citus and SQLite -----------------------------------------
DB=${NS}_cdr
citus_newdb "$DB" || bad "a database on every node"
URI="postgresql:///$DB"
sl ingest "$T/in.csv" --schema "$DIST" --db "$URI" --json >"$T/ci.json"
check "ingest into Citus: some rows rejected" "$?" 3
sl ingest "$T/in.csv" --schema "$DIST" --db "$T/a.db" --json >"$T/sq.json"
check "ingest into SQLite: distribution ignored" "$?" 3
same_counts "Citus" "$T/ci.json" "$T/sq.json" status rows_read rows_loaded rows_rejected chunks_total rejects_by_code
check "rejects by code: the manifest's" "$(jget "$T/ci.json" "dict(sorted(d['rejects_by_code'].items()))")" \
	"$(cdr_by_code "$T/man.tsv")"
check "the target is hash-distributed on reference" \
	"$(q "$DB" "SELECT partmethod::text || ' ' || column_to_column_name(logicalrelid, partkey) FROM pg_dist_partition
		WHERE logicalrelid = 'call_detail_records'::regclass")" "h reference"
check "the job store stays on the coordinator: no sluice table is Citus's" \
	"$(q "$DB" "SELECT count(*) FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'sluice'")" 0
check "rows loaded: the table's count" "$(q "$DB" "SELECT count(*) FROM call_detail_records")" \
	"$(jget "$T/ci.json" "d['rows_loaded']")"
pg_json "$DB" >"$T/got.json" || bad "psql"
python3 "$ORACLE" compare "$T/in.csv" "$T/got.json" && ok || bad "the Citus table differs from the oracle"
J=$(jget "$T/ci.json" "d['job_id']")
JS=$(jget "$T/sq.json" "d['job_id']")
sl errors "$J" --db "$URI" >"$T/ci_err.csv"
check "errors on the URI" "$?" 0
sl errors "$JS" --db "$T/a.db" >"$T/sq_err.csv"
check "errors on SQLite" "$?" 0
# byte for byte, the DUP_KEY messages' earlier records included (provenance)
cmp -s "$T/ci_err.csv" "$T/sq_err.csv" && ok ||
	bad "rejects differ between Citus and SQLite: $(diff "$T/ci_err.csv" "$T/sq_err.csv" | head -8)"

# --- the rows spread over the shards and both workers ------------------------------
check "8 shards" "$(q "$DB" "SELECT count(*) FROM citus_shards WHERE table_name = 'call_detail_records'::regclass")" 8
check "every shard holds rows" \
	"$(q "$DB" "SELECT count(*) FROM run_command_on_shards('call_detail_records', 'SELECT count(*) FROM %s')
		WHERE success AND result::bigint > 0")" 8
citus_rows_per_node "$DB" call_detail_records >"$T/nodes"
echo "rows per worker node: $(tr '\n' ' ' <"$T/nodes")"
check "two worker nodes hold rows" "$(awk '$2 > 0' "$T/nodes" | wc -l)" 2
check "the nodes' rows add up to the rows loaded" "$(awk '{s += $2} END {print s}' "$T/nodes")" \
	"$(jget "$T/ci.json" "d['rows_loaded']")"
for p in $CITUS_WORKER_PORTS; do
	# no node has all of them: a node with 1/2 of the rows +- 10 % has hashed its share
	n=$(awk -v p="$p" '$1 == p {print $2}' "$T/nodes")
	[ "${n:-0}" -gt $((ROWS * 2 / 5)) ] && [ "${n:-0}" -lt $((ROWS * 3 / 5)) ] && ok || bad "worker $p holds $n of $ROWS rows: not about half"
done
sl ingest "$T/in.csv" --schema "$DIST" --db "$URI" --json >"$T/again.json"
check "the same file again: loaded already" "$(jget "$T/again.json" "d['already_loaded']")" True

# --- on_duplicate: update, the upsert path (DO UPDATE from the staging table) --------
sed -e 's/^table: call_detail_records/table: cdr_upsert/' -e 's/^on_duplicate: reject.*/on_duplicate: update/' \
	"$DIST" >"$T/upd.yaml"
for i in 1 2; do
	sl ingest "$T/in.csv" --schema "$T/upd.yaml" --db "$URI" --new --json >"$T/ci_upd$i.json"
	sl ingest "$T/in.csv" --schema "$T/upd.yaml" --db "$T/a.db" --new --json >"$T/sq_upd$i.json"
	same_counts "update, load $i" "$T/ci_upd$i.json" "$T/sq_upd$i.json" status rows_loaded rows_rejected rejects_by_code
done
check "update: one row per key" "$(q "$DB" "SELECT count(*) = count(DISTINCT reference) FROM cdr_upsert")" t
pg_json "$DB" "" cdr_upsert >"$T/upd.json"
sqlite3 -json "$T/a.db" "SELECT caller_id, recipient, call_date, end_time, duration, cost, reference, currency
	FROM cdr_upsert ORDER BY reference" >"$T/sq_upd.json"
python3 -c "
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
norm = lambda r: {k: (None if v is None else str(v) if k != 'cost' else '%.3f' % float(v)) for k, v in r.items()}
sys.exit(0 if [norm(r) for r in a] == [norm(r) for r in b] else 1)" "$T/upd.json" "$T/sq_upd.json" && ok ||
	bad "update: the Citus table differs from SQLite's"

# --- no key: COPY straight into the distributed table ------------------------------
sed -e 's/^table: call_detail_records/table: cdr_nokey/' -e '/^key:/d' -e '/^on_duplicate:/d' \
	-e 's/^distribution: .*/distribution: {column: caller_id}/' "$DIST" >"$T/nokey.yaml"
sl ingest "$T/in.csv" --schema "$T/nokey.yaml" --db "$URI" --json >"$T/ci_nk.json"
sl ingest "$T/in.csv" --schema "$T/nokey.yaml" --db "$T/a.db" --json >"$T/sq_nk.json"
same_counts "no key" "$T/ci_nk.json" "$T/sq_nk.json" status rows_loaded rows_rejected rejects_by_code
check "no key: every row loaded is there" "$(q "$DB" "SELECT count(*) FROM cdr_nokey")" "$(jget "$T/ci_nk.json" "d['rows_loaded']")"
check "no key: Citus's default shard count (32)" \
	"$(q "$DB" "SELECT count(*) FROM citus_shards WHERE table_name = 'cdr_nokey'::regclass")" 32

# --- a CHECK constraint the schema does not know, on the distributed table ---------------
# three calls SQLite loaded break it (few: each refused row costs a
# bisection of statements that take tens of milliseconds each on Citus,
# docs/scaling.md)
BAN=$(sqlite3 "$T/a.db" "SELECT group_concat(quote(reference), ', ') FROM (SELECT reference FROM call_detail_records
	ORDER BY duration DESC, reference LIMIT 3)")
q "$DB" "CREATE TABLE cdr_check (caller_id text, recipient text, call_date date, end_time time,
	duration bigint, cost numeric(12,3), reference text PRIMARY KEY CONSTRAINT banned CHECK (reference NOT IN ($BAN)),
	currency text, _sluice_job text NOT NULL, _sluice_row bigint GENERATED ALWAYS AS IDENTITY)" || bad "CREATE TABLE cdr_check"
sed 's/^table: call_detail_records/table: cdr_check/' "$DIST" >"$T/chk.yaml"
sl ingest "$T/in.csv" --schema "$T/chk.yaml" --db "$URI" --json >"$T/ci_chk.json"
check "CHECK: some rows rejected" "$?" 3
check "CHECK: a table made by hand is distributed" \
	"$(q "$DB" "SELECT count(*) FROM citus_shards WHERE table_name = 'cdr_check'::regclass")" 8
refused=$(q "$DB" "SELECT count(*) FROM sluice.rejects WHERE job_id = '$(jget "$T/ci_chk.json" "d['job_id']")'
	AND code = 'DB_CONSTRAINT' AND message LIKE '%SQLSTATE 23514%banned%'")
check "CHECK: every refused row is DB_CONSTRAINT with the SQLSTATE and the constraint" \
	"$refused" "$(jget "$T/ci_chk.json" "d['rejects_by_code'].get('DB_CONSTRAINT')")"
check "CHECK: the three rows refused" "$refused" 3
check "CHECK: the rest loaded" \
	"$(jget "$T/ci_chk.json" "d['rows_loaded'] + d['rejects_by_code']['DB_CONSTRAINT']")" "$(jget "$T/ci.json" "d['rows_loaded']")"
check "CHECK: no row breaks it" "$(q "$DB" "SELECT count(*) FROM cdr_check WHERE reference IN ($BAN)")" 0

# --- the mistakes -----------------------------------------------------------------------
q "$DB" "CREATE TABLE cdr_other (LIKE cdr_check)" &&
	q "$DB" "SELECT create_distributed_table('cdr_other', 'recipient')" >/dev/null || bad "cdr_other"
sed 's/^table: cdr_nokey/table: cdr_other/' "$T/nokey.yaml" >"$T/other.yaml"
sl ingest "$T/in.csv" --schema "$T/other.yaml" --db "$URI" --json >"$T/other.json"
check "another distribution column: the job fails" "$(jget "$T/other.json" "d['status']")" Failed
check "another distribution column: DB_SCHEMA" "$(jget "$T/other.json" "d['error']['code']")" DB_SCHEMA
jget "$T/other.json" "d['error']['message']" | grep -q "distributed on column recipient, but the schema distributes it on caller_id" &&
	ok || bad "another distribution column: $(jget "$T/other.json" "d['error']['message']")"
psql -d postgres -qc "CREATE DATABASE ${NS}_bare" && q "${NS}_bare" "CREATE EXTENSION citus" || bad "a bare database"
sl ingest "$T/in.csv" --schema "$DIST" --db "postgresql:///${NS}_bare" --json >"$T/bare.json"
check "Citus without nodes: CONFIG" "$(jget "$T/bare.json" "d['error']['code']")" CONFIG
jget "$T/bare.json" "d['error']['message']" | grep -q "citus_add_node" && ok || bad "no nodes: $(jget "$T/bare.json" "d['error']['message']")"
finish citus_ingest
