#!/usr/bin/env bash
# Drop folders (`sluice watch`, issue 13): a file moved in, a .done marker,
# slow writers (an SFTP-like process appending for seconds) with the settle
# heuristic, with a marker and with a rename, a duplicate drop, a failed file, a second watcher, --once, and a
# lost event queue (the test knob SLUICE_TEST_WATCH_OVERFLOW discards every
# batch of events as an IN_Q_OVERFLOW would, so only the rescans can find the
# files). Expected rows come from tests/lib/oracle.py (table_is), counts from
# the generator's manifest; every wait polls a state (wait_for).
# Usage: test_watch.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
. "$SRC/tests/lib/harness.sh"
WRITER=
at_exit() {
	[ -n "$WRITER" ] && kill "$WRITER" 2>/dev/null
	for p in $(jobs -p); do kill -TERM "$p" 2>/dev/null; done
	wait 2>/dev/null
}

ROWS=3000
sl_run gen cdr --rows $ROWS --error-rate 0.02 --seed 11 --manifest "$T/man.tsv" -o "$T/a.csv"
check "gen: exit" "$(rc)" 0
BAD=$(wc -l <"$T/man.tsv")
sl_run gen cdr --rows 500 --error-rate 0 --seed 12 -o "$T/b.csv"
head -1 "$T/a.csv" >"$T/header.csv" # a header-only file: loads 0 rows

# start_watch NAME DIR ARGS...: a watcher in the background (its JSON lines in
# $T/NAME.out, its messages in $T/NAME.err, its pid in WPID), back once it
# has listed the folder
start_watch() {
	local n=$1 d=$2
	shift 2
	mkdir -p "$d"
	: >"$T/$n.err"
	sl_start "$T/$n.err" watch "$d" --schema "$SCHEMA" --db "$T/$n.db" --json "$@" >"$T/$n.out"
	WPID=$BG_PID
	wait_for "watcher $n: the first listing" 1500 grep -q "listed the folder (start)" "$T/$n.err"
}
# stop_watch NAME: SIGTERM, exit 0 expected
stop_watch() {
	kill -TERM "$WPID"
	sl_wait "$WPID" "$T/$1.err"
	check "watcher $1: exit 0 on SIGTERM" "$?" 0
}
outcome() { json "$1" "$2"; }
# jsons_are DIR PATTERN N: DIR holds N files NAME.json whose name matches PATTERN
jsons_are() { test "$(ls "$1" | grep -c -- "$2")" = "$3"; }

# --- moved in, a marker, duplicates, a failure (one watcher) ----------------------------
D=$T/drop
start_watch w1 "$D" --settle 60 --chunk-size 64k
cp "$T/a.csv" "$T/a.tmp" && mv "$T/a.tmp" "$D/a.csv"
wait_for "a.csv moved in: done/a.csv.json" 1500 test -e "$D/done/a.csv.json"
check "moved in: taken as moved" "$(outcome "$D/done/a.csv.json" "d['drop']['taken'], d['drop']['path']")" "moved done/a.csv"
check "moved in: the job's counts" "$(outcome "$D/done/a.csv.json" "d['status'], d['rows_read'], d['rows_rejected'], d['duplicate_of']")" "PartiallySucceeded $ROWS $BAD None"
check "moved in: the file is in done/" "$(cmp "$T/a.csv" "$D/done/a.csv" && echo same)" same
table_is "$T/w1.db" "$T/a.csv" && ok || bad "moved in: the table is not the oracle's"
FIRST=$(outcome "$D/done/a.csv.json" "d['job_id']")
check "the JSON line on stdout is the file's JSON" "$(head -1 "$T/w1.out" | python3 -c "import json,sys; print(json.load(sys.stdin)['job_id'])")" "$FIRST"

# written in place, no marker, settle 60 s: not taken while a moved-in probe is
cp "$T/a.csv" "$D/in-place.csv"
cp "$T/header.csv" "$T/p.tmp" && mv "$T/p.tmp" "$D/probe.csv"
wait_for "the probe" 1500 test -e "$D/done/probe.csv.json"
check "written in place without marker: still waiting in the folder" "$(test -e "$D/in-place.csv" && echo waiting)" waiting
touch "$D/in-place.csv.done"
wait_for "in-place.csv with its marker" 1500 test -e "$D/done/in-place.csv.json"
check "marker: taken by it" "$(outcome "$D/done/in-place.csv.json" "d['drop']['taken']")" marker
check "marker: removed" "$(test -e "$D/in-place.csv.done" && echo left || echo removed)" removed
# the same bytes again (a copy under another name): one load
check "marker, same content: a duplicate of the first job" "$(outcome "$D/done/in-place.csv.json" "d['duplicate_of'], d['already_loaded'], d['rows_loaded'], d['status']")" "$FIRST True 0 PartiallySucceeded"
# the same name again, same content: done/ holds a.csv already, so JOB-a.csv
cp "$T/a.csv" "$T/a.tmp" && mv "$T/a.tmp" "$D/a.csv"
wait_for "a.csv dropped again" 1500 jsons_are "$D/done" '-a\.csv\.json$' 1
J2=$(ls "$D/done/" | grep -- '-a\.csv\.json$')
check "the same name again: done/JOB-a.csv" "$(outcome "$D/done/$J2" "d['job_id'] + '-a.csv.json', d['duplicate_of'], d['drop']['path']")" "$J2 $FIRST done/${J2%.json}"
check "duplicates: the table as after the first load" "$(sql "$T/w1.db" 'SELECT count(*) FROM call_detail_records')" $((ROWS - BAD))
check "duplicates: every drop is a job, the copies point at the first" "$(sql "$T/w1.db" "SELECT count(*), sum(same_as = '$FIRST') FROM sluice_jobs")" "4|2"
check "the ok marker counts too" "$(touch "$D/ok.csv.ok"; cp "$T/b.csv" "$D/ok.csv"; touch "$D/ok.csv.ok"; wait_for ok.csv 1500 test -e "$D/done/ok.csv.json" && outcome "$D/done/ok.csv.json" "d['drop']['taken'], d['status'], d['rows_loaded']")" "marker Succeeded 500"
# a file whose header is not the schema's: failed/ with the job's error
printf 'x,y\n1,2\n' >"$T/bad.tmp" && mv "$T/bad.tmp" "$D/bad.csv"
wait_for "bad.csv" 1500 test -e "$D/failed/bad.csv.json"
check "bad header: failed/, the job Failed with FATAL_HEADER" "$(outcome "$D/failed/bad.csv.json" "d['status'], d['error']['code'], d['drop']['path']")" "Failed FATAL_HEADER failed/bad.csv"
check "bad header: the file is in failed/" "$(test -e "$D/failed/bad.csv" && echo yes)" yes
# hidden and partial names are never taken
cp "$T/b.csv" "$T/h.tmp" && mv "$T/h.tmp" "$D/.hidden.csv"
cp "$T/b.csv" "$T/h.tmp" && mv "$T/h.tmp" "$D/upload.csv.filepart"
cp "$T/header.csv" "$T/p.tmp" && mv "$T/p.tmp" "$D/probe2.csv"
wait_for "probe2" 1500 test -e "$D/done/probe2.csv.json"
check "hidden and .filepart files left alone" "$(ls -A "$D" | grep -c -e '^.hidden.csv$' -e '^upload.csv.filepart$')" 2
# a second watcher on the same folder is refused
sl_run watch "$D" --schema "$SCHEMA" --db "$T/w1.db" --once
check "a second watcher: exit 4" "$(rc)" 4
grep -q "another watcher runs on" "$T/err" && ok || bad "a second watcher: says why ($(cat "$T/err"))"
stop_watch w1
check "nothing left in processing/" "$(ls -A "$D/processing")" ".lock"

# --- slow writers: SFTP-like, reopening and appending for ~4 s ----------------------------------
# slow_writer SRC DIR WRITE_AS FINAL EARLY: append SRC to DIR/WRITE_AS in 40
# pieces, 0.1 s apart, reopening each time as an SFTP server does; after
# each piece note in EARLY when the watcher took it already (the file gone,
# or anything in done/); then FINAL: "none", "marker NAME" (touch
# DIR/NAME.done) or "rename NAME" (rename to DIR/NAME)
cat >"$T/writer.py" <<'PY'
import os, sys, time
src, d, name, final, early = sys.argv[1:]
data = open(src, "rb").read()
step = len(data) // 40 + 1
path = os.path.join(d, name)
for i in range(0, len(data), step):
    with open(path, "ab") as f:
        f.write(data[i:i + step])
    if not os.path.exists(path) or os.listdir(os.path.join(d, "done")):
        open(early, "a").write("%s taken at byte %d of %d\n" % (name, i, len(data)))
    time.sleep(0.1)  # the writer's own pace, not a synchronisation
how, _, target = final.partition(" ")
if how == "marker":
    open(os.path.join(d, target + ".done"), "w").close()
elif how == "rename":
    os.rename(path, os.path.join(d, target))
PY
slow_writer() {
	python3 "$T/writer.py" "$@" &
	WRITER=$!
	wait "$WRITER"
	check "slow writer $3 ($4): exit" "$?" 0
	WRITER=
}

# the settle heuristic: not taken while it writes, taken whole after
D=$T/slow
start_watch w2 "$D" --settle 2
slow_writer "$T/a.csv" "$D" slow.csv none "$T/early"
check "settle: not taken while it wrote" "$(cat "$T/early" 2>/dev/null)" ""
wait_for "slow.csv settled" 1500 test -e "$D/done/slow.csv.json"
check "settle: taken by settling, whole" "$(outcome "$D/done/slow.csv.json" "d['drop']['taken'], d['rows_read'], d['rows_rejected']")" "settled $ROWS $BAD"
table_is "$T/w2.db" "$T/a.csv" && ok || bad "slow writer: the table is not the oracle's"
stop_watch w2

# markers and renames only (--settle off): a slow writer in place is taken at
# its marker, one writing a hidden name at its rename
D=$T/slow2
start_watch w4 "$D" --settle off
slow_writer "$T/a.csv" "$D" m.csv "marker m.csv" "$T/early2"
check "marker: not taken while it wrote" "$(cat "$T/early2" 2>/dev/null)" ""
wait_for "m.csv at its marker" 1500 test -e "$D/done/m.csv.json"
check "marker: taken by it, whole" "$(outcome "$D/done/m.csv.json" "d['drop']['taken'], d['rows_read']")" "marker $ROWS"
table_is "$T/w4.db" "$T/a.csv" && ok || bad "slow writer, marker: the table is not the oracle's"
rm -f "$D"/done/*
slow_writer "$T/b.csv" "$D" .r.csv "rename r.csv" "$T/early3"
check "rename: not taken while it wrote" "$(cat "$T/early3" 2>/dev/null)" ""
wait_for "r.csv at its rename" 1500 test -e "$D/done/r.csv.json"
check "rename: taken as moved, whole" "$(outcome "$D/done/r.csv.json" "d['drop']['taken'], d['rows_read'], d['status']")" "moved 500 Succeeded"
stop_watch w4

# --- a lost event queue: only the rescans find the files ----------------------------------
D=$T/ovf
SLUICE_TEST_WATCH_OVERFLOW=1 start_watch w3 "$D" --settle off
for i in $(seq 1 12); do
	cp "$T/b.csv" "$D/f$i.csv"
	touch "$D/f$i.csv.done"
done
wait_for "12 files through the rescans" 1500 jsons_are "$D/done" '\.json$' 12
grep -q "listed the folder (overflow)" "$T/w3.err" && ok || bad "overflow: no rescan said"
check "overflow: one load, eleven duplicates" "$(cat "$D"/done/*.json | python3 -c "import json,sys; v=[json.loads(l) for l in sys.stdin]; print(sum(1 for x in v if not x['duplicate_of']), sum(1 for x in v if x['duplicate_of']), sum(x['rows_loaded'] for x in v))")" "1 11 500"
check "overflow: no marker left" "$(ls "$D" | grep -c '\.done$')" 0
stop_watch w3

# --- the folder itself removed: the watch ends, exit 4, saying why -------------------------------
D=$T/gone
start_watch w5 "$D" --settle off
rm -rf "$D"
# ended PID: gone or a zombie (a bounded wait, so a watcher that never ends fails, not hangs)
ended() { case "$(ps -o stat= -p "$1" 2>/dev/null)" in "" | Z*) return 0 ;; esac; return 1; }
wait_for "the watcher to end" 1500 ended "$WPID" || kill -9 "$WPID"
sl_wait "$WPID" "$T/w5.err"
check "the folder removed: exit 4" "$?" 4
grep -q "was removed or moved" "$T/w5.err" && ok || bad "the folder removed: says why ($(tail -1 "$T/w5.err"))"

# --- --once: what is complete now, then exit ------------------------------------------------
D=$T/once
mkdir -p "$D"
cp "$T/a.csv" "$D/m.csv" && touch "$D/m.csv.done"
cp "$T/b.csv" "$D/s.csv"
sl_run watch "$D" --schema "$SCHEMA" --db "$T/once.db" --once --settle 0.3 --json
check "--once: exit 3 (a PartiallySucceeded file)" "$(rc)" 3
check "--once: both taken (marker, settled)" "$(outcome "$D/done/m.csv.json" "d['drop']['taken']") $(outcome "$D/done/s.csv.json" "d['drop']['taken']")" "marker settled"
check "--once: two JSON lines on stdout" "$(grep -c '^{' "$T/out")" 2
sl_run watch "$D" --schema "$SCHEMA" --db "$T/once.db" --once
check "--once on an empty folder: exit 0" "$(rc)" 0
sl_run watch "$T/none" --schema "$SCHEMA" --db "$T/once.db" --once
check "no such folder: exit 4" "$(rc)" 4
sl_run watch "$D" --db "$T/once.db"
check "no --schema: usage, exit 2" "$(rc)" 2
sl_run watch "$D" --schema "$SCHEMA" --settle soon
check "--settle soon: usage, exit 2" "$(rc)" 2

finish
