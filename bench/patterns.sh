#!/usr/bin/env bash
# Pattern-heavy validation, before and after the move from POSIX regexec to
# PCRE2 (JIT): `sluice validate` of generated CDR rows against a schema whose
# every text column has a pattern the regex engine must run (none of them is
# of the ^[set]{m,n}$ form that skips it), best of 3 for each binary, side by
# side in one run. Writes bench/out/patterns.md (docs/benchmarks.md keeps it
# as its "Patterns" section; bench/run.sh docs reassembles it).
#   bench/patterns.sh [ROWS] [BASE]   (default 2,000,000 rows; BASE is the
#       commit to compare with, default the last commit before PCRE2,
#       3b28931; it is built once in /tmp/sl-old, a temporary worktree)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-2000000}
BASE=${2:-3b28931}
NEW=build/sluice
OLDTREE=/tmp/sl-old
OUT=bench/out
mkdir -p "$OUT"
[ -x "$NEW" ] || { echo "build first: make build" >&2; exit 2; }

if [ ! -x "$OLDTREE/build/sluice" ] || [ "$(git -C "$OLDTREE" rev-parse HEAD 2>/dev/null)" != "$(git rev-parse "$BASE")" ]; then
	git worktree remove --force "$OLDTREE" 2>/dev/null || rm -rf "$OLDTREE"
	git worktree add --detach "$OLDTREE" "$BASE" >/dev/null
	cmake -S "$OLDTREE" -B "$OLDTREE/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$OLDTREE/build" --target sluice -j2 >/dev/null
fi
OLD=$OLDTREE/build/sluice

F=$OUT/patterns_$ROWS.csv
[ -s "$F" ] || $NEW gen cdr --rows "$ROWS" --error-rate 0.001 --seed 1 -o "$F" 2>/dev/null
cat "$F" >/dev/null # the page cache
S=$OUT/patterns.yaml
# Patterns both engines read the same way (ERE and PCRE2 agree on these).
cat >"$S" <<'EOF'
name: cdr_patterns
table: cdr_patterns
columns:
  - {name: caller_id, type: text, required: true, pattern: '^44[0-9]{8,11}$'}
  - {name: recipient, type: text, pattern: '^(44|1|33)[0-9]+$'}
  - {name: call_date, type: text, pattern: '^[0-3][0-9]/(0[1-9]|1[0-2])/20[0-9]{2}$'}
  - {name: end_time, type: text, pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$'}
  - {name: duration, type: text, pattern: '^[1-9][0-9]*$|^0$'}
  - {name: cost, type: text, pattern: '^[0-9]+\.[0-9]{3}$'}
  - {name: reference, type: text, pattern: '^C[0-9A-F]{32}$'}
  - {name: currency, type: text, pattern: '^(GBP|EUR|USD)$'}
EOF

best() { # best wall seconds of 3 runs
	local b=999999
	for _ in 1 2 3; do
		local t0 t1
		t0=$(date +%s.%N)
		"$@" >/dev/null 2>&1 || true
		t1=$(date +%s.%N)
		b=$(echo "$t1 $t0 $b" | awk '{d=$1-$2; print (d<$3)?d:$3}')
	done
	printf '%.3f' "$b"
}
# the same verdicts first: a faster wrong answer would be no answer
c_old=$($OLD validate "$F" --schema "$S" --json 2>/dev/null | grep -o '"rows_rejected":[0-9]*' || true)
c_new=$($NEW validate "$F" --schema "$S" --json 2>/dev/null | grep -o '"rows_rejected":[0-9]*' || true)
if [ "$c_old" != "$c_new" ]; then
	echo "the two binaries disagree: old $c_old, new $c_new" >&2
	exit 1
fi
t_old=$(best "$OLD" validate "$F" --schema "$S")
t_new=$(best "$NEW" validate "$F" --schema "$S")
# the example schema (one simple pattern, decimals, dates, times, an enum):
# the new decimal and date parsers must not cost either
e_old=$(best "$OLD" validate "$F" --schema examples/cdr.yaml)
e_new=$(best "$NEW" validate "$F" --schema examples/cdr.yaml)
SIZE=$(stat -c %s "$F")
rps() { echo "$ROWS $1" | awk '{printf "%.0f", $1/$2}'; }
OLDC=$(git rev-parse --short "$BASE")
NEWC=$(git rev-parse --short HEAD)
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
{
	echo "## Patterns ($(date -u +%Y-%m-%d))"
	echo
	echo "Command: \`bench/patterns.sh $ROWS\`. \`sluice validate\` of $ROWS generated CDR"
	echo "rows ($SIZE bytes, page cache) against a schema with a pattern on each of its"
	echo "8 text columns, none of the \`^[set]{m,n}\$\` form that skips the regex engine."
	echo "Best of 3, $(nproc) threads, $CPU. Both binaries reject the same rows"
	echo "(${c_new#*:})."
	echo
	echo "| binary | patterns | seconds | rows/s |"
	echo "|---|---|---:|---:|"
	echo "| $OLDC (before) | POSIX \`regexec\` | $t_old | $(rps "$t_old") |"
	echo "| $NEWC | PCRE2, JIT | $t_new | $(rps "$t_new") |"
	echo
	echo "The same file against \`examples/cdr.yaml\` (one simple pattern, a decimal, a"
	echo "date, a time, an enum; the decimal and date parsers were rewritten too):"
	echo
	echo "| binary | seconds | rows/s |"
	echo "|---|---:|---:|"
	echo "| $OLDC (before) | $e_old | $(rps "$e_old") |"
	echo "| $NEWC | $e_new | $(rps "$e_new") |"
} >"$OUT/patterns.md"
cat "$OUT/patterns.md"
