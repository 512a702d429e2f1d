#!/usr/bin/env bash
# `sluice csv check` beside `wc -l`, side by side in one run, on the same file
# from the page cache: the one-pass check (the default), the parallel check
# (split, then parse the chunks on 2 threads), and multi-byte delimiter and
# skip_initial_space variants of the same file. Rounds are interleaved (one
# run of each command per round) and the best wall time of each is kept, so
# other load on the machine hits every command alike.
#   bench/check.sh [FILE] [ROUNDS]     (default /tmp/cdr5m.csv, 7 rounds)
# The file is made with `sluice gen cdr --rows 5000000` when missing. Prints
# a markdown section (also written to bench/out/check.md, which bench/run.sh
# puts into docs/benchmarks.md as the section "csv check").
set -euo pipefail
cd "$(dirname "$0")/.."
F=${1:-/tmp/cdr5m.csv}
ROUNDS=${2:-7}
S=build/sluice
OUT=bench/out
mkdir -p "$OUT"
[ -s "$F" ] || $S gen cdr --rows 5000000 -o "$F" >/dev/null 2>&1
SIZE=$(stat -c %s "$F")
# The same rows with "||" between fields (Python's csv reads them; a field
# holding a quote, a line break or '|' is quoted).
F2=$OUT/$(basename "$F" .csv)_pipes.csv
if [ ! -s "$F2" ] || [ "$F2" -ot "$F" ]; then
	python3 - "$F" "$F2" <<'EOF'
import csv, sys
with open(sys.argv[1], newline="") as i, open(sys.argv[2], "w", newline="") as o:
    for row in csv.reader(i):
        o.write("||".join('"%s"' % f.replace('"', '""') if any(c in f for c in '"\r\n|') else f for f in row) + "\n")
EOF
fi
cat "$F" "$F2" >/dev/null

CMDS=(
	"wc -l $F"
	"$S csv check $F"
	"$S csv check $F --threads 2"
	"$S csv check $F --skip-initial-space"
	"$S csv check $F2 --delimiter '||'"
	"$S csv check $F2 --delimiter '||' --scanner scalar"
	"$S csv check $F --scanner sse2"
	"$S csv check $F --scanner scalar"
)
NAMES=(
	'`wc -l`'
	'`sluice csv check` (one pass, the default)'
	'`sluice csv check --threads 2` (split, then parse in parallel)'
	'`sluice csv check --skip-initial-space`'
	"\`sluice csv check --delimiter '||'\` (same rows, \`||\` between fields)"
	"\`sluice csv check --delimiter '||' --scanner scalar\` (the state machine alone)"
	'`sluice csv check --scanner sse2`'
	'`sluice csv check --scanner scalar` (the state machine alone)'
)
declare -a BEST
for i in "${!CMDS[@]}"; do BEST[$i]=999999; done
for _ in $(seq "$ROUNDS"); do
	for i in "${!CMDS[@]}"; do
		t0=$(date +%s.%N)
		bash -c "${CMDS[$i]}" >/dev/null 2>&1 || true
		t1=$(date +%s.%N)
		BEST[$i]=$(echo "$t1 $t0 ${BEST[$i]}" | awk '{d=$1-$2; print (d<$3)?d:$3}')
	done
done
{
	echo "## csv check ($(date -u +%Y-%m-%d))"
	echo
	echo "Command: \`bench/check.sh\` (issue 9: at most 3 times \`wc -l\` on 2 cores)."
	echo "File: \`$F\`, $SIZE bytes (\`sluice gen cdr --rows 5000000\`), from the page cache;"
	echo "best of $ROUNDS interleaved rounds (\`bench/check.sh\`), $(nproc) cores, load average"
	echo "$(cut -d' ' -f1-3 /proc/loadavg) at the end."
	echo
	echo "| command | seconds | GB/s | ratio to \`wc -l\` |"
	echo "|---|---:|---:|---:|"
	for i in "${!CMDS[@]}"; do
		awk -v name="${NAMES[$i]}" -v t="${BEST[$i]}" -v w="${BEST[0]}" -v size="$SIZE" \
			'BEGIN {printf "| %s | %.3f | %.2f | %.2f |\n", name, t, size/t/1e9, t/w}'
	done
} | tee "$OUT/check.md"
