#!/usr/bin/env bash
# Benchmarks, side by side in one run; results go to docs/benchmarks.md.
#   bench/run.sh [ROWS] [csv|ingest|serve|ab|all|docs]   (default 5,000,000
#                         rows, about 480 MB; all parts; docs: only rebuild
#                         docs/benchmarks.md from bench/out/*.md)
# The ab part is bench/ab.sh (the A/B against the previous release, only
# when asked: `bench/run.sh ROWS ab`).
# The CSV engine is measured in memory (bench_csv) and end to end
# (`sluice csv check`), next to `wc -l` and `cat FILE > /dev/null` on the
# same file from the page cache. The ingest part is bench/ingest.sh (see
# there; REPEAT and MEM10X pass through the environment). The serve part is
# bench/serve.sh (its own sizes: 10 x 100 MB and 10 x 1 GB uploads; ROWS is
# not used). The S3 part is bench/s3.sh, run on its own (it starts s3rver);
# its section comes from bench/out/s3.md like the others. docs/benchmarks.md is assembled from bench/notes.md and every
# bench/out/PART.md; a part with no such file keeps its section from the
# current docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-5000000}
PARTS=${2:-${BENCH:-all}}
case $PARTS in csv | ingest | serve | ab | all | docs) ;; *)
	echo "usage: bench/run.sh [ROWS] [csv|ingest|serve|ab|all|docs]" >&2
	exit 2
	;;
esac
B=build
OUT=bench/out
mkdir -p "$OUT"
F=$OUT/cdr_$ROWS.csv
if [ "$PARTS" = csv ] || [ "$PARTS" = all ]; then
	[ -s "$F" ] || $B/sluice gen cdr --rows "$ROWS" --error-rate 0.001 --seed 1 -o "$F" 2>/dev/null
	SIZE=$(stat -c %s "$F")
	cat "$F" >/dev/null # warm the page cache
fi

best() { # best wall seconds of 3 runs of a command line
	local b=999999
	for _ in 1 2 3; do
		local t0 t1
		t0=$(date +%s.%N)
		bash -c "$1" >/dev/null 2>&1 || true
		t1=$(date +%s.%N)
		b=$(echo "$t1 $t0 $b" | awk '{d=$1-$2; print (d<$3)?d:$3}')
	done
	printf '%.3f' "$b"
}
gbs() { echo "$SIZE $1" | awk '{printf "%.2f", $1/$2/1e9}'; }

CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
NPROC=$(nproc)
if [ "$PARTS" = csv ] || [ "$PARTS" = all ]; then
t_wc=$(best "wc -l $F")
t_cat=$(best "cat $F > /dev/null")
t_chk1=$(best "$B/sluice csv check $F")
t_chkn=$(best "$B/sluice csv check $F --threads $(nproc)")
t_chks=$(best "$B/sluice csv check $F --scanner scalar")
ENGINE=$($B/bench_csv "$F" --repeat 3)

{
	echo "## CSV engine ($(date -u +%Y-%m-%d))"
	echo
	echo "Command: \`bench/run.sh $ROWS\` (\`make bench\`). File: $ROWS generated CDR rows"
	echo "(0.1 % bad), $SIZE bytes, in the page cache. Machine: $CPU, $NPROC cores."
	echo
	echo "In memory (\`bench_csv\`): *count* = quote-aware record counting (the split pass);"
	echo "*tokenize* = every field located and unescaped (the parse). Best of 3."
	echo
	echo "| mode | scanner | threads | seconds | GB/s | ratio to \`wc -l\` |"
	echo "|---|---|---:|---:|---:|---:|"
	echo "$ENGINE" | awk -v wc="$t_wc" -v size="$SIZE" 'NR>1 {printf "| %s | %s | %s | %s | %s | %.2f |\n", $1, $2, $3, $4, $5, (size/$4)/(size/wc)}'
	echo
	echo "End to end from the page cache (best of 3 wall times):"
	echo
	echo "| command | seconds | GB/s |"
	echo "|---|---:|---:|"
	echo "| \`wc -l\` | $t_wc | $(gbs "$t_wc") |"
	echo "| \`cat FILE > /dev/null\` | $t_cat | $(gbs "$t_cat") |"
	echo "| \`sluice csv check\` (one read) | $t_chk1 | $(gbs "$t_chk1") |"
	echo "| \`sluice csv check --threads $NPROC\` (split, then parse in parallel) | $t_chkn | $(gbs "$t_chkn") |"
	echo "| \`sluice csv check --scanner scalar\` (one read) | $t_chks | $(gbs "$t_chks") |"
	echo
	echo "\`sluice csv check\` reads the file once (the split in check mode); with"
	echo "\`--threads\` it reads it twice (split and count, then parse the chunks in"
	echo "parallel). Both include start-up and the XXH3 content hash. More in"
	echo "*csv check* below (\`bench/check.sh\`)."
} >"$OUT/csv.md"
cat "$OUT/csv.md"
fi

if [ "$PARTS" = ingest ] || [ "$PARTS" = all ]; then
	bench/ingest.sh "$ROWS"
fi

if [ "$PARTS" = serve ] || [ "$PARTS" = all ]; then
	bench/serve.sh
fi

# the A/B against the previous release (bench/ab.sh; not part of `all`: it
# builds the old release and runs every load of both, best of 3)
if [ "$PARTS" = ab ]; then
	bench/ab.sh --rows "$ROWS" || [ $? = 3 ]
fi

# docs/benchmarks.md: the notes, then every section bench/ has produced;
# a part not in bench/out/ keeps its section ("## TITLE ..." up to the next
# "## ") from the current file.
OLD=$(cat docs/benchmarks.md 2>/dev/null || true)
{
	cat bench/notes.md
	for part in "csv:CSV engine" "check:csv check" "ingest:Ingest" "serve:Serve" "patterns:Patterns" "s3:S3" "ab:A/B against the previous release"; do
		if [ -f "$OUT/${part%%:*}.md" ]; then
			echo
			cat "$OUT/${part%%:*}.md"
		else
			echo "$OLD" | awk -v t="## ${part#*:}" '
				/^## / {on = (index($0, t " ") == 1 || $0 == t); blank = 0}
				on && /^$/ {blank++; next}
				on {if (!n++) print ""; while (blank > 0) {print ""; blank--}; print}'
		fi
	done
} >docs/benchmarks.md
echo "wrote docs/benchmarks.md"
