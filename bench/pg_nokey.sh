#!/usr/bin/env bash
# Without a key, side by side in one run: `psql \copy` into the typed
# table without the key, and `sluice ingest` (no key) with one writer
# (SLUICE_PG_WRITERS=1: this run's connection only) and with the default
# two (a runner on a connection of its own beside it: src/engine/ingest.c),
# each with 64 MiB and 16 MiB chunks; rounds interleaved, the fastest shown,
# with each load's CPU (sluice's, /usr/bin/time; the server's, the
# postmaster's reaped children, read once the load's backends are gone).
#   bench/pg_nokey.sh [ROWS]   (default 1,000,000); REPEAT=N (default 3)
# The server: the tests' fixture (tests/pg/fixture_postgres.sh), as bench/pg.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
REPEAT=${REPEAT:-3}
S=${SLUICE:-$PWD/build/sluice} # a copy keeps a rebuild from changing it mid-run
OUT=$PWD/bench/out
mkdir -p "$OUT"
export SLUICE_FIXTURES=$OUT/pg_fixture
F=$OUT/cdr_clean_$ROWS.csv
[ -s "$F" ] || "$S" gen cdr --rows "$ROWS" --error-rate 0 --seed 1 -o "$F" 2>/dev/null
sed 's/index: true.*//' examples/cdr.yaml | grep -v '^key:\|^on_duplicate:' >"$OUT/pg_nokey.yaml"
bash tests/pg/fixture_postgres.sh start "$S" "$PWD" >/dev/null
trap 'bash tests/pg/fixture_postgres.sh stop "$S" "$PWD" >/dev/null' EXIT
. "$SLUICE_FIXTURES/postgres.env"
export PGHOST PGPORT PGUSER
export PGOPTIONS="-c client_min_messages=warning"
COLS="caller_id text NOT NULL, recipient text NOT NULL, call_date date NOT NULL, end_time time,
      duration bigint, cost numeric(12,3), reference text, currency text"
db() { psql -d postgres -qAtc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null; }
server_cpu() { awk '{printf "%.2f", ($16 + $17) / 100}' "/proc/$FIXTURE_PID/stat"; }
idle() {
	until [ "$(psql -d postgres -qAtc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")" = 0 ]; do
		sleep 0.05
	done
}
declare -A T C V
timed() { # NAME DB CMD...: keeps the fastest wall time and that run's CPU
	local name=$1 d=$2 c0 t0 t1 c1 w
	shift 2
	idle
	c0=$(server_cpu)
	t0=$(date +%s.%N)
	/usr/bin/time -f '%U %S' -o "$OUT/pgn.time" "$@" >/dev/null 2>"$OUT/pgn.err" || echo "  ($name failed: $(tail -2 "$OUT/pgn.err"))" >&2
	t1=$(date +%s.%N)
	idle
	c1=$(server_cpu)
	w=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}')
	local n
	n=$(psql -d "$d" -qAtc "SELECT count(*) FROM call_detail_records" 2>/dev/null || true)
	[ "$n" = "$ROWS" ] || echo "  ($name loaded $n rows of $ROWS)" >&2
	if [ -z "${T[$name]:-}" ] || awk -v a="$w" -v b="${T[$name]}" 'BEGIN{exit !(a < b)}'; then
		T[$name]=$w
		C[$name]=$(awk '{printf "%.2f", $1 + $2}' "$OUT/pgn.time")
		V[$name]=$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b - a}')
	fi
}
cat "$F" >/dev/null
for r in $(seq "$REPEAT"); do
	db b_n_psql
	psql -d b_n_psql -qAtc "CREATE TABLE call_detail_records($COLS)"
	timed psql b_n_psql psql -d b_n_psql -qc "SET datestyle = 'ISO, DMY'" -c "\\copy call_detail_records FROM '$F' CSV HEADER"
	for chunk in 64M 16M; do
		for w in 1 2; do
			db b_n_w$w
			timed "w${w}_$chunk" b_n_w$w env SLUICE_PG_WRITERS=$w "$S" ingest "$F" --schema "$OUT/pg_nokey.yaml" \
				--db "postgresql:///b_n_w$w" --chunk-size $chunk --quiet
		done
	done
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a / b}'; }
echo "| load, no key ($ROWS rows, $(($(stat -c %s "$F") / 1000000)) MB; fastest of $REPEAT) | time | client CPU | server CPU | against psql \\copy |"
echo "|---|---|---|---|---|"
echo "| psql \\copy | ${T[psql]} s | ${C[psql]} s | ${V[psql]} s | 1.00 |"
for chunk in 64M 16M; do
	for w in 1 2; do
		echo "| sluice ingest, $w writer$([ $w = 2 ] && echo s), $chunk chunks | ${T[w${w}_$chunk]} s | ${C[w${w}_$chunk]} s | ${V[w${w}_$chunk]} s | $(ratio "${T[w${w}_$chunk]}" "${T[psql]}") |"
	done
done
