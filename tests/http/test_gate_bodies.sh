#!/usr/bin/env bash
# Request bodies through the gate (src/http/http_gate.c;
# tests/http/gate_bodies.py drives raw sockets): a Content-Length and a chunked
# upload in many writes are loaded whole (each job's rows are its file's),
# the requests after them on the same connection are served and a bad head
# after a body is still refused with the JSON 400.
# Usage: test_gate_bodies.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
mkdir -p "$T/schemas"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
for n in 1 2 3; do
	sl gen cdr --rows 20000 --seed 9$n -o "$T/$n.csv"
	check "gen $n: exit" "$?" 0
done
serve "$T/log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M || { finish; exit 1; }
out=$(python3 "$SRC/tests/http/gate_bodies.py" "$PORT" "$T/1.csv" "$T/2.csv" "$T/3.csv")
echo "$out" | grep FAIL
check "raw-socket checks (gate_bodies.py)" "$(grep -c '^FAIL' <<<"$out")" 0
check "raw-socket checks ran" "$(grep -c '^ok' <<<"$out")" 3
check "three jobs" "$(grep -c '^job ' <<<"$out")" 3
n=0
for j in $(awk '$1 == "job" {print $2}' <<<"$out"); do
	n=$((n + 1))
	check "job $n: final" "$(wait_final "$j")" Succeeded
	check "job $n: every row" "$(curl -s "$B/v1/jobs/$j" | jq_ "d['rows_loaded']")" 20000
	table_is "$T/s.db" "$T/$n.csv" "_sluice_job = '$j'" && ok || bad "job $n: the table's rows are not its file's"
done
stop_server
check "SIGTERM: exit 0" "$STOPPED" 0
finish
