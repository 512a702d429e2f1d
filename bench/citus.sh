#!/usr/bin/env bash
# sluice into Citus next to `psql \copy` into the same distributed table,
# side by side in one run, on a clean CDR file (no bad rows: \copy stops at
# the first one):
#   bench/citus.sh [ROWS]     (default 300,000 rows, about 28 MB)
#   REPEAT=N                  each load N times, rounds interleaved; the
#                             table shows the fastest (default 3)
# A cluster (a coordinator and two workers on this machine, fsync off) is
# started for the run with the tests' fixture script
# (tests/pg/fixture_citus.sh, which builds Citus once per machine when it
# is missing) and stopped at the end. Each load goes into a database of
# its own (dropped on every node afterwards: each keeps a Citus maintenance
# daemon and cached connections), the table hash-distributed on reference
# in 32 shards: psql \copy with the primary key and without it (its table
# made beforehand, untimed); sluice with examples/cdr.yaml's key (without
# its `index:` columns) and `distribution: {column: reference,
# shard_count: 32}`, and without the key, each twice: into a new database
# (the job store's tables and the distributed table made in the timed run)
# and into one where the store and the table were made by an ingest of the
# header alone (as psql's table is); and on_duplicate: update (the staging
# table's path). Then the keyed path's two shapes in SQL alone, for the
# same rows in one statement: COPY into a coordinator-local temporary
# staging table and INSERT INTO the distributed table SELECT ... ON
# CONFLICT DO NOTHING (what sluice's staging path does), against COPY into
# a distributed staging table co-located with the target and the same
# INSERT ... SELECT, which Citus pushes down shard by shard. Prints a
# Markdown table of wall times (the best of REPEAT) and sluice's peak
# memory (docs/benchmarks.md keeps the numbers).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-300000}
REPEAT=${REPEAT:-3}
S=$PWD/build/sluice
OUT=$PWD/bench/out
mkdir -p "$OUT"
export SLUICE_FIXTURES=$OUT/citus_fixture
F=$OUT/cdr_clean_$ROWS.csv
[ -s "$F" ] || "$S" gen cdr --rows "$ROWS" --error-rate 0 --seed 1 -o "$F" 2>/dev/null
head -1 "$F" >"$OUT/citus_header.csv"
sed -e 's/index: true.*//' -e 's/^key: \[reference\]/key: [reference]\ndistribution: {column: reference, shard_count: 32}/' \
	examples/cdr.yaml >"$OUT/citus_keyed.yaml"
grep -v '^key:\|^on_duplicate:' "$OUT/citus_keyed.yaml" >"$OUT/citus_nokey.yaml"
sed 's/^on_duplicate: .*/on_duplicate: update/' "$OUT/citus_keyed.yaml" >"$OUT/citus_update.yaml"
bash tests/pg/fixture_citus.sh start "$S" "$PWD" >/dev/null
trap 'bash tests/pg/fixture_citus.sh stop "$S" "$PWD" >/dev/null' EXIT
. "$SLUICE_FIXTURES/citus.env"
. tests/pg/citus_lib.sh
COLS="caller_id text NOT NULL, recipient text NOT NULL, call_date date NOT NULL, end_time time,
      duration bigint, cost numeric(12,3), reference text NOT NULL %s, currency text"
db() { citus_newdb "$1"; }
dropdb() {
	local p
	for p in $CITUS_PORT $CITUS_WORKER_PORTS; do
		psql -p "$p" -d postgres -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
	done
}
# run a command; prints "SECONDS PEAK_KB" (its wall time and peak RSS)
secs() {
	local tf
	tf=$(mktemp "$OUT/citus_time.XXXXXX")
	/usr/bin/time -f '%e %M' -o "$tf" "$@" >/dev/null 2>"$tf.err" || echo "  ($* failed: $(tail -2 "$tf.err"))" >&2
	cat "$tf"
	rm -f "$tf" "$tf.err"
}
cat "$F" >/dev/null
declare -A T M
keep() { # NAME "SECONDS KB"
	local s=${2% *} k=${2#* }
	if [ -z "${T[$1]:-}" ] || awk -v a="$s" -v b="${T[$1]}" 'BEGIN{exit !(a < b)}'; then
		T[$1]=$s
	fi
	if [ -z "${M[$1]:-}" ] || [ "$k" -gt "${M[$1]}" ]; then M[$1]=$k; fi
}
dist_table() { # DB PK
	# shellcheck disable=SC2059
	psql -d "$1" -q -c "CREATE TABLE call_detail_records($(printf "$COLS" "$2"))" \
		-c "SELECT create_distributed_table('call_detail_records', 'reference', shard_count => 32)" >/dev/null
}
for round in $(seq "$REPEAT"); do
	for k in key nokey; do
		db b_psql_$k
		dist_table b_psql_$k "$([ $k = key ] && echo 'PRIMARY KEY')"
		keep psql_$k "$(secs psql -d b_psql_$k -qc "SET datestyle = 'ISO, DMY'" -c "\\copy call_detail_records FROM '$F' CSV HEADER")"
		dropdb b_psql_$k
	done
	for k in keyed nokey update; do
		db b_sluice_$k
		keep sluice_$k "$(secs "$S" ingest "$F" --schema "$OUT/citus_$k.yaml" --db "postgresql:///b_sluice_$k")"
		dropdb b_sluice_$k
		[ $k = update ] && continue
		db b_sluice_made_$k
		"$S" ingest "$OUT/citus_header.csv" --schema "$OUT/citus_$k.yaml" --db "postgresql:///b_sluice_made_$k" >/dev/null
		keep sluice_made_$k "$(secs "$S" ingest "$F" --schema "$OUT/citus_$k.yaml" --db "postgresql:///b_sluice_made_$k")"
		dropdb b_sluice_made_$k
	done
	# the keyed staging path's two shapes, in SQL: staging rows (already
	# typed) moved into the distributed target with ON CONFLICT
	for how in local colocated; do
		db b_stage_$how
		dist_table b_stage_$how 'PRIMARY KEY'
		if [ $how = local ]; then
			stage="CREATE TEMP TABLE stage (LIKE call_detail_records)"
		else
			stage="CREATE TABLE stage (LIKE call_detail_records); SELECT create_distributed_table('stage', 'reference', colocate_with => 'call_detail_records')"
		fi
		keep stage_$how "$(secs psql -d b_stage_$how -q -c "SET datestyle = 'ISO, DMY'" -c "BEGIN" -c "$stage" \
			-c "\\copy stage FROM '$F' CSV HEADER" \
			-c "INSERT INTO call_detail_records SELECT * FROM stage ON CONFLICT (reference) DO NOTHING" -c "COMMIT")"
		dropdb b_stage_$how
	done
done
row() { # LABEL NAME [BASE]: time, peak memory, ratio to BASE
	local ratio=
	[ -n "${3:-}" ] && ratio=$(awk -v a="${T[$2]}" -v b="${T[$3]}" 'BEGIN{printf "%.2f", a / b}')
	printf '| %s | %s s | %s | %s |\n' "$1" "${T[$2]}" "$([ "${M[$2]:-0}" -gt 10000 ] && [[ $2 == sluice* ]] && echo "$((M[$2] / 1024)) MB")" "$ratio"
}
echo "| load into Citus, 2 workers, 32 shards ($ROWS rows, $(($(stat -c %s "$F") / 1000000)) MB), best of $REPEAT | time | peak memory | x psql \\copy |"
echo "|---|---|---|---|"
row "psql \\copy into the distributed table, primary key" psql_key
row "psql \\copy into the distributed table, no key" psql_nokey
row "sluice ingest, the key, new database (store and table made in the run)" sluice_keyed psql_key
row "sluice ingest, the key, store and table made before" sluice_made_keyed psql_key
row "sluice ingest, no key, new database" sluice_nokey psql_nokey
row "sluice ingest, no key, store and table made before" sluice_made_nokey psql_nokey
row "sluice ingest, the key, on_duplicate: update (staging table), new database" sluice_update psql_key
row "SQL: COPY into a coordinator-local temporary staging table, INSERT ... SELECT ... ON CONFLICT" stage_local psql_key
row "SQL: COPY into a co-located distributed staging table, INSERT ... SELECT ... ON CONFLICT" stage_colocated psql_key
