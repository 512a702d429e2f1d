# The shared harness of the shell tests (sourced, not run; see DEVELOPERS.md,
# "Tests"). It gives a script its temp dir T, the check counters and
# `finish`, the skip code, and above all `sl`: every run of the program under
# test goes through it, so that a sanitizer report fails the test whatever
# the test checks afterwards. A report is found by the sanitizers' exit
# statuses (set in CTest's environment by tests/tests.cmake: ASan and LSan
# 86, UBSan 87, TSan 66) or by their banners on the program's stderr.
#
# Reports are recorded in a file ($H/reports), not only in the counters,
# because `sl` often runs in a command substitution (a subshell whose
# counters are lost); `finish` and the exit trap read that file.
#
# The sourcing script sets S (the sluice binary) first. A script may define
# at_exit (run first on exit) to end helpers of its own.
T=$(mktemp -d)
H=$T/.harness
mkdir -p "$H"
: >"$H/reports"
pass=0
fail=0
# fd 8: the script's own stderr, for reports made inside $(...) or with
# stderr redirected
exec 8>&2
SKIP=77
SANITIZER_STATUSES=" 66 86 87 "
SANITIZER_BANNERS='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer|ThreadSanitizer: |SUMMARY: [A-Za-z]*Sanitizer'

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }
# skip REASON: the test cannot run here; CTest shows it as skipped
# (SKIP_RETURN_CODE 77 on the test). Under SLUICE_REQUIRE_ALL=1 or CI=true a skip
# whose dependency `make test` installs is a failure: pass `installable` as
# the second argument for those.
skip() {
	if [ "${2:-}" = installable ] && { [ -n "${SLUICE_REQUIRE_ALL:-}" ] || [ "${CI:-}" = true ]; }; then
		echo "FAIL: $1 (SLUICE_REQUIRE_ALL is set: make deps installs this)"
		exit 1
	fi
	echo "SKIP: $1"
	exit "$SKIP"
}

# sanitizer_scan STATUS ERRFILE WHAT: record a report when STATUS is a
# sanitizer's or ERRFILE holds a banner (JSON log lines are not scanned: a
# server logs what clients send). 0 when clean.
sanitizer_scan() {
	local st=$1 err=$2 what=$3 why=
	case "$SANITIZER_STATUSES" in *" $st "*) why="exit status $st" ;; esac
	if [ -s "$err" ] && grep -v '^{' "$err" | { if [ -n "${SL_EXPECT:-}" ]; then grep -vE "$SL_EXPECT"; else cat; fi; } | grep -qE "$SANITIZER_BANNERS"; then
		why="${why:+$why, }a sanitizer report on stderr"
	fi
	[ -z "$why" ] && return 0
	echo "FAIL: $what: $why" >>"$H/reports"
	{
		echo "FAIL: $what: $why"
		grep -v '^{' "$err" 2>/dev/null | grep -E -A30 "$SANITIZER_BANNERS" | head -60
	} >&8
	return 1
}

# sl ARGS...: run "$S" ARGS with the caller's stdin and stdout; its stderr
# goes to ${SL_ERR:-$T/err} (each run replaces it). Returns the program's
# exit status, for the test to check; a sanitizer report is recorded
# whatever the status.
#
# Two settings, for the run they prefix (VAR=... sl ...) or until unset:
# SL_WRAP, a command the program runs under, word-split (e.g.
# SL_WRAP="prlimit --as=1000000000 --"); SL_EXPECT, an extended regex of
# stderr lines a test provokes on purpose and that are no report (the
# sanitizers' "WARNING: ...Sanitizer failed to allocate" under
# allocator_may_return_null=1, which TSan's banner would match): only
# those lines are left out of the scan, and the exit statuses still count.
sl() {
	local err=${SL_ERR:-$T/err} tmp st
	tmp=$(mktemp "$H/err.XXXXXX")
	# shellcheck disable=SC2086 # SL_WRAP is word-split on purpose
	${SL_WRAP:-} "$S" "$@" 2>"$tmp"
	st=$?
	sanitizer_scan "$st" "$tmp" "sluice $*"
	mv -f "$tmp" "$err"
	return "$st"
}
# sl_run ARGS...: sl ARGS with stdin from /dev/null, stdout in $T/out and
# stderr in $T/err; the exit status in RC and $T/rc (also returned). With
# SL_NAME=NAME the files are $T/NAME.out, $T/NAME.err and $T/NAME.rc, so a
# run in the background (whose RC is lost) leaves its status for `rc NAME`.
# The run is in a subshell: bash's notice of a program killed by a signal
# (a SIGKILL a test provokes) stays off the test's output.
sl_run() {
	local o=$T/${SL_NAME:+$SL_NAME.}
	{ (SL_ERR=${o}err sl "$@" >"${o}out" </dev/null); } 2>/dev/null
	RC=$?
	echo "$RC" >"${o}rc"
	return "$RC"
}
# sl_as NAME ARGS...: SL_NAME=NAME sl_run ARGS
sl_as() {
	local SL_NAME=$1
	shift
	sl_run "$@"
}
# rc [NAME]: the exit status sl_run (or sl_as NAME) recorded
rc() { cat "$T/${1:+$1.}rc"; }
# sl_start ERRFILE ARGS...: "$S" ARGS in the background (stdout the caller's,
# stderr appended to ERRFILE); its pid in BG_PID. End it with sl_wait or
# sl_kill9, which scan ERRFILE.
sl_start() {
	local err=$1
	shift
	# shellcheck disable=SC2086
	${SL_WRAP:-} "$S" "$@" 2>>"$err" &
	BG_PID=$!
}
# sl_wait PID ERRFILE: wait for it; its exit status (a report is recorded)
sl_wait() {
	local st
	wait "$1"
	st=$?
	sanitizer_scan "$st" "$2" "sluice (pid $1)"
	return "$st"
}
# sl_kill9 PID ERRFILE: kill -9 on purpose, reap it, scan what it wrote
# before (a SIGKILL is no report; what it printed before may be)
sl_kill9() {
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	sanitizer_scan 0 "$2" "sluice (pid $1, killed)"
}

# wait_for WHAT TRIES CMD...: poll CMD (every 20 ms, up to TRIES times) until
# it succeeds: the explicit way to wait for a state. Fails the check and
# returns 1 when it never comes.
wait_for() {
	local what=$1 tries=$2 i
	shift 2
	for ((i = 0; i < tries; i++)); do
		"$@" && return 0
		sleep 0.02
	done
	bad "timed out waiting for $what"
	return 1
}

# lock_db DB [IMMEDIATE|EXCLUSIVE]: another process takes SQLite's write
# lock on DB (BEGIN EXCLUSIVE by default) and holds it until unlock_db;
# returns once the holder says it holds the lock.
lock_db() {
	rm -f "$H/locked" "$H/release"
	python3 - "$1" "$H/locked" "$H/release" "${2:-EXCLUSIVE}" <<'PY' &
import os, sqlite3, sys, time
db, locked, release, mode = sys.argv[1:]
c = sqlite3.connect(db, isolation_level=None, timeout=30)
c.execute("BEGIN " + mode)
open(locked, "w").close()
while not os.path.exists(release):  # poll for the test's word
    time.sleep(0.01)
c.execute("COMMIT")
PY
	LOCKER=$!
	wait_for "the lock holder" 1500 test -e "$H/locked"
}
unlock_db() {
	: >"$H/release"
	wait "$LOCKER"
	LOCKER=
}

# json FILE EXPR: EXPR of the JSON in FILE (as d), printed by Python;
# sql DB QUERY: the rows of QUERY on DB, '|' between columns (Python's
# sqlite3, not the program under test)
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
sql() { python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print('\n'.join('|'.join(str(x) for x in r) for r in c.execute(sys.argv[2])))" "$@"; }

# oracle: the expected rows of a cdr file, from a second reader
# (tests/lib/oracle.py: Python's csv and the documented conversions)
ORACLE=$(dirname "${BASH_SOURCE[0]}")/oracle.py
# table_is DB CSV [WHERE]: the table call_detail_records of DB (read with the
# sqlite3 shell) holds exactly the rows the oracle expects from CSV (loaded
# with examples/cdr.yaml), value by value; WHERE limits the rows compared
# (e.g. one job's)
table_is() {
	local db=$1 csv=$2 where=${3:-1}
	sqlite3 -batch -json "$db" "SELECT caller_id,recipient,call_date,end_time,duration,cost,reference,currency FROM call_detail_records WHERE $where ORDER BY reference" >"$H/got.json" &&
		python3 "$ORACLE" compare "$csv" "$H/got.json"
}

finish() {
	local reports
	reports=$(grep -c . "$H/reports")
	fail=$((fail + reports))
	echo "${1:-$(basename "$0" .sh)}: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
# on exit: the script's at_exit, then harness_hooks (tests/http/lib.sh
# stops its server there), then a held lock. A check failed in those hooks
# (a server that crashed on SIGTERM) or a recorded sanitizer report fails
# the run even when the script exits 0 or skips; the temp dir goes (KEEP=1
# keeps it).
at_exit() { :; }
harness_hooks() { :; }
harness_exit() {
	local st=$1 before=$fail
	at_exit
	harness_hooks
	[ -n "${LOCKER:-}" ] && { : >"$H/release"; wait "$LOCKER" 2>/dev/null; }
	if [ "$st" = 0 ] || [ "$st" = "$SKIP" ]; then
		if [ -s "$H/reports" ]; then
			echo "FAIL: sanitizer reports (see above): $(grep -c . "$H/reports")"
			st=1
		elif [ "$fail" -gt "$before" ]; then
			echo "FAIL: a check failed at exit (see above)"
			st=1
		fi
	fi
	if [ -n "${KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
	exit "$st"
}
trap 'harness_exit $?' EXIT

# --- the generator's manifest (docs/gen.md) as the oracle of rejects ---------
# cdr_rejects MANIFEST: "record<TAB>line<TAB>CODE" per bad row, the codes
# the CDR schema (examples/cdr.yaml) rejects each defect with
cdr_rejects() {
	awk -F'\t' -v OFS='\t' 'BEGIN{
	m["TOO_FEW_FIELDS"]="CSV_TOO_FEW_FIELDS"; m["TOO_MANY_FIELDS"]="CSV_TOO_MANY_FIELDS";
	m["STRAY_QUOTE"]="CSV_STRAY_QUOTE"; m["MISSING_CALLER"]="VAL_REQUIRED"; m["BAD_CALLER"]="VAL_PATTERN";
	m["BAD_DATE"]="VAL_TYPE"; m["BAD_TIME"]="VAL_TYPE"; m["BAD_COST"]="VAL_TYPE";
	m["NEGATIVE_DURATION"]="VAL_RANGE"; m["BAD_CURRENCY"]="VAL_ENUM"; m["DUP_REFERENCE"]="DUP_KEY"}
	{print $1, $2, m[$3]}' "$1"
}
# cdr_by_code MANIFEST: the rejects per code, as Python prints a dict sorted
# by code (compare with the API's rejects_by_code printed the same way)
cdr_by_code() { cdr_rejects "$1" | python3 -c "import collections, sys; print(dict(sorted(collections.Counter(l.split()[2] for l in sys.stdin).items())))"; }

# --- shared servers (CTest fixtures; docs/testing.md, "Shared servers") --------
# A server that several tests share (PostgreSQL, a Citus cluster, s3rver)
# is started once per CTest run by a fixture script registered with
# sluice_shared_server() in tests/tests.cmake (FIXTURES_SETUP/CLEANUP), and
# each test that needs it is marked with sluice_uses_server() (FIXTURES_
# REQUIRED). They meet in $SLUICE_FIXTURES/NAME.env, which the setup writes.
#
# In the fixture script: fixture_started NAME PID LOG [VAR=VALUE...] once the
# server answers (VARs are what tests need: PGHOST=..., PGPORT=...);
# fixture_skipped NAME REASON [installable] when it cannot run here;
# fixture_stop NAME in the cleanup: SIGTERM, wait for the exit, and scan its
# log for sanitizer reports.
fixture_file() { echo "${SLUICE_FIXTURES:?not run by CTest: SLUICE_FIXTURES is unset}/$1.env"; }
fixture_started() {
	local name=$1 pid=$2 log=$3 f
	shift 3
	f=$(fixture_file "$name")
	mkdir -p "$(dirname "$f")"
	{
		printf 'FIXTURE_PID=%q\nFIXTURE_LOG=%q\n' "$pid" "$log"
		for kv in "$@"; do printf '%s=%q\n' "${kv%%=*}" "${kv#*=}"; done
	} >"$f.tmp" && mv "$f.tmp" "$f"
}
fixture_skipped() {
	local f
	f=$(fixture_file "$1")
	mkdir -p "$(dirname "$f")"
	printf 'FIXTURE_SKIP=%q\nFIXTURE_SKIP_KIND=%q\n' "$2" "${3:-}" >"$f"
	skip "$2" "${3:-}"
}
fixture_stop() {
	local f pid log
	f=$(fixture_file "$1")
	[ -e "$f" ] || return 0
	pid=$(. "$f"; echo "${FIXTURE_PID:-}")
	log=$(. "$f"; echo "${FIXTURE_LOG:-}")
	rm -f "$f"
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	wait_for "fixture $1 (pid $pid) to exit" 3000 eval "! kill -0 $pid 2>/dev/null"
	[ -n "$log" ] && sanitizer_scan 0 "$log" "fixture $1"
}
# In a test: use_fixture NAME: its variables in this shell (skips as the
# fixture did when it could not start); fixture_namespace: a name of this
# test's own (its database, schema or bucket on the shared server)
use_fixture() {
	local f
	f=$(fixture_file "$1")
	[ -e "$f" ] || { bad "fixture $1 was not started (FIXTURES_REQUIRED missing on this test?)"; finish; exit 1; }
	. "$f"
	[ -z "${FIXTURE_SKIP:-}" ] || skip "$FIXTURE_SKIP" "${FIXTURE_SKIP_KIND:-}"
}
fixture_namespace() { echo "t_$(basename "$0" .sh | tr -c 'a-z0-9_\n' _)_$$"; }
