# Sourced by tests/cli/test_options.sh and tests/cli/test_codes.sh (not run):
# a temp dir, counters and checks, and `run`, through which every invocation
# of the program goes: it captures stdout ($T/out), stderr ($T/err) and the
# status (RC), and fails the test on a sanitizer report on stderr, whatever
# the test then checks. (The integrator switches this to the shared harness,
# tests/lib/harness.sh.) The sourcing script sets S (the program) first.
T=$(mktemp -d)
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }
SAN='AddressSanitizer|LeakSanitizer|runtime error:|WARNING: ThreadSanitizer'
scan() { # scan FILE WHAT: a sanitizer report in FILE fails the test
	if grep -qE "$SAN" "$1"; then
		bad "$2: sanitizer report"
		grep -E -A15 "$SAN" "$1" | head -40
	fi
}
RUN_WRAP= # a command to run the program under (e.g. prlimit ... --), word-split
# RUN_EXPECT: an extended regex of stderr lines a test provokes on purpose
# and that are no report (ASan's "failed to allocate" warning when told to
# return NULL): removed from what is scanned, nothing else is.
RUN_EXPECT=
run() {
	$RUN_WRAP "$S" "$@" >"$T/out" 2>"$T/err" </dev/null
	RC=$?
	if [ -n "$RUN_EXPECT" ]; then
		grep -vE "$RUN_EXPECT" "$T/err" >"$T/err.scan"
		scan "$T/err.scan" "sluice $*"
	else
		scan "$T/err" "sluice $*"
	fi
	return 0
}
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
sql() { python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print('\n'.join('|'.join(str(x) for x in r) for r in c.execute(sys.argv[2])))" "$@"; }
