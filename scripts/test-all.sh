#!/usr/bin/env bash
# `make test`: every phase of the suite in turn, stopping at the first that
# fails, then each phase's time and the tests skipped, so the budget
# (docs/testing.md, "Budget") and any skip are seen at the end of the run.
# Phases: the four builds, every test under ASan+UBSan, the `threads` tests
# under TSan, a short fuzzing run, every test of the normal build.
# Usage: scripts/test-all.sh (from the top of the tree; JOBS, FUZZ_SECONDS
# and MAKE come from the Makefile). CI (.ci/run) sets SLUICE_REQUIRE_ALL=1:
# then a test that skips for a dependency `make deps` installs fails.
set -u
JOBS=${JOBS:-$(nproc)}
MAKE=${MAKE:-make}
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT
names=()
times=()
skips=()
status=0

# phase NAME CMD...: run CMD, keep its time; the ctest phases also count
# their skipped tests (CTest lists them as "(Skipped)")
phase() {
	local name=$1 t0 rc n
	shift
	echo "== $name =="
	t0=$(date +%s)
	"$@" 2>&1 | tee "$LOG/out"
	rc=${PIPESTATUS[0]}
	names+=("$name")
	times+=($(($(date +%s) - t0)))
	n=$(grep -c '(Skipped)' "$LOG/out")
	skips+=("$n")
	[ "$n" -gt 0 ] && grep '(Skipped)' "$LOG/out" | sed "s/^/  skipped in $name: /" >>"$LOG/skipped"
	if [ "$rc" -ne 0 ]; then
		echo "== $name FAILED (exit $rc) =="
		status=$rc
		summary
		exit "$status"
	fi
}
summary() {
	local i total=0 nskip=0
	echo "== time per phase =="
	for i in "${!names[@]}"; do
		printf '  %-28s %5ds\n' "${names[$i]}" "${times[$i]}"
		total=$((total + times[i]))
		nskip=$((nskip + skips[i]))
	done
	printf '  %-28s %5ds\n' total "$total"
	echo "== skipped tests: $nskip =="
	[ -s "$LOG/skipped" ] && cat "$LOG/skipped"
	return 0
}
ctest_in() { (cd "$1" && shift && ctest --output-on-failure -j "$JOBS" "$@"); }

phase "build" "$MAKE" --no-print-directory build
phase "build-asan" "$MAKE" --no-print-directory build-asan
phase "build-tsan" "$MAKE" --no-print-directory build-tsan
phase "build-fuzz" "$MAKE" --no-print-directory build-fuzz
phase "tests under ASan+UBSan" ctest_in build-asan
phase "threads tests under TSan" ctest_in build-tsan -L threads
phase "fuzzing ${FUZZ_SECONDS:-60}s" "$MAKE" --no-print-directory fuzz-run
phase "all tests" ctest_in build
summary
exit "$status"
