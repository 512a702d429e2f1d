#!/usr/bin/env bash
# sluice into Citus next to `psql \copy` into the same distributed table,
# side by side in one run, on a clean CDR file (no bad rows: \copy stops at
# the first one):
#   bench/citus.sh [ROWS]     (default 300,000 rows, about 28 MB)
# A cluster (a coordinator and two workers on this machine, fsync off) is
# started for the run with the tests' fixture script
# (tests/pg/fixture_citus.sh, which builds Citus once per machine when it
# is missing) and stopped at the end. Each load goes into a database of
# its own, the table hash-distributed on reference in 32 shards: psql
# \copy with the primary key and without it; sluice with examples/cdr.yaml's
# key (without its `index:` columns) and `distribution: {column:
# reference, shard_count: 32}`, and without the key. Then the keyed path's
# two shapes in SQL alone, for the same rows in 64 MiB-sized batches of
# 300,000 rows at most: COPY into a coordinator-local temporary staging
# table and INSERT INTO the distributed table SELECT ... ON CONFLICT DO
# NOTHING (what sluice does), against COPY into a distributed staging table
# co-located with the target and the same INSERT ... SELECT, which Citus
# pushes down shard by shard. Prints a Markdown table of wall times and
# sluice's peak memory (docs/benchmarks.md keeps the numbers).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-300000}
S=$PWD/build/sluice
OUT=$PWD/bench/out
mkdir -p "$OUT"
export SLUICE_FIXTURES=$OUT/citus_fixture
F=$OUT/cdr_clean_$ROWS.csv
[ -s "$F" ] || "$S" gen cdr --rows "$ROWS" --error-rate 0 --seed 1 -o "$F" 2>/dev/null
sed -e 's/index: true.*//' -e 's/^key: \[reference\]/key: [reference]\ndistribution: {column: reference, shard_count: 32}/' \
	examples/cdr.yaml >"$OUT/citus_keyed.yaml"
grep -v '^key:\|^on_duplicate:' "$OUT/citus_keyed.yaml" >"$OUT/citus_nokey.yaml"
bash tests/pg/fixture_citus.sh start "$S" "$PWD" >/dev/null
trap 'bash tests/pg/fixture_citus.sh stop "$S" "$PWD" >/dev/null' EXIT
. "$SLUICE_FIXTURES/citus.env"
. tests/pg/citus_lib.sh
COLS="caller_id text NOT NULL, recipient text NOT NULL, call_date date NOT NULL, end_time time,
      duration bigint, cost numeric(12,3), reference text NOT NULL %s, currency text"
db() { citus_newdb "$1"; }
secs() { /usr/bin/time -f '%e %M' -o "$OUT/citus_time" "$@" >/dev/null 2>&1 || true; cat "$OUT/citus_time"; }
cat "$F" >/dev/null
row() { printf '| %s | %s s | %s |\n' "$1" "${2% *}" "${3:-}"; }
echo "| load into Citus, 2 workers, 32 shards ($ROWS rows, $(($(stat -c %s "$F") / 1000000)) MB) | time | peak memory |"
echo "|---|---|---|"
for k in key nokey; do
	db b_psql_$k
	# shellcheck disable=SC2059
	psql -d b_psql_$k -qc "CREATE TABLE call_detail_records($(printf "$COLS" "$([ $k = key ] && echo 'PRIMARY KEY')"))" \
		-c "SELECT create_distributed_table('call_detail_records', 'reference', shard_count => 32)" >/dev/null
	t=$(secs psql -d b_psql_$k -qc "SET datestyle = 'ISO, DMY'" -c "\\copy call_detail_records FROM '$F' CSV HEADER")
	row "psql \\copy into the distributed table, $([ $k = key ] && echo 'primary key' || echo 'no key')" "$t"
done
for k in keyed nokey; do
	db b_sluice_$k
	t=$(secs "$S" ingest "$F" --schema "$OUT/citus_$k.yaml" --db "postgresql:///b_sluice_$k")
	row "sluice ingest, $([ $k = keyed ] && echo 'the key' || echo 'no key')" "$t" "$((${t#* } / 1024)) MB"
done
# the keyed path's two shapes, in SQL: staging rows (already typed) moved
# into the distributed target with ON CONFLICT
for how in local colocated; do
	db b_stage_$how
	# shellcheck disable=SC2059
	psql -d b_stage_$how -q -c "CREATE TABLE call_detail_records($(printf "$COLS" 'PRIMARY KEY'))" \
		-c "SELECT create_distributed_table('call_detail_records', 'reference', shard_count => 32)" >/dev/null
	if [ $how = local ]; then
		stage="CREATE TEMP TABLE stage (LIKE call_detail_records)"
	else
		stage="CREATE TABLE stage (LIKE call_detail_records); SELECT create_distributed_table('stage', 'reference', colocate_with => 'call_detail_records')"
	fi
	t=$(secs psql -d b_stage_$how -q -c "SET datestyle = 'ISO, DMY'" -c "BEGIN" -c "$stage" \
		-c "\\copy stage FROM '$F' CSV HEADER" \
		-c "INSERT INTO call_detail_records SELECT * FROM stage ON CONFLICT (reference) DO NOTHING" -c "COMMIT")
	row "SQL: COPY into a $([ $how = local ] && echo 'coordinator-local temporary' || echo 'co-located distributed') staging table, INSERT ... SELECT ... ON CONFLICT" "$t"
done
