# Load modes (issue 11, docs/ingest.md "Load modes"), written once and run
# per backend: sourced by tests/engine/test_modes.sh (SQLite) and
# tests/pg/test_pg_modes.sh (PostgreSQL) after harness.sh and their
# backend's tests/lib/backend_*.sh (db, db_new, db_copy, q, db_json,
# staged, aside, META), which then add what only their backend has.
# replace swaps a shadow table in at the end, atomic merges staged rows at
# the end. Readers in another process (the backend's own shell) see the old
# table while the job is paused (SLUICE_TEST_PAUSE) or killed mid-load,
# then exactly the new rows; a job over its error budget leaves the table
# as it was and its shadow or stage for a retry, which rollback drops;
# kill -9 just before and just after the swap/merge (SLUICE_TEST_KILL=
# mode_before, mode_after, both inside the finishing transaction) and after
# its commit (finished), then a resume: every row once. Atomic duplicates
# against the target are the rejects an append load gives (on the same
# data), and on_duplicate: update merges the latest rows. Also: a key
# another job loads while it is staged (MODE_CONFLICT), `sluice worker`
# finishing a job of each mode (killed before the finish, then another), a
# replace after a replace. Each case works in a database of its own, copied
# from `base`, which holds file a. Expected tables come from
# tests/lib/oracle.py, counts from the generator's manifest.
CDR=$SRC/examples/cdr.yaml
# is_table WHAT NAME CSV [SCHEMA]: call_detail_records of NAME holds exactly
# the oracle's rows of CSV (read with SCHEMA, default examples/cdr.yaml)
is_table() {
	if db_json "$2" >"$T/got.json" &&
		python3 "$ORACLE" compare "$3" "$T/got.json" --schema "${4:-$CDR}" >"$T/cmp.txt" 2>&1; then
		ok
	else
		bad "$1: $(head -3 "$T/cmp.txt")"
	fi
}
last_job() { q "$1" "SELECT id FROM ${META}jobs ORDER BY seq DESC LIMIT 1"; }

sl_run gen cdr --rows 3000 --error-rate 0.03 --seed 7 --manifest "$T/ma.tsv" -o "$T/a.csv"
check "gen a" "$(rc)" 0
sl_run gen cdr --rows 3000 --error-rate 0.03 --seed 8 --manifest "$T/mb.tsv" -o "$T/b.csv"
check "gen b" "$(rc)" 0
BAD_B=$(wc -l <"$T/mb.tsv")
DUP_B=$(awk -F'\t' '$3 == "DUP_REFERENCE"' "$T/mb.tsv" | wc -l)
# the old table: file a, appended
db_new base
sl_run ingest "$T/a.csv" --schema "$CDR" --db "$(db base)" --json --quiet
check "a: exit 3" "$(rc)" 3
is_table "a: the oracle's rows" base "$T/a.csv"
{ cat "$T/a.csv" && tail -n +2 "$T/b.csv"; } >"$T/ab.csv"

# --- readers see the old table while it runs, then exactly the new rows ---------------------
for mode in replace atomic; do
	db_copy $mode base
	rm -rf "$T/p" && mkdir "$T/p"
	# the new file: b (replace); atomic: b, whose rows join a's
	want=$T/b.csv
	[ $mode = atomic ] && want=$T/ab.csv
	SLUICE_TEST_PAUSE=3:$T/p sl_start "$T/$mode.err" ingest "$T/b.csv" --schema "$CDR" --db "$(db $mode)" \
		--mode $mode --chunk-size 32k --threads 1 --quiet --json >"$T/$mode.out"
	pid=$BG_PID
	wait_for "$mode: the pause before chunk 3" 3000 test -e "$T/p/paused"
	is_table "$mode: paused after 3 chunks: the old table" $mode "$T/a.csv"
	check "$mode: its own table beside the target" "$(staged $mode)" 1
	check "$mode: the chunks so far are there, aside" "$([ "$(aside $mode)" -gt 0 ] && echo yes)" yes
	: >"$T/p/go"
	sl_wait $pid "$T/$mode.err"
	check "$mode: exit 3" "$?" 3
	check "$mode: the job's mode" "$(json "$T/$mode.out" "d['mode'], d['status']")" "$mode PartiallySucceeded"
	check "$mode: rejects of b as in the manifest" "$(json "$T/$mode.out" "d['rows_rejected']")" "$BAD_B"
	is_table "$mode: then exactly the new rows" $mode "$want"
	check "$mode: no shadow or stage left" "$(staged $mode)" 0
done
check "replace: every row is the job's" "$(q replace "SELECT count(DISTINCT _sluice_job) FROM call_detail_records")" 1
# a replace job after a replace (the shadow made from a table that was a
# shadow itself), of another file (a again would be a file loaded already)
db_copy replace2 replace
sl_run gen cdr --rows 500 --error-rate 0.03 --seed 9 -o "$T/e.csv"
check "gen e" "$(rc)" 0
sl_run ingest "$T/e.csv" --schema "$CDR" --db "$(db replace2)" --mode replace --json --quiet
check "replace again: exit 3" "$(rc)" 3
is_table "replace again: exactly e" replace2 "$T/e.csv"

# --- mode: in the schema, the CLI over it ----------------------------------------------------
sed 's/^on_duplicate: reject.*/&\nmode: replace/' "$CDR" >"$T/replace.yaml"
db_copy sch base
sl_run ingest "$T/b.csv" --schema "$T/replace.yaml" --db "$(db sch)" --json --quiet
check "schema mode: replace" "$(json "$T/out" "d['mode']")" replace
is_table "schema mode: b only" sch "$T/b.csv"
sl_run ingest "$T/a.csv" --schema "$T/replace.yaml" --db "$(db sch)" --json --quiet --mode append
check "--mode append over the schema's replace" "$(json "$T/out" "d['mode']")" append
{ cat "$T/b.csv" && tail -n +2 "$T/a.csv"; } >"$T/ba.csv"
is_table "--mode append: a's rows join b's" sch "$T/ba.csv"
db_new x
sl_run ingest "$T/b.csv" --schema "$CDR" --db "$(db x)" --mode merge
check "--mode merge: usage error" "$(rc)" 2
sed 's/^on_duplicate: reject.*/&\nmode: merge/' "$CDR" >"$T/bad.yaml"
sl_run ingest "$T/b.csv" --schema "$T/bad.yaml" --db "$(db x)"
check "mode: merge in the schema: exit 2" "$(rc)" 2
grep -q "mode must be append, replace or atomic" "$T/err" && ok || bad "mode: merge: message ($(head -2 "$T/err"))"

# --- the error budget: a Failed job leaves the table as it was --------------------------------
for mode in replace atomic; do
	d=bud_$mode
	db_copy $d base
	sl_run ingest "$T/b.csv" --schema "$CDR" --db "$(db $d)" --mode $mode --max-errors 5 --chunk-size 32k --json --quiet
	check "$mode over budget: exit 4" "$(rc)" 4
	check "$mode over budget: Failed, LIMIT" "$(json "$T/out" "d['status'], d['error']['code']")" "Failed LIMIT"
	is_table "$mode over budget: the old table" $d "$T/a.csv"
	JOB=$(json "$T/out" "d['job_id']")
	check "$mode over budget: its rows kept aside for a retry" "$(staged $d)" 1
	sl_run rollback "$JOB" --db "$(db $d)" --json
	check "$mode over budget: rollback: exit 0" "$(rc)" 0
	check "$mode over budget: rollback drops them" "$(staged $d)" 0
	is_table "$mode over budget, rolled back: the old table" $d "$T/a.csv"
done

# --- kill -9 during the load and around the swap/merge, then resume: exactly once ------------
n=0
for mode in replace atomic; do
	want=$T/b.csv
	[ $mode = atomic ] && want=$T/ab.csv
	# during the load: killed while paused before chunk 3 (chunks 0..2 committed aside)
	d=k$((n += 1))
	db_copy $d base
	rm -rf "$T/p" && mkdir "$T/p"
	SLUICE_TEST_PAUSE=3:$T/p sl_start "$T/k.err" ingest "$T/b.csv" --schema "$CDR" --db "$(db $d)" \
		--mode $mode --chunk-size 32k --threads 1 --quiet --json >"$T/k.out"
	pid=$BG_PID
	wait_for "$mode: the pause" 3000 test -e "$T/p/paused"
	JOB=$(head -1 "$T/p/paused")
	sl_kill9 $pid "$T/k.err"
	is_table "$mode: killed mid-load: the old table" $d "$T/a.csv"
	sl_run resume "$JOB" --db "$(db $d)" --json --quiet
	check "$mode: killed mid-load, resumed: exit 3" "$(rc)" 3
	check "$mode: resumed with the job's mode" "$(json "$T/out" "d['mode'], d['rows_loaded']")" "$mode $((3000 - BAD_B))"
	is_table "$mode: killed mid-load, resumed: the new rows once" $d "$want"
	for point in mode_before mode_after finished; do
		d=k$((n += 1))
		db_copy $d base
		SLUICE_TEST_KILL=$point sl_run ingest "$T/b.csv" --schema "$CDR" --db "$(db $d)" --mode $mode \
			--chunk-size 32k --quiet --json
		check "$mode, kill at $point: killed" "$(rc)" 137
		JOB=$(last_job $d)
		if [ $point = finished ]; then
			is_table "$mode, kill at $point: committed: the new rows" $d "$want"
		else
			is_table "$mode, kill at $point: rolled back: the old table" $d "$T/a.csv"
			check "$mode, kill at $point: its table still aside" "$(staged $d)" 1
			sl_run resume "$JOB" --db "$(db $d)" --json --quiet
			check "$mode, kill at $point, resumed: exit 3" "$(rc)" 3
			check "$mode, kill at $point, resumed: counts" \
				"$(json "$T/out" "d['rows_loaded'], d['rows_rejected']")" "$((3000 - BAD_B)) $BAD_B"
		fi
		is_table "$mode, kill at $point: the new rows once" $d "$want"
		check "$mode, kill at $point: no shadow or stage left" "$(staged $d)" 0
	done
done

# --- a worker finishes the job (fan-in in another process): the job's mode -----------------
for mode in replace atomic; do
	want=$T/b.csv
	[ $mode = atomic ] && want=$T/ab.csv
	d=w_$mode
	db_copy $d base
	rm -rf "$T/p" && mkdir "$T/p"
	# planned by an ingest held before chunk 0 and killed; nobody runs it
	SLUICE_TEST_PAUSE=0:$T/p sl_start "$T/w.err" ingest "$T/b.csv" --schema "$CDR" --db "$(db $d)" \
		--mode $mode --chunk-size 32k --threads 1 --quiet
	pid=$BG_PID
	wait_for "$mode, worker: the planning ingest" 3000 test -e "$T/p/paused"
	sl_kill9 $pid "$T/w.err"
	SLUICE_TEST_KILL=mode_before sl_run worker --db "$(db $d)" --once --json
	check "$mode, worker killed before the finish" "$(rc)" 137
	is_table "$mode, worker killed before the finish: the old table" $d "$T/a.csv"
	sl_run worker --db "$(db $d)" --once --json
	check "$mode, a second worker: exit 0" "$(rc)" 0
	check "$mode, the worker finished the job" "$(q $d "SELECT status || '|' || mode FROM ${META}jobs ORDER BY seq DESC LIMIT 1")" "PartiallySucceeded|$mode"
	is_table "$mode, finished by a worker: the new rows once" $d "$want"
done

# --- atomic duplicates against the target: as an append load gives them -----------------------
# (the manifest's lines, as numbered after the header: tail -n +2)
# b2: b, then 25 good rows of a (their keys are in the table already)
awk -F'\t' '{print $2 - 1}' "$T/ma.tsv" >"$T/bad_a.txt"
{ cat "$T/b.csv" && tail -n +2 "$T/a.csv" | awk 'NR == FNR { bad[$1] = 1; next } !bad[FNR] && !/"/' "$T/bad_a.txt" - | head -25; } >"$T/b2.csv"
{ cat "$T/a.csv" && tail -n +2 "$T/b2.csv"; } >"$T/ab2.csv"
for mode in append atomic; do
	d=d_$mode
	db_copy $d base
	sl_run ingest "$T/b2.csv" --schema "$CDR" --db "$(db $d)" --mode $mode --chunk-size 32k --json --quiet
	check "dups, $mode: exit 3" "$(rc)" 3
	check "dups, $mode: DUP_KEY = b's own + the 25 of a" "$(json "$T/out" "d['rejects_by_code'].get('DUP_KEY', 0)")" $((DUP_B + 25))
	q $d "SELECT record, code, message FROM ${META}rejects WHERE job_id = '$(json "$T/out" "d['job_id']")' ORDER BY record" |
		sed 's/job j[0-9a-f]*/job J/' >"$T/rej_$mode.txt"
	is_table "dups, $mode: a's rows and b's" $d "$T/ab2.csv"
done
[ -s "$T/rej_atomic.txt" ] && cmp -s "$T/rej_append.txt" "$T/rej_atomic.txt" && ok ||
	bad "dups: atomic's rejects differ from append's: $(diff "$T/rej_append.txt" "$T/rej_atomic.txt" | head -4)"

# --- atomic: a key another job loads while it is staged: the merge refuses ------------------
# c: b's first good unquoted row, loaded (append) while the atomic job of b
# is paused before chunk 3 (that row is staged in chunk 0 by then)
awk -F'\t' '{print $2 - 1}' "$T/mb.tsv" >"$T/bad_b.txt"
{ head -1 "$T/b.csv" && tail -n +2 "$T/b.csv" | awk 'NR == FNR { bad[$1] = 1; next } !bad[FNR] && !/"/' "$T/bad_b.txt" - | head -1; } >"$T/c.csv"
db_copy conflict base
rm -rf "$T/p" && mkdir "$T/p"
SLUICE_TEST_PAUSE=3:$T/p sl_start "$T/c.err" ingest "$T/b.csv" --schema "$CDR" --db "$(db conflict)" \
	--mode atomic --chunk-size 32k --threads 1 --quiet --json >"$T/c.out"
pid=$BG_PID
wait_for "conflict: the pause" 3000 test -e "$T/p/paused"
sl_run ingest "$T/c.csv" --schema "$CDR" --db "$(db conflict)" --json --quiet
check "conflict: the other job loads the staged key" "$(json "$T/out" "d['status'], d['rows_loaded']")" "Succeeded 1"
: >"$T/p/go"
sl_wait $pid "$T/c.err"
check "conflict: the atomic job: exit 4" "$?" 4
check "conflict: Failed, MODE_CONFLICT" "$(json "$T/c.out" "d['status'], d['error']['code']")" "Failed MODE_CONFLICT"
{ cat "$T/a.csv" && tail -n +2 "$T/c.csv"; } >"$T/ac.csv"
is_table "conflict: the table without any of the atomic job's rows" conflict "$T/ac.csv"

# --- atomic with on_duplicate: update: the latest rows, all at once ------------------------
sed 's/^on_duplicate: reject.*/on_duplicate: update/' "$CDR" >"$T/upd.yaml"
# b3: b, then 25 good rows of a with another currency (updates of a's rows)
{ cat "$T/b.csv" && tail -n +2 "$T/a.csv" | awk 'NR == FNR { bad[$1] = 1; next } !bad[FNR] && !/"/' "$T/bad_a.txt" - | head -25 |
	sed -E 's/,(GBP|EUR)$/,USD/; t; s/,USD$/,GBP/'; } >"$T/b3.csv"
db_new upd
sl_run ingest "$T/a.csv" --schema "$T/upd.yaml" --db "$(db upd)" --json --quiet
check "update: a loaded" "$(rc)" 3
rm -rf "$T/p" && mkdir "$T/p"
SLUICE_TEST_PAUSE=2:$T/p sl_start "$T/u.err" ingest "$T/b3.csv" --schema "$T/upd.yaml" --db "$(db upd)" \
	--mode atomic --chunk-size 32k --threads 1 --quiet --json >"$T/u.out"
pid=$BG_PID
wait_for "update: the pause" 3000 test -e "$T/p/paused"
is_table "update, atomic, paused: a's rows as they were" upd "$T/a.csv" "$T/upd.yaml"
JOB=$(head -1 "$T/p/paused")
sl_kill9 $pid "$T/u.err"
SLUICE_TEST_KILL=mode_after sl_run resume "$JOB" --db "$(db upd)" --quiet
check "update, atomic: killed after the merge, before its commit" "$(rc)" 137
is_table "update, atomic, killed in the merge: a's rows as they were" upd "$T/a.csv" "$T/upd.yaml"
sl_run resume "$JOB" --db "$(db upd)" --json --quiet
check "update, atomic, resumed: exit" "$(rc)" 3
{ cat "$T/a.csv" && tail -n +2 "$T/b3.csv"; } >"$T/ab3.csv"
is_table "update, atomic: the latest rows of a and b" upd "$T/ab3.csv" "$T/upd.yaml"
check "update, atomic: the 25 updated rows are the job's" \
	"$(q upd "SELECT count(*) FROM call_detail_records WHERE _sluice_job = '$JOB'")" $((3000 - BAD_B + 25))
