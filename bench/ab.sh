#!/usr/bin/env bash
# A/B ingest benchmark (issue 11, Performance): the previous release against
# this tree, side by side in one run; writes bench/out/ab.md (bench/run.sh
# puts it into docs/benchmarks.md as "A/B against the previous release").
#
#   bench/ab.sh [--base REF] [--rows N] [--repeat N] [--no-idx] [--no-10x]
#
#   --base REF   the previous release: a commit, tag or branch (default
#                d14feaa, main when issue 11's work began)
#   --rows N     rows of the generated CDR file (default 5,000,000, ~475 MB)
#   --repeat N   rounds; each figure is the best of N (default 3)
#   --no-idx     skip the loads with the schema's two `index: true` columns
#                (the longest: about 3 times a keyed load)
#   --no-10x     skip the memory checks on a 10 times larger file (they need
#                ~5 GB of disk for the file and up to three times as much
#                for an atomic job's database: its stage and its target)
#
# Both sides are built here in Release, from the same compiler and flags:
# REF from `git archive` into bench/out/ab/base-SHA/ (kept: a second run
# with the same REF builds nothing), this tree (with any uncommitted
# change) into bench/out/ab/new/. Each round runs every load once, in this
# order, so that a busy machine slows all of them alike: per key setting
# (no key; the unique key on reference; the key and the schema's two
# `index: true` columns) the old sluice, the new one (the two swap places
# every other round), `sqlite3 .import` into a table with the same indexes,
# and (no key, key) DuckDB read_csv; every load into a fresh database in
# bench/out/ab/. Wall time by date(1), peak memory as bench/ingest.sh takes
# it (maximum resident set size, /usr/bin/time %M). Then, unless --no-10x,
# the new sluice loads a 10 times larger file without a key, once, for its
# peak memory; and the load modes, whose finishing transaction (the merge
# of the stage, the swap of the shadow) once grew with the file: once each
# on the 1x and the 10x file, `--mode atomic` with the unique key (the
# merge in key order) and `--mode replace` without.
#
# Exit status: 0 every goal met, 3 some goal not met (the report says
# which), 1 the benchmark itself failed (a build, a load that did not run).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_REF=d14feaa
ROWS=5000000
REPEAT=3
MEM10X=1
KINDS="nokey key idx"
while [ $# -gt 0 ]; do
	case $1 in
	--base) BASE_REF=$2 && shift 2 ;;
	--rows) ROWS=$2 && shift 2 ;;
	--repeat) REPEAT=$2 && shift 2 ;;
	--no-10x) MEM10X=0 && shift ;;
	--no-idx) KINDS="nokey key" && shift ;;
	*)
		sed -n '/^#   bench/,/^#   --no-10x/p' "$0" | sed 's/^# //' >&2
		exit 2
		;;
	esac
done
OUT=bench/out
AB=$OUT/ab
mkdir -p "$AB"
CMDLINE="bench/ab.sh --base $BASE_REF --rows $ROWS --repeat $REPEAT"
[ "$KINDS" = "nokey key idx" ] || CMDLINE="$CMDLINE --no-idx"
[ "$MEM10X" = 1 ] || CMDLINE="$CMDLINE --no-10x"
say() { echo "ab: $*" >&2; }

# --- the two builds ---------------------------------------------------------------------------
BASE_SHA=$(git rev-parse --verify "$BASE_REF^{commit}")
BASE_SUBJ=$(git log -1 --format='%h %s' "$BASE_SHA" | cut -c1-90)
BB=$AB/base-${BASE_SHA:0:12}
if [ ! -x "$BB/build/sluice" ]; then
	say "building $BASE_REF ($BASE_SUBJ) in $BB (Release)"
	rm -rf "$BB"
	mkdir -p "$BB/src"
	git archive "$BASE_SHA" | tar -x -C "$BB/src"
	cmake -S "$BB/src" -B "$BB/build" -DCMAKE_BUILD_TYPE=Release >"$BB/cmake.log" 2>&1 &&
		cmake --build "$BB/build" -j 2 --target sluice >>"$BB/cmake.log" 2>&1 ||
		{ tail -20 "$BB/cmake.log" >&2; say "the build of $BASE_REF failed ($BB/cmake.log)"; exit 1; }
fi
NB=$AB/new
say "building this tree in $NB (Release)"
cmake -S . -B "$NB" -DCMAKE_BUILD_TYPE=Release >"$AB/new-cmake.log" 2>&1 &&
	cmake --build "$NB" -j 2 --target sluice >>"$AB/new-cmake.log" 2>&1 ||
	{ tail -20 "$AB/new-cmake.log" >&2; say "the build of this tree failed ($AB/new-cmake.log)"; exit 1; }
OLD_BIN=$BB/build/sluice
NEW_BIN=$NB/sluice
NEW_HEAD=$(git log -1 --format='%h %s' | cut -c1-90)
DIRTY=$([ -n "$(git status --porcelain --untracked-files=no -- src include cli CMakeLists.txt)" ] && echo ", with uncommitted changes in src/, include/, cli/ or CMakeLists.txt" || true)

# --- input, schemas -----------------------------------------------------------------------------
IDX=examples/cdr.yaml
KEY=$AB/cdr_key.yaml
sed '/^[[:space:]]*index:/d' "$IDX" >"$KEY"
NOKEY=$AB/cdr_nokey.yaml
sed '/^key:/d' "$KEY" >"$NOKEY"
COLS="caller_id,recipient,call_date,end_time,duration,cost,reference,currency"
gen() { # gen ROWS: path of the generated file (made when missing)
	local f=$OUT/cdr_$1.csv
	[ -s "$f" ] || "$NEW_BIN" gen cdr --rows "$1" --error-rate 0.001 --seed 1 -o "$f" >&2
	echo "$f"
}
F=$(gen "$ROWS")
SIZE=$(stat -c %s "$F")
DUCK=1
if [ ! -d bench/node_modules/@duckdb/node-api ]; then
	npm ci --prefix bench --no-audit --no-fund >&2 || DUCK=0
fi
command -v node >/dev/null || DUCK=0
cat "$F" >/dev/null # warm the page cache
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date -u '+%Y-%m-%d %H:%M UTC')

now() { date +%s.%N; }
rmdb() { rm -f "$1" "$1-wal" "$1-shm" "$1-journal" "$1.wal"; }
declare -A BEST PEAK ALL

# run NAME DB CMD...: one run on a fresh DB; keeps the best time and the
# largest peak (MB) of NAME, and the run's output in $AB/NAME.{out,err}
run() {
	local name=$1 db=$2 t0 t1 d m st=0
	shift 2
	rmdb "$db"
	sync
	t0=$(now)
	/usr/bin/time -o "$AB/$name.time" -f "%M" "$@" >"$AB/$name.out" 2>"$AB/$name.err" || st=$?
	t1=$(now)
	# sluice exits 3 when rows were rejected (the file has 0.1 % bad ones)
	if [ "$st" != 0 ] && [ "$st" != 3 ]; then
		say "$name failed (exit $st): $(tail -3 "$AB/$name.err")"
		exit 1
	fi
	d=$(echo "$t1 $t0" | awk '{printf "%.3f", $1-$2}')
	m=$(tail -1 "$AB/$name.time" | awk '{printf "%.0f", $1/1024}')
	BEST[$name]=$(echo "$d ${BEST[$name]:-999999}" | awk '{print ($1<$2)?$1:$2}')
	PEAK[$name]=$(echo "$m ${PEAK[$name]:-0}" | awk '{print ($1>$2)?$1:$2}')
	ALL[$name]="${ALL[$name]:+${ALL[$name]} }$d"
	say "$name: $d s, $m MB"
}
jnum() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1" | head -1; }
declare -A LOADED REJECTED
sluice_run() { # sluice_run NAME BIN SCHEMA
	run "$1" "$AB/$1.db" "$2" ingest "$F" --schema "$3" --db "$AB/$1.db" --json --quiet
	LOADED[$1]=$(jnum "$AB/$1.out" rows_loaded)
	REJECTED[$1]=$(jnum "$AB/$1.out" rows_rejected)
	rmdb "$AB/$1.db"
}
import_run() { # import_run NAME DDL
	run "$1" "$AB/$1.db" sqlite3 "$AB/$1.db" -cmd "CREATE TABLE t($COLS); $2" ".mode csv" ".import --skip 1 $F t"
	LOADED[$1]=$(sqlite3 "$AB/$1.db" "SELECT count(*) FROM t")
	rmdb "$AB/$1.db"
}
duck_run() { # duck_run NAME key|nokey
	run "$1" "$AB/$1.duckdb" node bench/duckdb_load.mjs "$F" "$AB/$1.duckdb" "$2"
	LOADED[$1]=$(sed -n 's/.*loaded \([0-9]*\) rows.*/\1/p' "$AB/$1.err")
	rmdb "$AB/$1.duckdb"
}

UIDX="CREATE UNIQUE INDEX ti ON t(reference);"
XIDX="$UIDX CREATE INDEX tc ON t(caller_id); CREATE INDEX tr ON t(recipient);"
for r in $(seq "$REPEAT"); do
	say "round $r of $REPEAT"
	for k in $KINDS; do
		case $k in nokey) sc=$NOKEY ddl="" ;; key) sc=$KEY ddl=$UIDX ;; idx) sc=$IDX ddl=$XIDX ;; esac
		if [ $((r % 2)) = 1 ]; then
			sluice_run "old_$k" "$OLD_BIN" "$sc"
			sluice_run "new_$k" "$NEW_BIN" "$sc"
		else
			sluice_run "new_$k" "$NEW_BIN" "$sc"
			sluice_run "old_$k" "$OLD_BIN" "$sc"
		fi
		import_run "imp_$k" "$ddl"
		if [ "$DUCK" = 1 ] && [ "$k" != idx ]; then duck_run "dk_$k" "$k"; fi
	done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

if [ "$MEM10X" = 1 ]; then
	F10=$(gen $((ROWS * 10)))
	SIZE10=$(stat -c %s "$F10")
	cat "$F10" >/dev/null 2>&1 || true
	run new_10x "$AB/new_10x.db" "$NEW_BIN" ingest "$F10" --schema "$NOKEY" --db "$AB/new_10x.db" --json --quiet
	LOADED[new_10x]=$(jnum "$AB/new_10x.out" rows_loaded)
	rmdb "$AB/new_10x.db"
	# mode_run NAME FILE SCHEMA MODE: one load of the new binary in MODE
	mode_run() {
		run "$1" "$AB/$1.db" "$NEW_BIN" ingest "$2" --schema "$3" --mode "$4" --db "$AB/$1.db" --json --quiet
		LOADED[$1]=$(jnum "$AB/$1.out" rows_loaded)
		rmdb "$AB/$1.db"
	}
	mode_run new_atomic "$F" "$KEY" atomic
	mode_run new_atomic_10x "$F10" "$KEY" atomic
	mode_run new_replace "$F" "$NOKEY" replace
	mode_run new_replace_10x "$F10" "$NOKEY" replace
fi

# --- the report ---------------------------------------------------------------------------------
ratio() { echo "$1 $2" | awk '{printf "%.2f", $1/$2}'; }
le() { echo "$1 $2" | awk '{exit !($1<=$2)}'; }
lt() { echo "$1 $2" | awk '{exit !($1<$2)}'; }
MISSED=()
goal() { # goal TEXT CMD...: "— met" or "— not met" (and remembered)
	local text=$1
	shift
	if "$@"; then echo "- $text — **met**."; else
		echo "- $text — **not met**."
		MISSED+=("$text")
	fi
}
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
SQLV=$(sqlite3 --version | cut -d' ' -f1)
DKV=$([ "$DUCK" = 1 ] && node -p "require('./bench/node_modules/@duckdb/node-api/package.json').version" || echo "not run")
label() { case $1 in nokey) echo "no key" ;; key) echo "unique key" ;; idx) echo "unique key + 2 indexes" ;; esac; }
same() {
	[ "${LOADED[old_$1]}" = "${LOADED[new_$1]}" ] && [ "${REJECTED[old_$1]}" = "${REJECTED[new_$1]}" ] && echo same || echo "**differ** (${LOADED[old_$1]}+${REJECTED[old_$1]})"
}
REPORT=$OUT/ab.md
{
	echo "## A/B against the previous release ($(date -u +%Y-%m-%d))"
	echo
	echo "Command: \`$CMDLINE\`, started $T_START. Old: \`$BASE_SUBJ\`; new: this tree at"
	echo "\`$NEW_HEAD\`$DIRTY; both built here in Release."
	echo "File: $ROWS generated CDR rows (\`sluice gen cdr --error-rate 0.001 --seed 1\`), $SIZE bytes,"
	echo "in the page cache. Machine: $CPU, $(nproc) cores; load average $LOAD0 at the start,"
	echo "$LOAD1 after the rounds. SQLite $SQLV (sqlite3 shell), DuckDB $DKV."
	echo
	echo "Best of $REPEAT interleaved rounds (every load once per round; old and new swap"
	echo "places every other round); peak memory is the largest of the rounds."
	echo
	echo "| schema | old s | new s | new / old | old MB | new MB | rows loaded + rejected (new) | old's rows | \`.import\` s | new / \`.import\` | DuckDB s | new / DuckDB |"
	echo "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"
	for k in $KINDS; do
		dk="—" dr="—"
		if [ "$DUCK" = 1 ] && [ "$k" != idx ]; then dk=${BEST[dk_$k]} dr=$(ratio "${BEST[new_$k]}" "$dk"); fi
		echo "| $(label $k) | ${BEST[old_$k]} | ${BEST[new_$k]} | $(ratio "${BEST[new_$k]}" "${BEST[old_$k]}") | ${PEAK[old_$k]} | ${PEAK[new_$k]} | ${LOADED[new_$k]} + ${REJECTED[new_$k]} | $(same $k) | ${BEST[imp_$k]} | $(ratio "${BEST[new_$k]}" "${BEST[imp_$k]}") | $dk | $dr |"
	done
	echo
	echo "Every round's seconds:"
	echo
	for n in old_nokey new_nokey imp_nokey dk_nokey old_key new_key imp_key dk_key old_idx new_idx imp_idx; do
		[ -n "${ALL[$n]:-}" ] && echo "- \`$n\`: ${ALL[$n]}"
	done
	echo
	echo "Goals (issue 11, Performance):"
	echo
	for k in nokey key; do
		r=$(ratio "${BEST[new_$k]}" "${BEST[old_$k]}")
		goal "$(label $k): the new binary within 5 % of the old one: $r" le "$r" 1.05
	done
	for k in nokey key; do
		r=$(ratio "${BEST[new_$k]}" "${BEST[imp_$k]}")
		goal "$(label $k): at most 0.5 times \`sqlite3 .import\`: $r" le "$r" 0.5
		[ "$DUCK" = 0 ] || goal "$(label $k): faster than DuckDB: ${BEST[new_$k]} s against ${BEST[dk_$k]} s" lt "${BEST[new_$k]}" "${BEST[dk_$k]}"
	done
	if [ -n "${BEST[new_idx]:-}" ]; then
		r=$(ratio "${BEST[new_idx]}" "${BEST[imp_idx]}")
		goal "with the schema's \`index: true\` columns: at most 0.6 times \`.import\` with the same indexes: $r (old: $(ratio "${BEST[old_idx]}" "${BEST[imp_idx]}"))" le "$r" 0.6
	fi
	m=$(echo "${PEAK[new_nokey]} ${PEAK[new_key]} ${PEAK[new_idx]:-0}" | tr ' ' '\n' | sort -n | tail -1)
	goal "peak memory at most 128 MB: the new binary peaked at $m MB" le "$m" 128
	if [ "$MEM10X" = 1 ]; then
		g=$(ratio "${PEAK[new_10x]}" "${PEAK[new_nokey]}")
		goal "peak memory flat on a 10 times larger file ($((ROWS * 10)) rows, $SIZE10 bytes, no key, ${BEST[new_10x]} s, ${LOADED[new_10x]} rows loaded): ${PEAK[new_10x]} MB against ${PEAK[new_nokey]} MB ($g times; taken as: at most 1.10 times and 128 MB)" eval "le $g 1.10 && le ${PEAK[new_10x]} 128"
		for m in atomic replace; do
			g=$(ratio "${PEAK[new_${m}_10x]}" "${PEAK[new_$m]}")
			what=$([ $m = atomic ] && echo "unique key" || echo "no key")
			goal "\`--mode $m\` ($what): peak memory flat on the 10 times larger file (${BEST[new_${m}_10x]} s, ${LOADED[new_${m}_10x]} rows loaded): ${PEAK[new_${m}_10x]} MB against ${PEAK[new_$m]} MB on the 1x file (${BEST[new_$m]} s; $g times; taken as: at most 1.10 times and 128 MB)" eval "le $g 1.10 && le ${PEAK[new_${m}_10x]} 128"
		done
	else
		echo "- peak memory on a 10 times larger file (append, atomic, replace): not measured (\`--no-10x\`)."
	fi
	sm=""
	for k in $KINDS; do sm="$sm$(same $k)"; done
	[ "$sm" = "$(for k in $KINDS; do printf same; done)" ] ||
		{ echo "- **the old and the new binary loaded different rows** (see the table)"; MISSED+=("same rows"); }
	echo
	echo "The ratios are the figures to read: every load of a round ran under the same"
	echo "load, so a busy machine moves the absolute seconds much more than their ratios."
} >"$REPORT"
cat "$REPORT"
if [ ${#MISSED[@]} -gt 0 ]; then
	say "${#MISSED[@]} goal(s) not met"
	exit 3
fi
say "every goal met"
