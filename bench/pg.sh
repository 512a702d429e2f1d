#!/usr/bin/env bash
# sluice into PostgreSQL next to `psql \copy` and pgloader, side by side in
# one run, on a clean CDR file (no bad rows: \copy stops at the first one):
#   bench/pg.sh [ROWS]     (default 1,000,000 rows, about 95 MB)
#   REPEAT=N               each load N times, rounds interleaved; the table
#                          shows the fastest (default 1)
#   SIM_ROWS=N SIM_CHUNK=S the 32-worker simulation's file and chunk size
#                          (default 100000 rows, 8k: about 1,200 chunks);
#                          SIM_ROWS=0 leaves it out
# A server is started for the run with the tests' fixture script
# (tests/pg/fixture_postgres.sh: a temp cluster on a unix socket, fsync
# off, synchronous_commit as the server's default) and stopped at the end.
# Each load goes into a database of its own:
#  - psql \copy into the typed table with the primary key, and without it;
#  - pgloader (typed, the key, rejects kept in its root dir) when installed;
#  - sluice ingest with examples/cdr.yaml's key but without its `index:`
#    columns, and without the key; each also with SLUICE_PG_COPY=text (the
#    COPY format measured both ways);
#  - 1 and 2 `sluice worker` processes on a job whose chunks (16 MiB) were
#    planned by an ingest stopped before its first chunk;
#  - the ingest with 4 MiB chunks against 64 MiB, with the key and
#    without: what the leases, claims and per-chunk commits cost (with the
#    key also the smaller sorted runs);
#  - 32 `sluice worker` processes on SIM_ROWS rows in SIM_CHUNK chunks:
#    the rows and counts are checked against a one-process SQLite load, and
#    the claim statement's latency (the server's own timing of it, from its
#    log) and the store transactions per chunk are reported.
# Prints Markdown tables (docs/benchmarks.md keeps them, with the command).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
REPEAT=${REPEAT:-1}
SIM_ROWS=${SIM_ROWS:-100000}
SIM_CHUNK=${SIM_CHUNK:-8k}
S=$PWD/build/sluice
OUT=$PWD/bench/out
mkdir -p "$OUT"
export SLUICE_FIXTURES=$OUT/pg_fixture
export SLUICE_PG_MAX_CONNECTIONS=200 # 32 workers, two sessions each
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
q() { psql -d "$1" -qAtc "$2"; }
# run a command; prints "SECONDS PEAK_KB" (its wall time and peak RSS)
secs() {
	local tf
	tf=$(mktemp "$OUT/pg_time.XXXXXX")
	/usr/bin/time -f '%e %M' -o "$tf" "$@" >/dev/null 2>"$tf.err" || echo "  ($* failed: $(tail -2 "$tf.err"))" >&2
	cat "$tf"
	rm -f "$tf" "$tf.err"
}
cat "$F" >/dev/null
# results: name -> best time, peak memory
declare -A T M
keep() { # NAME "SECONDS KB"
	local s=${2% *} k=${2#* }
	if [ -z "${T[$1]:-}" ] || awk -v a="$s" -v b="${T[$1]}" 'BEGIN{exit !(a < b)}'; then
		T[$1]=$s
	fi
	if [ -z "${M[$1]:-}" ] || [ "$k" -gt "${M[$1]}" ]; then M[$1]=$k; fi
}

psql_load() { # key|nokey
	db b_psql_$1
	# shellcheck disable=SC2059
	q b_psql_$1 "CREATE TABLE call_detail_records($(printf "$COLS" "$([ $1 = key ] && echo 'PRIMARY KEY')"))"
	keep "psql_$1" "$(secs psql -d b_psql_$1 -qc "SET datestyle = 'ISO, DMY'" -c "\\copy call_detail_records FROM '$F' CSV HEADER")"
}

pgloader_load() {
	db b_pgloader
	# shellcheck disable=SC2059
	q b_pgloader "CREATE TABLE call_detail_records($(printf "$COLS" "PRIMARY KEY"))"
	cat >"$OUT/pg.load" <<EOF
LOAD CSV FROM '$F'
  HAVING FIELDS (caller_id, recipient, call_date [date format 'DD/MM/YYYY'], end_time,
                 duration, cost, reference, currency)
  INTO postgresql://$PGUSER@unix:$PGHOST:$PGPORT/b_pgloader?call_detail_records
  (caller_id, recipient, call_date, end_time, duration, cost, reference, currency)
  WITH skip header = 1, fields optionally enclosed by '"', fields escaped by double-quote,
       fields terminated by ','
  SET work_mem to '64MB';
EOF
	rm -rf "$OUT/pgloader"
	keep pgloader "$(secs pgloader --root-dir "$OUT/pgloader" "$OUT/pg.load")"
	local n
	n=$(q b_pgloader "SELECT count(*) FROM call_detail_records")
	[ "$n" = "$ROWS" ] || echo "  (pgloader loaded $n rows of $ROWS)" >&2
}

sluice_load() { # keyed|nokey binary|text [CHUNK]
	local name=sluice_$1_$2${3:+_$3} d
	d=$(echo "b_sluice_$1_$2${3:+_$3}" | tr "[:upper:]" "[:lower:]")
	db "$d"
	keep "$name" "$(SLUICE_PG_COPY=$2 secs "$S" ingest "$F" --schema "$OUT/pg_$1.yaml" \
		--db "postgresql:///$d" ${3:+--chunk-size $3})"
	local n
	n=$(q "$d" "SELECT count(*) FROM call_detail_records")
	[ "$n" = "$ROWS" ] || echo "  ($name loaded $n rows of $ROWS)" >&2
}

# A job planned and left to workers: an ingest paused before its first
# chunk (SLUICE_TEST_PAUSE) is killed, and its claims (lease TTL 1 s) run out.
plan_job() { # DB FILE CHUNK
	local dir
	dir=$(mktemp -d "$OUT/pg_pause.XXXXXX")
	SLUICE_TEST_PAUSE=0:$dir "$S" ingest "$2" --schema "$OUT/pg_keyed.yaml" --db "postgresql:///$1" \
		--chunk-size "$3" --lease-ttl 1 --quiet >/dev/null 2>&1 &
	local pid=$!
	until [ -e "$dir/paused" ]; do
		kill -0 $pid 2>/dev/null || { echo "the planning ingest ended early" >&2; exit 1; }
		sleep 0.05
	done
	kill -9 $pid
	wait $pid 2>/dev/null || true
	until [ "$(q "$1" "SELECT count(*) FROM sluice.chunks WHERE lease_expiry_ms > extract(epoch FROM clock_timestamp()) * 1000")" = 0 ]; do
		sleep 0.1
	done
	rm -rf "$dir"
}

workers_load() { # N
	local d=b_workers_$1 t0 t1 i peak=0
	db "$d"
	plan_job "$d" "$F" 16M
	t0=$(date +%s.%N)
	for i in $(seq "$1"); do
		/usr/bin/time -f '%M' -o "$OUT/pg_w$i.rss" "$S" worker --db "postgresql:///$d" --once --quiet --name "w$i" &
	done
	wait
	t1=$(date +%s.%N)
	for i in $(seq "$1"); do
		grep -q 'exited with non-zero' "$OUT/pg_w$i.rss" && echo "  (worker $i of $1 failed)" >&2
		[ "$(tail -1 "$OUT/pg_w$i.rss")" -gt $peak ] && peak=$(tail -1 "$OUT/pg_w$i.rss")
	done
	keep "workers_$1" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}') $peak"
	local n
	n=$(q "$d" "SELECT count(*) FROM call_detail_records")
	[ "$n" = "$ROWS" ] || echo "  ($1 workers loaded $n rows of $ROWS)" >&2
}

for r in $(seq "$REPEAT"); do
	psql_load key
	psql_load nokey
	for m in binary text; do
		sluice_load keyed $m
		sluice_load nokey $m
	done
	workers_load 1
	workers_load 2
	sluice_load keyed binary 4M
	sluice_load nokey binary 4M
	command -v pgloader >/dev/null && [ "$r" = 1 ] && pgloader_load
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a / b}'; }
mb() { echo "$((${1:-0} / 1024)) MB"; }
echo "| load ($ROWS rows, $(($(stat -c %s "$F") / 1000000)) MB; fastest of $REPEAT) | time | peak memory | against psql \\copy |"
echo "|---|---|---|---|"
echo "| psql \\copy, primary key | ${T[psql_key]} s | | 1.00 |"
echo "| psql \\copy, no key | ${T[psql_nokey]} s | | 1.00 |"
[ -n "${T[pgloader]:-}" ] && echo "| pgloader (typed, primary key, rejects) | ${T[pgloader]} s | $(mb "${M[pgloader]}") | $(ratio "${T[pgloader]}" "${T[psql_key]}") (with the key) |"
for k in keyed nokey; do
	base=${T[psql_key]}
	[ $k = nokey ] && base=${T[psql_nokey]}
	for m in binary text; do
		echo "| sluice ingest, $([ $k = keyed ] && echo 'the key' || echo 'no key'), COPY $m | ${T[sluice_${k}_$m]} s | $(mb "${M[sluice_${k}_$m]}") | $(ratio "${T[sluice_${k}_$m]}" "$base") |"
	done
done
echo "| sluice ingest, the key, 4 MiB chunks | ${T[sluice_keyed_binary_4M]} s | $(mb "${M[sluice_keyed_binary_4M]}") | $(ratio "${T[sluice_keyed_binary_4M]}" "${T[psql_key]}") |"
echo "| sluice ingest, no key, 4 MiB chunks | ${T[sluice_nokey_binary_4M]} s | $(mb "${M[sluice_nokey_binary_4M]}") | $(ratio "${T[sluice_nokey_binary_4M]}" "${T[psql_nokey]}") |"
for n in 1 2; do
	echo "| $n \`sluice worker\`$([ $n = 2 ] && echo s), the key, 16 MiB chunks | ${T[workers_$n]} s | $(mb "${M[workers_$n]}") per process | $(ratio "${T[workers_$n]}" "${T[psql_key]}") |"
done
echo
[ -n "${T[pgloader]:-}" ] && echo "pgloader against sluice (the key): $(ratio "${T[pgloader]}" "${T[sluice_keyed_binary]}") x as long."
echo "4 MiB chunks against 64 MiB: $(ratio "${T[sluice_keyed_binary_4M]}" "${T[sluice_keyed_binary]}") x with the key (which also sorts only within a chunk), $(ratio "${T[sluice_nokey_binary_4M]}" "${T[sluice_nokey_binary]}") x without (claims, renewals, fences and commits 16 times as often)."

# --- 32 workers on many small chunks --------------------------------------------------
[ "$SIM_ROWS" -gt 0 ] || exit 0
SF=$OUT/cdr_sim_$SIM_ROWS.csv
[ -s "$SF" ] || "$S" gen cdr --rows "$SIM_ROWS" --error-rate 0.01 --seed 5 -o "$SF" 2>/dev/null
rm -f "$OUT/pg_sim.db"
"$S" ingest "$SF" --schema "$OUT/pg_keyed.yaml" --db "$OUT/pg_sim.db" --json >"$OUT/pg_sim_sqlite.json" 2>/dev/null || true
db b_sim
plan_job b_sim "$SF" "$SIM_CHUNK"
q b_sim "ALTER DATABASE b_sim SET log_min_duration_statement = 0" >/dev/null
LOG=$SLUICE_FIXTURES/postgres.log
from=$(($(stat -c %s "$LOG") + 1))
x0=$(q b_sim "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'b_sim'")
t0=$(date +%s.%N)
for i in $(seq 32); do
	/usr/bin/time -f '%M' -o "$OUT/pg_sim$i.rss" "$S" worker --db "postgresql:///b_sim" --once --quiet --name "s$i" &
done
wait
t1=$(date +%s.%N)
# each backend's statistics reach pg_stat_database when it exits
until [ "$(q b_sim "SELECT count(*) FROM pg_stat_activity WHERE datname = 'b_sim' AND pid <> pg_backend_pid()")" = 0 ]; do
	sleep 0.1
done
x1=$(q b_sim "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'b_sim'")
chunks=$(q b_sim "SELECT count(*) FROM sluice.chunks")
done_=$(q b_sim "SELECT count(*) FROM sluice.chunks WHERE status = 'Succeeded'")
rows=$(q b_sim "SELECT count(*) FROM call_detail_records")
want=$(python3 -c "import json; d=json.load(open('$OUT/pg_sim_sqlite.json')); print(d['rows_loaded'], d['rows_rejected'])")
got=$(q b_sim "SELECT rows_loaded || ' ' || rows_rejected FROM sluice.jobs")
status=$(q b_sim "SELECT status FROM sluice.jobs")
peak=0
failed=0
for i in $(seq 32); do
	grep -q 'exited with non-zero' "$OUT/pg_sim$i.rss" && failed=$((failed + 1))
	k=$(tail -1 "$OUT/pg_sim$i.rss")
	[ "$k" -gt $peak ] && peak=$k
done
lat=$(tail -c +$from "$LOG" | grep 'FOR NO KEY UPDATE OF c SKIP LOCKED' |
	sed -n 's/.*duration: \([0-9.]*\) ms.*/\1/p' | sort -n |
	awk '{a[NR]=$1} END{if (!NR) {print "- -"; exit} printf "%.2f %.2f %d", a[int((NR+1)/2)], a[int(NR*0.99 + 0.999)], NR}')
echo
echo "| 32 \`sluice worker\`s, $SIM_ROWS rows (1 % bad) in $SIM_CHUNK chunks | |"
echo "|---|---|"
echo "| chunks | $chunks ($done_ Succeeded); workers that failed: $failed |"
echo "| job | $status; rows loaded, rejected: $got (SQLite, one process: $want) $([ "$got" = "$want" ] && [ "$rows" = "${got% *}" ] && echo '— equal' || echo '— DIFFERENT')|"
echo "| wall time | $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}') s |"
echo "| claim statement (server time) p50 / p99 | ${lat%% *} ms / $(echo "$lat" | cut -d' ' -f2) ms ($(echo "$lat" | cut -d' ' -f3) claims, the empty ones at the end included) |"
echo "| store transactions per chunk | $(ratio $((x1 - x0)) "$chunks") |"
echo "| peak memory per worker | $(mb $peak) |"
