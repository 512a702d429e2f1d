# Sourced by the tests of issue 10 (tests/cli/test_cli10.sh,
# tests/engine/test_changed.sh, tests/http/test_numbers.sh,
# tests/http/test_partials.sh) after they set T (their temp dir) and define
# bad: every program they start goes through run, which fails the test on a
# sanitizer banner whatever the exit status.
#
# sanitizer FILE: does FILE hold a sanitizer report?
sanitizer() { grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|WARNING: ThreadSanitizer' "$1"; }
# run NAME CMD...: stdout to $T/NAME.out, stderr to $T/NAME.err, the exit
# status to $T/NAME.rc. A report is also noted in $T/sanitizer, so a run in
# the background (a subshell, whose bad cannot count) fails the test too:
# run_checked says so at the end.
run() {
	local name=$1
	shift
	"$@" >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
	if sanitizer "$T/$name.err"; then
		echo "$name" >>"$T/sanitizer"
		bad "$name: sanitizer report"
		head -30 "$T/$name.err"
	fi
}
rc() { cat "$T/$1.rc"; }
# run_checked: fail when any run (background ones included) saw a report
run_checked() { [ -e "$T/sanitizer" ] && bad "sanitizer reports in: $(tr '\n' ' ' <"$T/sanitizer")"; true; }
# wait_for FILE: poll until it exists (bounded: 60 s)
wait_for() {
	for _ in $(seq 1 1200); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	bad "timed out waiting for $1"
	return 1
}
