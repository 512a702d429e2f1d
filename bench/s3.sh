#!/usr/bin/env bash
# S3 benchmark (issue 13, "Benchmark": an S3 load from s3rver at least 0.8
# times the speed of the same load from a local file); writes
# bench/out/s3.md (bench/run.sh ROWS docs puts it into docs/benchmarks.md).
#   bench/s3.sh [ROWS]        (default 1,000,000 rows, about 96 MB)
#   REPEAT=3 bench/s3.sh      best of 3 runs of each load (default 1)
# The same generated CDR file (0.1 % bad rows), keyed schema as in
# bench/ingest.sh, loaded into a fresh SQLite database from the local file
# (page cache) and from s3rver on loopback (tests/s3/s3rver.cjs, data in
# bench/out/s3rver/), with the same threads. Both are on one machine: the
# object's bytes come from s3rver's own file in the page cache through node
# and a loopback TCP connection, so this measures sluice's S3 path and
# s3rver, not a network; s3rver shares the 2 cores with sluice. The S3
# load runs twice: pipelined (the default) and planned whole first
# (SLUICE_PIPELINE=0).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROWS=${1:-${ROWS:-1000000}}
REPEAT=${REPEAT:-1}
cdr_schemas
F=$(gen "$ROWS")
SIZE=$(stat -c %s "$F")
[ -d tests/js/node_modules/@20minutes/s3rver ] || npm ci --prefix tests/js --no-audit --no-fund >&2
D=$OUT/s3rver
rm -rf "$D" "$OUT/s3rver.ports"
mkdir -p "$D"
node --openssl-legacy-provider tests/s3/s3rver.cjs tests/js "$D" "$OUT/s3rver.ports" >"$OUT/s3rver.log" 2>&1 &
NODE=$!
trap 'kill $NODE 2>/dev/null || true' EXIT
for _ in $(seq 300); do [ -s "$OUT/s3rver.ports" ] && break; sleep 0.1; done
. "$OUT/s3rver.ports"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$S3_PORT
sig=(--aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
curl -sf -X PUT "${sig[@]}" "$AWS_ENDPOINT_URL/bench" >/dev/null
curl -sf -T "$F" "${sig[@]}" "$AWS_ENDPOINT_URL/bench/cdr.csv" >/dev/null
cat "$F" "$D/bench/cdr.csv._S3rver_object" >/dev/null # both from the page cache
COMMIT=$(git log -1 --format=%h 2>/dev/null || echo unknown)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
THREADS=$(nproc)

best_of() { # best_of NAME URI: best wall seconds of REPEAT loads; peak RSS in M_NAME
	local name=$1 uri=$2 best=999999 t0 t1 d db=$OUT/s3_$1.db
	for _ in $(seq "$REPEAT"); do
		rmdb "$db"
		t0=$(now)
		/usr/bin/time -o "$OUT/s3_$name.time" -f "%M" $B/sluice ingest "$uri" --schema "$SCHEMA" \
			--db "$db" --threads "$THREADS" --quiet >"$OUT/s3_$name.out" 2>"$OUT/s3_$name.err" || true
		t1=$(now)
		d=$(echo "$t1 $t0" | awk '{printf "%.3f", $1-$2}')
		best=$(echo "$d $best" | awk '{print ($1<$2)?$1:$2}')
	done
	eval "T_$name=$best; M_$name=$(($(tail -1 "$OUT/s3_$name.time") / 1024))"
	eval "R_$name=\"$(sqlite3 "$db" 'SELECT rows_loaded, rows_rejected FROM sluice_jobs' | tr '|' ' ')\""
}
best_of local "$F"
best_of s3 "s3://bench/cdr.csv"
# the same, planned whole first (the chunks run after the planning pass)
SLUICE_PIPELINE=0 best_of s3_0 "s3://bench/cdr.csv"
# the object's bytes alone, as one GET to /dev/null (curl, the same server)
t0=$(now)
curl -sf "${sig[@]}" -o /dev/null "$AWS_ENDPOINT_URL/bench/cdr.csv"
T_get=$(echo "$(now) $t0" | awk '{printf "%.3f", $1-$2}')
mbs() { echo "$SIZE $1" | awk '{printf "%.0f", $1/$2/1e6}'; }
RATIO=$(ratio "$T_local" "$T_s3")
{
	echo "## S3 ($(date -u +%Y-%m-%d))"
	echo
	echo "\`bench/s3.sh $ROWS\` at $COMMIT, load average $LOAD before, $THREADS threads, best of $REPEAT."
	echo "$ROWS CDR rows ($SIZE bytes), keyed schema, a fresh SQLite database each;"
	echo "s3rver (npm @20minutes/s3rver) on loopback on the same machine: the bytes come from"
	echo "s3rver's file in the page cache through node and a loopback TCP connection, so this"
	echo "measures sluice's S3 path and s3rver, not a network, and s3rver shares the cores."
	echo
	echo "| load | seconds | MB/s | peak RSS MB | rows loaded, rejected |"
	echo "|---|---:|---:|---:|---|"
	echo "| local file | $T_local | $(mbs "$T_local") | $M_local | $R_local |"
	echo "| s3://bench/cdr.csv | $T_s3 | $(mbs "$T_s3") | $M_s3 | $R_s3 |"
	echo "| s3://bench/cdr.csv, planned whole first (\`SLUICE_PIPELINE=0\`) | $T_s3_0 | $(mbs "$T_s3_0") | $M_s3_0 | $R_s3_0 |"
	echo "| curl GET of the object to /dev/null | $T_get | $(mbs "$T_get") | | |"
	echo
	echo "S3 speed / local speed: **$RATIO** (goal: at least 0.8); planned whole first: $(ratio "$T_local" "$T_s3_0")."
} >"$OUT/s3.md"
cat "$OUT/s3.md"
