#!/usr/bin/env bash
# Load modes (issue 11, docs/ingest.md "Load modes"): replace swaps a shadow
# table in at the end, atomic merges staged rows at the end. Readers in
# another process (the sqlite3 shell) see the old table while the job is
# paused (SLUICE_TEST_PAUSE) or killed mid-load, then exactly the new rows;
# a job over its error budget leaves the table as it was; kill -9 just
# before and just after the swap/merge (SLUICE_TEST_KILL=mode_before,
# mode_after, both inside the finishing transaction) and after its commit
# (finished), then a resume: every row once. Atomic duplicates against the
# target are the rejects an append load gives (on the same data), and
# on_duplicate: update merges the latest rows. Expected tables come from
# tests/lib/oracle.py, counts from the generator's manifest. Also: a key
# another job loads while it is staged (MODE_CONFLICT), and `sluice worker`
# finishing a job of each mode (killed before the finish, then another).
# Usage: test_modes.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
. "$SRC/tests/lib/harness.sh"
CDR=$SRC/examples/cdr.yaml
q() { sqlite3 -batch "$1" "$2"; }
COLS="caller_id,recipient,call_date,end_time,duration,cost,reference,currency"
# table_of DB CSV [SCHEMA]: call_detail_records of DB holds exactly the
# oracle's rows of CSV (read with SCHEMA, default examples/cdr.yaml)
table_of() {
	sqlite3 -batch -json "$1" "SELECT $COLS FROM call_detail_records ORDER BY reference" >"$T/got.json" &&
		python3 "$ORACLE" compare "$2" "$T/got.json" --schema "${3:-$CDR}" >"$T/cmp.txt" 2>&1
}
is_table() { # WHAT DB CSV [SCHEMA]
	if table_of "$2" "$3" "${4:-}"; then ok; else bad "$1: $(head -3 "$T/cmp.txt")"; fi
}
nrows() { q "$1" "SELECT count(*) FROM call_detail_records"; }
staged() { q "$1" "SELECT count(*) FROM sqlite_master WHERE name LIKE '\\_sluice\\_%' ESCAPE '\\'"; }

sl_run gen cdr --rows 3000 --error-rate 0.03 --seed 7 --manifest "$T/ma.tsv" -o "$T/a.csv"
check "gen a" "$(rc)" 0
sl_run gen cdr --rows 3000 --error-rate 0.03 --seed 8 --manifest "$T/mb.tsv" -o "$T/b.csv"
check "gen b" "$(rc)" 0
BAD_A=$(wc -l <"$T/ma.tsv")
BAD_B=$(wc -l <"$T/mb.tsv")
DUP_B=$(awk -F'\t' '$3 == "DUP_REFERENCE"' "$T/mb.tsv" | wc -l)
# the old table: file a, appended
sl_run ingest "$T/a.csv" --schema "$CDR" --db "$T/base.db" --json --quiet
check "a: exit 3" "$(rc)" 3
is_table "a: the oracle's rows" "$T/base.db" "$T/a.csv"

# --- replace: readers see the old table while it runs, then exactly b ----------------------
for mode in replace atomic; do
	cp "$T/base.db" "$T/$mode.db"
	rm -rf "$T/p" && mkdir "$T/p"
	# the new file: b (replace); atomic: b, whose rows join a's
	want=$T/b.csv
	[ $mode = atomic ] && { cat "$T/a.csv" && tail -n +2 "$T/b.csv"; } >"$T/ab.csv" && want=$T/ab.csv
	SLUICE_TEST_PAUSE=3:$T/p sl_start "$T/$mode.err" ingest "$T/b.csv" --schema "$CDR" --db "$T/$mode.db" \
		--mode $mode --chunk-size 32k --threads 1 --quiet --json >"$T/$mode.out"
	pid=$BG_PID
	wait_for "$mode: the pause before chunk 3" 3000 test -e "$T/p/paused"
	is_table "$mode: paused after 3 chunks: the old table" "$T/$mode.db" "$T/a.csv"
	check "$mode: its own table beside the target" "$(staged "$T/$mode.db")" 1
	: >"$T/p/go"
	sl_wait $pid "$T/$mode.err"
	check "$mode: exit 3" "$?" 3
	check "$mode: the job's mode" "$(json "$T/$mode.out" "d['mode'], d['status']")" "$mode PartiallySucceeded"
	check "$mode: rejects of b as in the manifest" "$(json "$T/$mode.out" "d['rows_rejected']")" "$BAD_B"
	is_table "$mode: then exactly the new rows" "$T/$mode.db" "$want"
	check "$mode: no shadow or stage left" "$(staged "$T/$mode.db")" 0
done
check "replace: the lookup indexes on the new table" \
	"$(q "$T/replace.db" "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'call_detail_records' AND name LIKE 'sluice_job_%'")" 1
check "replace: every row is the job's" \
	"$(q "$T/replace.db" "SELECT count(DISTINCT _sluice_job) FROM call_detail_records")" 1

# --- mode: in the schema, the CLI over it, the job's mode on resume --------------------------
sed 's/^on_duplicate: reject.*/&\nmode: replace/' "$CDR" >"$T/replace.yaml"
cp "$T/base.db" "$T/sch.db"
sl_run ingest "$T/b.csv" --schema "$T/replace.yaml" --db "$T/sch.db" --json --quiet
check "schema mode: replace" "$(json "$T/out" "d['mode']")" replace
is_table "schema mode: b only" "$T/sch.db" "$T/b.csv"
sl_run ingest "$T/a.csv" --schema "$T/replace.yaml" --db "$T/sch.db" --json --quiet --mode append
check "--mode append over the schema's replace" "$(json "$T/out" "d['mode']")" append
{ cat "$T/b.csv" && tail -n +2 "$T/a.csv"; } >"$T/ba.csv"
is_table "--mode append: a's rows join b's" "$T/sch.db" "$T/ba.csv"
sl_run ingest "$T/b.csv" --schema "$CDR" --db "$T/x.db" --mode merge
check "--mode merge: usage error" "$(rc)" 2
sed 's/^on_duplicate: reject.*/&\nmode: merge/' "$CDR" >"$T/bad.yaml"
sl_run ingest "$T/b.csv" --schema "$T/bad.yaml" --db "$T/x.db"
check "mode: merge in the schema: exit 2" "$(rc)" 2
grep -q "mode must be append, replace or atomic" "$T/err" && ok || bad "mode: merge: message ($(head -2 "$T/err"))"

# --- the error budget: a Failed job leaves the table as it was ---------------------------------
for mode in replace atomic; do
	cp "$T/base.db" "$T/bud.db"
	sl_run ingest "$T/b.csv" --schema "$CDR" --db "$T/bud.db" --mode $mode --max-errors 5 --chunk-size 32k --json --quiet
	check "$mode over budget: exit 4" "$(rc)" 4
	check "$mode over budget: Failed, LIMIT" "$(json "$T/out" "d['status'], d['error']['code']")" "Failed LIMIT"
	is_table "$mode over budget: the old table" "$T/bud.db" "$T/a.csv"
	JOB=$(json "$T/out" "d['job_id']")
	check "$mode over budget: its rows kept aside for a retry" "$(staged "$T/bud.db")" 1
	sl_run rollback "$JOB" --db "$T/bud.db" --json
	check "$mode over budget: rollback: exit 0" "$(rc)" 0
	check "$mode over budget: rollback drops them" "$(staged "$T/bud.db")" 0
	is_table "$mode over budget, rolled back: the old table" "$T/bud.db" "$T/a.csv"
done

# --- kill -9 during the load and around the swap/merge, then resume: exactly once ------------
for mode in replace atomic; do
	want=$T/b.csv
	[ $mode = atomic ] && want=$T/ab.csv
	# during the load: killed while paused before chunk 3 (chunks 0..2 committed aside)
	cp "$T/base.db" "$T/k.db"
	rm -rf "$T/p" && mkdir "$T/p"
	SLUICE_TEST_PAUSE=3:$T/p sl_start "$T/k.err" ingest "$T/b.csv" --schema "$CDR" --db "$T/k.db" \
		--mode $mode --chunk-size 32k --threads 1 --quiet --json >"$T/k.out"
	pid=$BG_PID
	wait_for "$mode: the pause" 3000 test -e "$T/p/paused"
	JOB=$(head -1 "$T/p/paused")
	sl_kill9 $pid "$T/k.err"
	is_table "$mode: killed mid-load: the old table" "$T/k.db" "$T/a.csv"
	sl_run resume "$JOB" --db "$T/k.db" --json --quiet
	check "$mode: killed mid-load, resumed: exit 3" "$(rc)" 3
	check "$mode: resumed with the job's mode" "$(json "$T/out" "d['mode'], d['rows_loaded']")" "$mode $((3000 - BAD_B))"
	is_table "$mode: killed mid-load, resumed: the new rows once" "$T/k.db" "$want"
	for point in mode_before mode_after finished; do
		cp "$T/base.db" "$T/k.db"
		SLUICE_TEST_KILL=$point sl_run ingest "$T/b.csv" --schema "$CDR" --db "$T/k.db" --mode $mode \
			--chunk-size 32k --quiet --json
		check "$mode, kill at $point: killed" "$(rc)" 137
		JOB=$(q "$T/k.db" "SELECT id FROM sluice_jobs ORDER BY seq DESC LIMIT 1")
		if [ $point = finished ]; then
			is_table "$mode, kill at $point: committed: the new rows" "$T/k.db" "$want"
		else
			is_table "$mode, kill at $point: rolled back: the old table" "$T/k.db" "$T/a.csv"
			sl_run resume "$JOB" --db "$T/k.db" --json --quiet
			check "$mode, kill at $point, resumed: exit 3" "$(rc)" 3
			check "$mode, kill at $point, resumed: counts" \
				"$(json "$T/out" "d['rows_loaded'], d['rows_rejected']")" "$((3000 - BAD_B)) $BAD_B"
		fi
		is_table "$mode, kill at $point: the new rows once" "$T/k.db" "$want"
		check "$mode, kill at $point: no shadow or stage left" "$(staged "$T/k.db")" 0
	done
done

# --- a worker finishes the job (fan-in in another process): the job's mode -----------------
for mode in replace atomic; do
	want=$T/b.csv
	[ $mode = atomic ] && want=$T/ab.csv
	cp "$T/base.db" "$T/w.db"
	rm -rf "$T/p" && mkdir "$T/p"
	# planned by an ingest held before chunk 0 and killed; nobody runs it
	SLUICE_TEST_PAUSE=0:$T/p sl_start "$T/w.err" ingest "$T/b.csv" --schema "$CDR" --db "$T/w.db" \
		--mode $mode --chunk-size 32k --threads 1 --quiet
	pid=$BG_PID
	wait_for "$mode, worker: the planning ingest" 3000 test -e "$T/p/paused"
	sl_kill9 $pid "$T/w.err"
	SLUICE_TEST_KILL=mode_before sl_run worker --db "$T/w.db" --once --json
	check "$mode, worker killed before the finish" "$(rc)" 137
	is_table "$mode, worker killed before the finish: the old table" "$T/w.db" "$T/a.csv"
	sl_run worker --db "$T/w.db" --once --json
	check "$mode, a second worker: exit 0" "$(rc)" 0
	check "$mode, the worker finished the job" "$(q "$T/w.db" "SELECT status, mode FROM sluice_jobs ORDER BY seq DESC LIMIT 1")" "PartiallySucceeded|$mode"
	is_table "$mode, finished by a worker: the new rows once" "$T/w.db" "$want"
done

# --- atomic duplicates against the target: as an append load gives them -----------------------
# (the manifest's lines, as numbered after the header: tail -n +2)
# b2: b, then 25 good rows of a (their keys are in the table already)
awk -F'\t' '{print $2 - 1}' "$T/ma.tsv" >"$T/bad_a.txt"
{ cat "$T/b.csv" && tail -n +2 "$T/a.csv" | awk 'NR == FNR { bad[$1] = 1; next } !bad[FNR] && !/"/' "$T/bad_a.txt" - | head -25; } >"$T/b2.csv"
for mode in append atomic; do
	cp "$T/base.db" "$T/d_$mode.db"
	sl_run ingest "$T/b2.csv" --schema "$CDR" --db "$T/d_$mode.db" --mode $mode --chunk-size 32k --json --quiet
	check "dups, $mode: exit 3" "$(rc)" 3
	check "dups, $mode: DUP_KEY = b's own + the 25 of a" "$(json "$T/out" "d['rejects_by_code'].get('DUP_KEY', 0)")" $((DUP_B + 25))
	q "$T/d_$mode.db" "SELECT record, code, message FROM sluice_rejects WHERE job_id = '$(json "$T/out" "d['job_id']")' ORDER BY record" |
		sed 's/job j[0-9a-f]*/job J/' >"$T/rej_$mode.txt"
	{ cat "$T/a.csv" && tail -n +2 "$T/b2.csv"; } >"$T/ab2.csv"
	is_table "dups, $mode: a's rows and b's" "$T/d_$mode.db" "$T/ab2.csv"
done
cmp -s "$T/rej_append.txt" "$T/rej_atomic.txt" && ok || bad "dups: atomic's rejects differ from append's: $(diff "$T/rej_append.txt" "$T/rej_atomic.txt" | head -4)"

# --- atomic: a key another job loads while it is staged: the merge refuses ------------------
# c: b's first good unquoted row, loaded (append) while the atomic job of b
# is paused before chunk 3 (that row is staged in chunk 0 by then)
awk -F'\t' '{print $2 - 1}' "$T/mb.tsv" >"$T/bad_b.txt"
{ head -1 "$T/b.csv" && tail -n +2 "$T/b.csv" | awk 'NR == FNR { bad[$1] = 1; next } !bad[FNR] && !/"/' "$T/bad_b.txt" - | head -1; } >"$T/c.csv"
cp "$T/base.db" "$T/c.db"
rm -rf "$T/p" && mkdir "$T/p"
SLUICE_TEST_PAUSE=3:$T/p sl_start "$T/c.err" ingest "$T/b.csv" --schema "$CDR" --db "$T/c.db" \
	--mode atomic --chunk-size 32k --threads 1 --quiet --json >"$T/c.out"
pid=$BG_PID
wait_for "conflict: the pause" 3000 test -e "$T/p/paused"
sl_run ingest "$T/c.csv" --schema "$CDR" --db "$T/c.db" --json --quiet
check "conflict: the other job loads the staged key" "$(json "$T/out" "d['status'], d['rows_loaded']")" "Succeeded 1"
: >"$T/p/go"
sl_wait $pid "$T/c.err"
check "conflict: the atomic job: exit 4" "$?" 4
check "conflict: Failed, MODE_CONFLICT" "$(json "$T/c.out" "d['status'], d['error']['code']")" "Failed MODE_CONFLICT"
{ cat "$T/a.csv" && tail -n +2 "$T/c.csv"; } >"$T/ac.csv"
is_table "conflict: the table without any of the atomic job's rows" "$T/c.db" "$T/ac.csv"

# --- atomic with on_duplicate: update: the latest rows, all at once ------------------------
sed 's/^on_duplicate: reject.*/on_duplicate: update/' "$CDR" >"$T/upd.yaml"
# b3: b, then 25 good rows of a with another currency (updates of a's rows)
{ cat "$T/b.csv" && tail -n +2 "$T/a.csv" | awk 'NR == FNR { bad[$1] = 1; next } !bad[FNR] && !/"/' "$T/bad_a.txt" - | head -25 |
	sed -E 's/,(GBP|EUR)$/,USD/; t; s/,USD$/,GBP/'; } >"$T/b3.csv"
sl_run ingest "$T/a.csv" --schema "$T/upd.yaml" --db "$T/u.db" --json --quiet
check "update: a loaded" "$(rc)" 3
rm -rf "$T/p" && mkdir "$T/p"
SLUICE_TEST_PAUSE=2:$T/p sl_start "$T/u.err" ingest "$T/b3.csv" --schema "$T/upd.yaml" --db "$T/u.db" \
	--mode atomic --chunk-size 32k --threads 1 --quiet --json >"$T/u.out"
pid=$BG_PID
wait_for "update: the pause" 3000 test -e "$T/p/paused"
is_table "update, atomic, paused: a's rows as they were" "$T/u.db" "$T/a.csv" "$T/upd.yaml"
JOB=$(head -1 "$T/p/paused")
sl_kill9 $pid "$T/u.err"
SLUICE_TEST_KILL=mode_after sl_run resume "$JOB" --db "$T/u.db" --quiet
check "update, atomic: killed after the merge, before its commit" "$(rc)" 137
is_table "update, atomic, killed in the merge: a's rows as they were" "$T/u.db" "$T/a.csv" "$T/upd.yaml"
sl_run resume "$JOB" --db "$T/u.db" --json --quiet
check "update, atomic, resumed: exit" "$(rc)" 3
{ cat "$T/a.csv" && tail -n +2 "$T/b3.csv"; } >"$T/ab3.csv"
is_table "update, atomic: the latest rows of a and b" "$T/u.db" "$T/ab3.csv" "$T/upd.yaml"
check "update, atomic: the 25 updated rows are the job's" \
	"$(q "$T/u.db" "SELECT count(*) FROM call_detail_records WHERE _sluice_job = '$JOB'")" $((3000 - BAD_B + 25))

finish
