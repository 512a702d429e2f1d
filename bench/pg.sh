#!/usr/bin/env bash
# sluice into PostgreSQL next to `psql \copy`, side by side in one run, on a
# clean CDR file (no bad rows: \copy stops at the first one):
#   bench/pg.sh [ROWS]     (default 1,000,000 rows, about 95 MB)
# A server is started for the run with the tests' fixture script
# (tests/pg/fixture_postgres.sh: a temp cluster on a unix socket, fsync
# off) and stopped at the end. Each load goes into a database of its own:
# psql \copy into the typed table with the primary key and without it;
# sluice with examples/cdr.yaml's key but without its `index:` columns, and
# without the key. Prints a Markdown table of wall times and sluice's peak
# memory (docs/scaling.md keeps the numbers).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
S=$PWD/build/sluice
OUT=$PWD/bench/out
mkdir -p "$OUT"
export SLUICE_FIXTURES=$OUT/pg_fixture
F=$OUT/cdr_clean_$ROWS.csv
[ -s "$F" ] || "$S" gen cdr --rows "$ROWS" --error-rate 0 --seed 1 -o "$F" 2>/dev/null
sed 's/index: true.*//' examples/cdr.yaml >"$OUT/pg_keyed.yaml"
grep -v '^key:\|^on_duplicate:' "$OUT/pg_keyed.yaml" >"$OUT/pg_nokey.yaml"
bash tests/pg/fixture_postgres.sh start "$S" "$PWD" >/dev/null
trap 'bash tests/pg/fixture_postgres.sh stop "$S" "$PWD" >/dev/null' EXIT
. "$SLUICE_FIXTURES/postgres.env"
export PGHOST PGPORT PGUSER
export PGOPTIONS="-c client_min_messages=warning"
COLS="caller_id text NOT NULL, recipient text NOT NULL, call_date date NOT NULL, end_time time,
      duration bigint, cost numeric(12,3), reference text %s, currency text"
db() { psql -d postgres -qAtc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null; }
secs() { /usr/bin/time -f '%e %M' -o "$OUT/pg_time" "$@" >/dev/null 2>&1 || true; cat "$OUT/pg_time"; }
cat "$F" >/dev/null
row() { printf '| %s | %s s | %s |\n' "$1" "${2% *}" "${3:-}"; }
echo "| load ($ROWS rows, $(($(stat -c %s "$F") / 1000000)) MB) | time | peak memory |"
echo "|---|---|---|"
for k in key nokey; do
	db b_psql_$k
	# shellcheck disable=SC2059
	psql -d b_psql_$k -qc "CREATE TABLE call_detail_records($(printf "$COLS" "$([ $k = key ] && echo 'PRIMARY KEY')"))"
	t=$(secs psql -d b_psql_$k -qc "SET datestyle = 'ISO, DMY'" -c "\\copy call_detail_records FROM '$F' CSV HEADER")
	row "psql \\copy, $([ $k = key ] && echo 'primary key' || echo 'no key')" "$t"
done
for k in keyed nokey; do
	db b_sluice_$k
	t=$(secs "$S" ingest "$F" --schema "$OUT/pg_$k.yaml" --db "postgresql:///b_sluice_$k")
	row "sluice ingest, $([ $k = keyed ] && echo 'the key' || echo 'no key')" "$t" "$((${t#* } / 1024)) MB"
done
