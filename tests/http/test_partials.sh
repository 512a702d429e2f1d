#!/usr/bin/env bash
# Crash hygiene of `sluice serve` (issue 10): kill -9 in the middle of a
# 200 MB upload, start again: the partial upload file is swept, and no job
# exists for the upload that never finished.
# Usage: test_partials.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
CURL=
at_exit() { [ -n "$CURL" ] && kill "$CURL" 2>/dev/null; wait 2>/dev/null; }
part_size() { stat -c %s "$T"/data/uploads/p*.part 2>/dev/null | head -1; }

mkdir -p "$T/schemas"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
head -c 200M /dev/zero >"$T/big.bin"

serve "$T/log1" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M --threads 1 || exit 1
# streamed slowly enough to be mid-upload when the server dies
curl -s -o /dev/null --limit-rate 20M -H 'Content-Type: text/csv' --data-binary @"$T/big.bin" \
	"$B/v1/datasets/cdr/uploads" &
CURL=$!
# poll: the part file exists, then grows (it is being written)
first=
part_grew() {
	local n
	n=$(part_size)
	[ -n "$n" ] && [ "$n" -gt 0 ] || return 1
	[ -n "$first" ] || { first=$n; return 1; }
	[ "$n" -gt "$first" ]
}
wait_for "the part file to grow" 1500 part_grew
n=$(part_size)
[ -n "$first" ] && [ -n "$n" ] && [ "$n" -gt "$first" ] && [ "$n" -lt $((200 << 20)) ] && ok ||
	bad "a part file growing mid-upload (first ${first:-none}, now ${n:-none})"
kill_server
wait "$CURL" 2>/dev/null
CURL=
ls "$T"/data/uploads/p*.part >/dev/null 2>&1 && ok || bad "the killed server left its part file (the case to clean up)"

serve "$T/log2" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M --threads 1 || exit 1
check "after the restart: no part file in the data dir" "$(find "$T/data" -name '*.part' | wc -l)" 0
check "after the restart: the uploads dir is empty" "$(ls -A "$T/data/uploads" | wc -l)" 0
check "after the restart: no job (API)" "$(curl -s "$B/v1/jobs" | jq_ "len(d['jobs'])")" 0
sl_as jobs jobs --db "$T/s.db" --json
check "after the restart: sluice jobs exit" "$(rc jobs)" 0
check "after the restart: no job (store)" "$(jq_ "len(d['jobs'])" <"$T/jobs.out")" 0
stop_server
finish partials
