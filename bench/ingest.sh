#!/usr/bin/env bash
# Ingest benchmark (issue: Ingest), side by side in one run; writes
# bench/out/ingest.md (bench/run.sh puts it into docs/benchmarks.md).
#   bench/ingest.sh [ROWS]          (default 5,000,000 rows, about 480 MB)
#   REPEAT=3 bench/ingest.sh        best of 3 runs of each load (default 1)
#   MEM10X=1 bench/ingest.sh        also load a 10 times larger file with
#                                   sluice (no key) to compare peak memory
# On the same generated CDR file (0.1 % bad rows), from the page cache, each
# into a fresh database in bench/out/:
#   sluice ingest into SQLite, with and without the unique key on reference;
#   sqlite3 .import (validates nothing), with and without a unique index;
#   DuckDB read_csv with store_rejects into a typed table, with and without
#   a primary key (bench/duckdb_load.mjs, npm @duckdb/node-api);
#   a resume of sluice ingest (with key) after a kill -9 at half way.
# Wall time by date(1); peak memory is the maximum resident set size from
# /usr/bin/time (of node for DuckDB).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROWS=${1:-${ROWS:-5000000}}
REPEAT=${REPEAT:-1}
MEM10X=${MEM10X:-0}
# The example schema indexes caller_id and recipient for the records API;
# the key and no-key comparisons leave those indexes out (.import builds
# none), and a third pair compares with them on both sides.
IDX=examples/cdr.yaml
cdr_schemas
COLS="caller_id,recipient,call_date,end_time,duration,cost,reference,currency"

F=$(gen "$ROWS")
SIZE=$(stat -c %s "$F")
if [ ! -d bench/node_modules/@duckdb/node-api ]; then
	npm ci --prefix bench --no-audit --no-fund >&2
fi
cat "$F" >/dev/null # warm the page cache
BINSUM=$(md5sum <$B/sluice)
BINTIME=$(date -u -r $B/sluice '+%Y-%m-%d %H:%M UTC')
COMMIT=$(git log --oneline -1 2>/dev/null || echo unknown)
DIRTY=$([ -n "$(git status --porcelain --untracked-files=no -- src include 2>/dev/null)" ] && echo "; the work tree had uncommitted changes in src/ or include/" || true)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)


# measure NAME DB CMD...: run CMD REPEAT times, each on a fresh DB; sets
# T_NAME (best wall seconds) and M_NAME (largest peak RSS, MB). CMD's
# stdout/stderr of the last run stay in $OUT/ingest_NAME.{out,err}.
measure() {
	local name=$1 db=$2 best=999999 peak=0 t0 t1 d m
	shift 2
	for _ in $(seq "$REPEAT"); do
		rmdb "$db"
		sync
		for try in 1 2 3 4 5 6; do # build/sluice may be being replaced
			t0=$(now)
			/usr/bin/time -o "$OUT/ingest_$name.time" -f "%M" "$@" \
				>"$OUT/ingest_$name.out" 2>"$OUT/ingest_$name.err" || true
			t1=$(now)
			grep -qi 'text file busy\|no such file\|cannot run' "$OUT/ingest_$name.time" \
				"$OUT/ingest_$name.err" || break
			echo "$name: could not run ($try), retrying" >&2
			rmdb "$db"
			sleep 10
		done
		d=$(sub "$t1" "$t0")
		m=$(tail -1 "$OUT/ingest_$name.time")
		best=$(echo "$d $best" | awk '{print ($1<$2)?$1:$2}')
		peak=$(echo "$m $peak" | awk '{print ($1>$2)?$1:$2}')
	done
	printf -v "T_$name" '%.3f' "$best"
	printf -v "M_$name" '%.0f' "$(echo "$peak" | awk '{print $1/1024}')"
	echo "$name: $best s, $(echo "$peak" | awk '{printf "%.0f", $1/1024}') MB" >&2
}
jnum() { # jnum FILE FIELD: a number field of a one-line JSON object
	sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1" | head -1
}

# sluice ingest
DBS=$OUT/ingest_sluice.db
measure sl_nokey "$DBS" $B/sluice ingest "$F" --schema "$NOKEY" --db "$DBS" --json --quiet
L_sl_nokey=$(jnum "$OUT/ingest_sl_nokey.out" rows_loaded)
R_sl_nokey=$(jnum "$OUT/ingest_sl_nokey.out" rows_rejected)
measure sl_key "$DBS" $B/sluice ingest "$F" --schema "$SCHEMA" --db "$DBS" --json --quiet
L_sl_key=$(jnum "$OUT/ingest_sl_key.out" rows_loaded)
R_sl_key=$(jnum "$OUT/ingest_sl_key.out" rows_rejected)
measure sl_idx "$DBS" $B/sluice ingest "$F" --schema "$IDX" --db "$DBS" --json --quiet
L_sl_idx=$(jnum "$OUT/ingest_sl_idx.out" rows_loaded)
R_sl_idx=$(jnum "$OUT/ingest_sl_idx.out" rows_rejected)
rmdb "$DBS"

# sqlite3 .import (bad rows: messages on stderr, nothing kept)
DBI=$OUT/ingest_import.db
measure imp_nokey "$DBI" sqlite3 "$DBI" -cmd "CREATE TABLE t($COLS);" ".mode csv" ".import --skip 1 $F t"
L_imp_nokey=$(sqlite3 "$DBI" "SELECT count(*) FROM t")
measure imp_key "$DBI" sqlite3 "$DBI" -cmd "CREATE TABLE t($COLS); CREATE UNIQUE INDEX ti ON t(reference);" ".mode csv" ".import --skip 1 $F t"
L_imp_key=$(sqlite3 "$DBI" "SELECT count(*) FROM t")
measure imp_idx "$DBI" sqlite3 "$DBI" -cmd "CREATE TABLE t($COLS); CREATE UNIQUE INDEX ti ON t(reference); CREATE INDEX tc ON t(caller_id); CREATE INDEX tr ON t(recipient);" ".mode csv" ".import --skip 1 $F t"
L_imp_idx=$(sqlite3 "$DBI" "SELECT count(*) FROM t")
rmdb "$DBI"

# DuckDB read_csv with store_rejects (all cores)
DBD=$OUT/ingest_duckdb.duckdb
measure dk_nokey "$DBD" node bench/duckdb_load.mjs "$F" "$DBD" nokey
measure dk_key "$DBD" node bench/duckdb_load.mjs "$F" "$DBD" key
for k in nokey key; do
	e=$OUT/ingest_dk_$k.err
	printf -v "L_dk_$k" '%s' "$(sed -n 's/.*loaded \([0-9]*\) rows.*/\1/p' "$e")"
	printf -v "R_dk_$k" '%s' "$(sed -n 's/.*rejected \([0-9]*\) lines.*/\1/p' "$e")"
done
DK_DETAIL=$(sed -n 's/^duckdb key: //p' "$OUT/ingest_dk_key.err")
DK_THREADS=$(sed -n 's/.*threads \([0-9]*\).*/\1/p' "$OUT/ingest_dk_key.err")
rmdb "$DBD"

# Resume after kill -9 at half way (with key). Chunks of at most 64 MiB
# (the default), smaller on a small file so that there is a half way.
CS=$((SIZE / 8))
[ "$CS" -gt 67108864 ] && CS=67108864
DBR=$OUT/ingest_resume.db
rmdb "$DBR"
RARGS=(ingest "$F" --schema "$SCHEMA" --db "$DBR" --json --quiet --chunk-size "$CS")
KILLED_AT=""
exec 3>&2 2>/dev/null # no "Killed" job message from bash
t0=$(now)
$B/sluice "${RARGS[@]}" >/dev/null &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
	p=$(sqlite3 "$DBR" "SELECT bytes_done, bytes_total FROM sluice_jobs ORDER BY seq DESC LIMIT 1" 2>/dev/null || true)
	bd=${p%%|*} bt=${p##*|}
	if [ -n "$bd" ] && [ -n "$bt" ] && [ "$bt" -gt 0 ] && [ $((bd * 2)) -ge "$bt" ]; then
		kill -9 "$pid" 2>/dev/null && KILLED_AT=$bd
		break
	fi
	sleep 0.2
done
wait "$pid" || true
T_first=$(sub "$(now)" "$t0")
exec 2>&3 3>&-
if [ -n "$KILLED_AT" ]; then
	t0=$(now)
	/usr/bin/time -o "$OUT/ingest_resume.time" -f "%M" $B/sluice "${RARGS[@]}" \
		>"$OUT/ingest_resume.out" 2>"$OUT/ingest_resume.err" || true
	T_resume=$(sub "$(now)" "$t0")
	M_resume=$(awk '{printf "%.0f", $1/1024}' <(tail -1 "$OUT/ingest_resume.time"))
	RESUMED=$(sed -n 's/.*"resumed":\([a-z]*\).*/\1/p' "$OUT/ingest_resume.out")
	L_resume=$(sqlite3 "$DBR" "SELECT count(*) FROM call_detail_records")
	R_resume=$(sqlite3 "$DBR" "SELECT count(*) FROM sluice_rejects")
	echo "resume: killed at $KILLED_AT of $SIZE bytes, resume $T_resume s" >&2
fi
rmdb "$DBR"

# Memory on a 10 times larger file (optional: MEM10X=1)
if [ "$MEM10X" = 1 ]; then
	ROWS10=$((ROWS * 10))
	F10=$(gen "$ROWS10")
	SIZE10=$(stat -c %s "$F10")
	cat "$F10" >/dev/null
	REPEAT=1 measure sl_10x "$DBS" $B/sluice ingest "$F10" --schema "$NOKEY" --db "$DBS" --json --quiet
	L_sl_10x=$(jnum "$OUT/ingest_sl_10x.out" rows_loaded)
	rmdb "$DBS"
fi

# The report
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
NPROC=$(nproc)
MEMGB=$(awk '/MemTotal/ {printf "%.0f", $2/1048576}' /proc/meminfo)
[ "$(md5sum <$B/sluice)" = "$BINSUM" ] || DIRTY="$DIRTY. **build/sluice was replaced during the run: the rows may come from different builds**"
SQLV=$(sqlite3 --version | cut -d' ' -f1)
DKV=$(node -p "require('./bench/node_modules/@duckdb/node-api/package.json').version")
rps() { echo "$ROWS $1" | awk '{printf "%.0f", $1/$2}'; }
row() { # row TOOL KEY NAME REF KEPT
	local t m l
	t=T_$3 m=M_$3 l=L_$3
	echo "| $1 | $2 | ${!t} | $(rps "${!t}") | ${!m} | ${!l} | $5 | $(ratio "${!t}" "$4") |"
}
r_nokey=$(ratio "$T_sl_nokey" "$T_imp_nokey")
r_key=$(ratio "$T_sl_key" "$T_imp_key")
M_sl_max=$(echo "$M_sl_nokey $M_sl_key" | awk '{print ($1>$2)?$1:$2}')

{
	echo "## Ingest ($(date -u +%Y-%m-%d))"
	echo
	echo "Command: \`bench/ingest.sh $ROWS\`$([ "$REPEAT" != 1 ] && echo " with REPEAT=$REPEAT")$([ "$MEM10X" = 1 ] && echo " and MEM10X=1")"
	echo "(also \`bench/run.sh $ROWS ingest\`). Binary: \`build/sluice\` of $BINTIME; HEAD was \`$COMMIT\`$DIRTY."
	echo "File: $ROWS generated CDR rows (\`sluice gen cdr --error-rate 0.001 --seed 1\`),"
	echo "$SIZE bytes, in the page cache. Machine: $CPU, $NPROC cores, $MEMGB GB."
	echo "SQLite $SQLV (sqlite3 shell), DuckDB $DKV (npm \`@duckdb/node-api\`)."
	echo
	echo "Each load goes into a fresh database file in \`bench/out/\`. $([ "$REPEAT" = 1 ] && echo "One run each" || echo "Best of $REPEAT runs (peak memory: the largest)")."
	echo "Rows/s = the file's $ROWS rows / wall seconds, for every tool. Ratio = seconds"
	echo "/ seconds of \`sqlite3 .import\` with the same key setting (no key: plain table;"
	echo "key: unique index on \`reference\`). *Bad rows kept* = rows set aside where they"
	echo "can be queried (sluice: \`sluice_rejects\`; DuckDB: rejects table, lines)."
	echo
	echo "| tool | key on reference | seconds | rows/s | peak MB | rows loaded | bad rows kept | ratio to \`.import\` |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	row "\`sluice ingest\` (SQLite)" no sl_nokey "$T_imp_nokey" "$R_sl_nokey"
	row "\`sqlite3 .import\`" no imp_nokey "$T_imp_nokey" 0
	row "DuckDB \`read_csv\`, store_rejects" no dk_nokey "$T_imp_nokey" "$R_dk_nokey"
	row "\`sluice ingest\` (SQLite)" "unique key" sl_key "$T_imp_key" "$R_sl_key"
	row "\`sqlite3 .import\`" "unique index" imp_key "$T_imp_key" 0
	row "DuckDB \`read_csv\`, store_rejects" "primary key" dk_key "$T_imp_key" "$R_dk_key"
	row "\`sluice ingest\` (SQLite)" "unique key + 2 indexes" sl_idx "$T_imp_idx" "$R_sl_idx"
	row "\`sqlite3 .import\`" "unique + 2 indexes" imp_idx "$T_imp_idx" 0
	echo
	echo "Goals (issue: Ingest), from the numbers above:"
	echo
	echo "- Without a key, at most 0.6 times the time of \`sqlite3 .import\`: $r_nokey — $(met le "$r_nokey" 0.6)."
	echo "- With the key, at most 0.5 times the time of \`sqlite3 .import\` into a table with a"
	echo "  unique index: $r_key — $(met le "$r_key" 0.5)."
	echo "- Faster than DuckDB without a key: $T_sl_nokey s against $T_dk_nokey s — $(met lt "$T_sl_nokey" "$T_dk_nokey");"
	echo "  with the key: $T_sl_key s against $T_dk_key s — $(met lt "$T_sl_key" "$T_dk_key")."
	echo "- Peak memory at most 128 MB: sluice peaked at $M_sl_max MB — $(met le "$M_sl_max" 128)."
	if [ "$MEM10X" = 1 ]; then
		g=$(ratio "$M_sl_10x" "$M_sl_nokey")
		echo "- Peak memory unchanged on a 10 times larger file ($ROWS10 rows, $SIZE10 bytes, no key):"
		echo "  $M_sl_10x MB against $M_sl_nokey MB ($g times; $T_sl_10x s, $L_sl_10x rows loaded) —"
		echo "  $(met eval "le $g 1.10 && le $M_sl_10x 128") (taken as: within 10 % and still at most 128 MB)."
	else
		echo "- Peak memory unchanged on a 10 times larger file: not measured in this run"
		echo "  (\`MEM10X=1 bench/ingest.sh $ROWS\` does it; see the notes)."
	fi
	if [ -n "$KILLED_AT" ]; then
		rr=$(ratio "$T_resume" "$T_sl_key")
		left=$(echo "$KILLED_AT $SIZE" | awk '{printf "%.0f", 100*(1-$1/$2)}')
		echo "- A resume after a kill at half way finishes in about half the time of a full"
		echo "  load: $rr of the full keyed load — $(met le "$rr" 0.6) (taken as: at most 0.6)."
		echo
		echo "Resume: \`sluice ingest\` with the key (chunks of $CS bytes) was killed with"
		echo "\`kill -9\` $T_first s after its start, when its job had $KILLED_AT of $SIZE bytes"
		echo "committed ($left % left). The same command again resumed the job (\`resumed\`: $RESUMED)"
		echo "and finished in $T_resume s (peak $M_resume MB), $rr times the full keyed load of"
		echo "$T_sl_key s. Afterwards the table held $L_resume rows and \`sluice_rejects\` $R_resume"
		echo "rows, against $L_sl_key and $R_sl_key after the uninterrupted load$([ "$L_resume" = "$L_sl_key" ] && [ "$R_resume" = "$R_sl_key" ] && echo ": the same" || echo ": NOT the same")."
	else
		echo "- Resume after a kill at half way: not measured (the load finished before half"
		echo "  way was seen; the file is too small)."
	fi
	echo
	echo "Notes:"
	echo
	echo "- What each tool checks differs, so the *rows loaded* differ. \`sqlite3 .import\`"
	echo "  validates nothing: a short record is padded with NULLs, a long one truncated,"
	echo "  every row is loaded as text into an untyped table, and with the unique index"
	echo "  a duplicate is skipped with a message on stderr (discarded here); nothing is"
	echo "  kept. DuckDB rejects only what does not parse or cast to the column types"
	echo "  (wrong field count, a bad date, time, integer or decimal) and stores those"
	echo "  lines in its rejects table; values that break the schema's pattern, enum,"
	echo "  range or required rules are loaded."
	echo "  sluice applies the whole schema (\`examples/cdr.yaml\` less its \`index:\` lines;"
	echo "  without the key also less its \`key:\` line; *key + 2 indexes*: the file as it is,"
	echo "  with \`caller_id\` and \`recipient\` indexed for the records API) and keeps every"
	echo "  bad row with its reason."
	echo "- DuckDB with a key: \`reference VARCHAR PRIMARY KEY\` makes a plain"
	echo "  \`INSERT INTO t SELECT * FROM read_csv(...)\` fail as a whole on the first"
	echo "  duplicate of the file, so the load uses \`INSERT OR IGNORE\`, as a DuckDB user"
	echo "  would: the duplicates are dropped silently, not stored as rejects. DuckDB"
	echo "  ran with its default thread count ($DK_THREADS here, all cores) into a database file"
	echo "  on disk; its time includes starting node, a \`CHECKPOINT\` and copying the"
	echo "  rejects into a table. Detail of the keyed run: $DK_DETAIL."
	echo "- \`sqlite3 .import\` runs in one thread, in one transaction, with the shell's"
	echo "  defaults (rollback journal); sluice uses all cores for parsing and validating"
	echo "  and SQLite in WAL mode, committing per chunk, and records its job, chunks and"
	echo "  rejects in the same database."
	echo "- Peak memory is the maximum resident set size (\`/usr/bin/time\` %M) of the"
	echo "  whole process: of node with DuckDB in it for DuckDB."
	echo "- Noise: $NPROC cores, load average $LOAD at the start of the run; anything else"
	echo "  running on the machine (builds, tests) slows the multi-threaded tools most. $([ "$REPEAT" = 1 ] && echo "One run each: differences of a few per cent mean nothing; \`REPEAT=3\` gives the best of 3.")"
	echo "- The 10x memory check needs a file 10 times larger (50,000,000 rows, about"
	echo "  4.8 GB, for the default size) and a long run, so it is off by default:"
	echo "  \`MEM10X=1 bench/ingest.sh [ROWS]\` loads \`cdr_<10*ROWS>.csv\` (generated when"
	echo "  missing) with sluice, no key, and reports its peak memory beside the 1x one."
} >"$OUT/ingest.md"
# the same file compressed (bench/compressed.sh; COMPRESSED=0 skips it)
if [ "${COMPRESSED:-1}" = 1 ]; then
	REPEAT=$REPEAT bench/compressed.sh "$ROWS" >/dev/null
	{ echo; cat "$OUT/compressed.md"; } >>"$OUT/ingest.md"
fi
cat "$OUT/ingest.md"
