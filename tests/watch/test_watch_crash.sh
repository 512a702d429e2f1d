#!/usr/bin/env bash
# Drop folders after a crash (issue 13): kill -9 of the watcher mid-load,
# and at every step of a file's way (SLUICE_TEST_WATCH_KILL=POINT, a test
# knob that SIGKILLs the process right after that step, and the engine's
# SLUICE_TEST_KILL points), then a restart: every row exactly once (the
# oracle, tests/lib/oracle.py), one job per drop, the file in done/ with its
# JSON, nothing left in processing/, no marker left. The mid-load kill waits
# at a chunk boundary (SLUICE_TEST_PAUSE), never on a sleep.
# Usage: test_watch_crash.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
. "$SRC/tests/lib/harness.sh"
at_exit() {
	[ -d "$T/p" ] && touch "$T/p/go"
	for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
}

ROWS=4000
sl_run gen cdr --rows $ROWS --error-rate 0.02 --seed 21 --manifest "$T/man.tsv" -o "$T/a.csv"
check "gen: exit" "$(rc)" 0
BAD=$(wc -l <"$T/man.tsv")

# after_restart WHAT DIR DB [EXIT]: the restarted watcher (--once) finished
# f.csv once; it exits 3 (PartiallySucceeded) unless the file was in done/
# before the kill (EXIT 0: it had nothing to finish)
after_restart() {
	local what=$1 d=$2 db=$3
	sl_run watch "$d" --schema "$SCHEMA" --db "$db" --once --json --chunk-size 32k
	check "$what: the restart's exit status" "$(rc)" "${4:-3}"
	check "$what: done/ holds the file and its JSON" "$(ls "$d/done" | tr '\n' ' ')" "f.csv f.csv.json "
	check "$what: the outcome" "$(json "$d/done/f.csv.json" "d['status'], d['rows_read'], d['rows_loaded'], d['rows_rejected'], d['duplicate_of']")" "PartiallySucceeded $ROWS $((ROWS - BAD)) $BAD None"
	check "$what: the file's bytes" "$(cmp "$T/a.csv" "$d/done/f.csv" && echo same)" same
	check "$what: one job" "$(sql "$db" 'SELECT count(*) FROM sluice_jobs')" 1
	check "$what: nothing left in processing/, no marker" "$(ls -A "$d/processing" | tr '\n' ' ')|$(ls -A "$d" | tr '\n' ' ')" ".lock |done failed processing "
	table_is "$db" "$T/a.csv" && ok || bad "$what: the table is not the oracle's (rows lost or loaded twice)"
}

# --- kill -9 mid-load, at a chunk boundary; the restart resumes the job ----------------------
D=$T/mid
mkdir -p "$D" "$T/p"
SLUICE_TEST_PAUSE=3:$T/p sl_start "$T/mid.err" watch "$D" --schema "$SCHEMA" --db "$T/mid.db" --json --settle off --threads 1 --chunk-size 32k
WPID=$BG_PID
wait_for "the first listing" 1500 grep -q "listed the folder (start)" "$T/mid.err"
cp "$T/a.csv" "$T/f.tmp" && mv "$T/f.tmp" "$D/f.csv"
wait_for "the job held before chunk 3" 1500 test -e "$T/p/paused"
sl_kill9 "$WPID" "$T/mid.err"
check "killed mid-load: the file waits in processing/" "$(ls "$D/processing")" "f.csv"
check "killed mid-load: three chunks committed, the job unfinished" "$(sql "$T/mid.db" "SELECT status, (SELECT count(*) FROM sluice_chunks WHERE status = 'Succeeded') FROM sluice_jobs")" "Processing|3"
# the job left by the kill has no owner any more (leases replaced the
# per-job lock: a dead holder's chunks are claimable at once), so a
# watcher started again resumes it from processing/ and finishes it
J=$(cat "$T/p/paused")
sl_run watch "$D" --schema "$SCHEMA" --db "$T/mid.db" --once
check "the watcher started again: --once exits 3 (the job PartiallySucceeded)" "$(rc)" 3
test -e "$D/done/f.csv.json" && ok || bad "the watcher started again: no done/f.csv.json ($(cat "$T/out"))"
check "the retry: resumed, every row" "$(json "$D/done/f.csv.json" "d['resumed'], d['rows_read'], d['job_id']")" "True $ROWS $J"
table_is "$T/mid.db" "$T/a.csv" && ok || bad "the retry: the table is not the oracle's"
check "the retry: one job" "$(sql "$T/mid.db" 'SELECT count(*) FROM sluice_jobs')" 1

# --- the database locked by another process when a file is taken: it waits in
# processing/, and is retried once the lock is gone -------------------------------------------
D=$T/busy
mkdir -p "$D"
lock_db "$T/busy.db"
: >"$T/busy.err"
sl_start "$T/busy.err" watch "$D" --schema "$SCHEMA" --db "$T/busy.db" --json --settle off >"$T/busy.out"
WPID=$BG_PID
wait_for "the first listing" 1500 grep -q "listed the folder (start)" "$T/busy.err"
cp "$T/a.csv" "$T/f.tmp" && mv "$T/f.tmp" "$D/f.csv"
wait_for "the watcher deferring the taken file" 1500 grep -q "f.csv: cannot run now" "$T/busy.err"
check "database locked: the taken file waits in processing/" "$(ls "$D/processing")" f.csv
unlock_db
wait_for "the retry once the lock is gone" 1500 test -e "$D/done/f.csv.json"
kill -TERM "$WPID"
sl_wait "$WPID" "$T/busy.err"
check "the watcher that retried: exit 0 on SIGTERM" "$?" 0
check "database locked, then free: every row, one job" "$(json "$D/done/f.csv.json" "d['rows_read'], d['status']")+$(sql "$T/busy.db" 'SELECT count(*) FROM sluice_jobs')" "$ROWS PartiallySucceeded+1"
table_is "$T/busy.db" "$T/a.csv" && ok || bad "database locked, then free: the table is not the oracle's"

# --- kill -9 right after each step of the file's way --------------------------------------------
for point in taken intent accepted last_chunk finished target json moved; do
	D=$T/k-$point
	mkdir -p "$D"
	cp "$T/a.csv" "$D/f.csv"
	touch "$D/f.csv.done"
	case $point in
	last_chunk | finished) knob=SLUICE_TEST_KILL ;; # the engine's points
	*) knob=SLUICE_TEST_WATCH_KILL ;;
	esac
	(
		export "$knob=$point"
		sl_as "k-$point" watch "$D" --schema "$SCHEMA" --db "$T/k-$point.db" --once --chunk-size 32k
	)
	check "killed after '$point': the watcher died by SIGKILL" "$(rc "k-$point")" 137
	after_restart "killed after '$point'" "$D" "$T/k-$point.db" "$([ "$point" = moved ] && echo 0 || echo 3)"
done

finish
