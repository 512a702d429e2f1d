#!/usr/bin/env bash
# Request bodies through the gate by splice(2) (src/http/http_gate.c;
# tests/http/splice.py drives raw sockets): a Content-Length and a chunked
# upload in many writes are loaded whole (the first job's rows are the
# file's, the later ones have the same content: size and hash),
# the requests after them on the same connection are served and a bad head
# after a body is still refused with the JSON 400; a streaming body holds a
# pipe, which goes with its connection.
# Usage: test_gate_splice.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
mkdir -p "$T/schemas"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
sl gen cdr --rows 20000 --seed 91 -o "$T/a.csv"
check "gen: exit" "$?" 0
serve "$T/log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M || { finish; exit 1; }
out=$(python3 "$SRC/tests/http/splice.py" "$PORT" "$PID" "$T/a.csv")
echo "$out" | grep FAIL
check "raw-socket checks (splice.py)" "$(grep -c '^FAIL' <<<"$out")" 0
check "raw-socket checks ran" "$(grep -c '^ok' <<<"$out")" 5
read -r J1 J2 J3 <<<"$(awk '$1 == "job" {printf "%s ", $2}' <<<"$out")"
check "three jobs" "$(grep -c '^job ' <<<"$out")" 3
check "the first: final" "$(wait_final "$J1")" Succeeded
check "the first: every row" "$(curl -s "$B/v1/jobs/$J1" | jq_ "d['rows_loaded']")" 20000
table_is "$T/s.db" "$T/a.csv" "_sluice_job = '$J1'" && ok || bad "the table's rows are not the file's"
# the same bytes again (size and XXH3 of the body as the server stored it):
# the same content, so the later bodies came whole too
for j in "$J2" "$J3"; do
	check "job $j: final" "$(wait_final "$j")" Succeeded
	check "job $j: the same content as the first" "$(curl -s "$B/v1/jobs/$j" | jq_ "d['same_as']")" "$J1"
done
stop_server
check "SIGTERM: exit 0" "$STOPPED" 0
finish
