#!/usr/bin/env bash
# The command line of issue 10: the help lists every command, --json is
# refused where there is no JSON form, one name and shape with the API
# (rows_removed, {"jobs": [...]}), the progress bar through the commit
# phase, and `make install` (binary, man page, bash completion generated
# from the help).
# Usage: test_cli10.sh SLUICE SOURCE_DIR [BUILD_DIR] (the build dir is the
# program's directory unless given)
set -u
S=$1
SRC=$2
BUILD=${3:-$(cd "$(dirname "$S")" && pwd)}
SCHEMA=$SRC/examples/cdr.yaml
# sl_as NAME ARGS: every run of the program, through the harness
. "$SRC/tests/lib/harness.sh"

# --- the help lists every command, and every command has a help ----------------
sl_as cmds help --commands
check "help --commands" "$(rc cmds)" 0
grep -qx serve "$T/cmds.out" && ok || bad "help --commands names serve"
sl_as help --help
check "--help exits 0" "$(rc help)" 0
for c in $(cat "$T/cmds.out"); do
	grep -qE "^  $c( |$)" "$T/help.out" && ok || bad "top-level help lists '$c'"
	[ "$c" = help ] && continue
	sl_as "help_$c" "$c" --help
	check "$c --help exits 0" "$(rc "help_$c")" 0
done
grep -qE '^  serve ' "$T/help.out" && ok || bad "top-level help lists serve"

# --- --json only where there is a JSON form ------------------------------------------
sl_as gen_a gen cdr --rows 2000 --error-rate 0.05 --seed 3 -o "$T/a.csv"
check "gen" "$(rc gen_a)" 0
sl_as ing ingest "$T/a.csv" --schema "$SCHEMA" --db "$T/a.db" --json
check "ingest --json" "$(rc ing)" 3
JOB=$(json "$T/ing.out" "d['job_id']")
sl_as ej errors "$JOB" --db "$T/a.db" --json
check "errors --json refused" "$(rc ej)" 2
grep -q -- "--format jsonl" "$T/ej.err" && ok || bad "errors --json points to --format jsonl: $(cat "$T/ej.err")"
sl_as gj gc --older-than 1d --db "$T/a.db" --json
check "gc --json refused" "$(rc gj)" 2
sl_as dj csv dump "$T/a.csv" --json
check "csv dump --json refused" "$(rc dj)" 2
sl_as sj status "$JOB" --db "$T/a.db" --json
check "status --json still works" "$(rc sj)" 0

# --- one name, one shape with the API ---------------------------------------------------
sl_as jobs jobs --db "$T/a.db" --json
check "jobs --json: {\"jobs\": [...]}" "$(json "$T/jobs.out" "type(d).__name__, [j['job_id'] for j in d['jobs']]")" "dict ['$JOB']"
sl_as jobs0 jobs --db "$T/a.db" --status Failed --json
check "jobs --json, none" "$(json "$T/jobs0.out" "d")" "{'jobs': []}"
sl_as rb rollback "$JOB" --db "$T/a.db" --json
check "jobs, jobs --status, rollback: exit 0" "$(rc jobs) $(rc jobs0) $(rc rb)" "0 0 0"
check "rollback --json: rows_removed" "$(json "$T/rb.out" "d['rows_removed'], 'rows_deleted' in d")" "$(json "$T/ing.out" "d['rows_loaded']") False"

# --- the progress bar counts rows written, through the commit phase -----------------------
# One keyed chunk: every byte is read (and sorted) before the rows are
# written, so a bar of bytes would show 100 % while the writer works.
sl_as gen_p gen cdr --rows 60000 --seed 4 -o "$T/p.csv"
check "gen" "$(rc gen_p)" 0
sl_as prog ingest "$T/p.csv" --schema "$SCHEMA" --db "$T/p.db" --threads 1 --progress --json
check "ingest with --progress" "$(rc prog)" 0
tr '\r' '\n' <"$T/prog.err" | grep 'rows written' >"$T/bar.txt"
python3 - "$T/bar.txt" <<'EOF' && ok || bad "progress lines: $(head -5 "$T/bar.txt")"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
pat = re.compile(r'(\d+)% (\S+)/(\S+) rows written \((\S+) committed\)\s+read\s+(\d+)% .* ETA (\S+)')
def n(s):
    return float(s[:-1]) * (1e6 if s[-1] == 'M' else 1e3) if s[-1] in 'kM' else float(s)
rows = [pat.search(l) for l in lines]
assert rows and all(rows), lines[:3]
# the commit phase is shown: everything read, not everything written, no ETA of 0
phase = [m for m in rows if m.group(5) == '100' and n(m.group(2)) < n(m.group(3))]
assert phase, 'no line shows the commit phase'
assert all(m.group(6) != '0s' for m in phase if n(m.group(2)) < 0.5 * n(m.group(3))), 'ETA 0 s mid-commit'
last = rows[-1]
assert last.group(1) == '100' and n(last.group(2)) == n(last.group(3)) == 60000 and n(last.group(4)) == 60000, last.group(0)
EOF

# --- make install: binary, man page, completion, all generated from the help ----------------
make -s -C "$SRC" install BUILD="$BUILD" DESTDIR="$T/root" PREFIX=/usr >"$T/inst.out" 2>"$T/inst.err"
check "make install" "$?" 0
for f in usr/bin/sluice usr/share/man/man1/sluice.1 usr/share/bash-completion/completions/sluice; do
	[ -s "$T/root/$f" ] && ok || bad "make install puts $f in place"
done
S=$T/root/usr/bin/sluice sl_as iv --version
sl_as v --version
check "the installed program: exit 0" "$(rc iv)+$(rc v)" 0+0
check "the installed program runs" "$(cat "$T/iv.out")" "$(cat "$T/v.out")"
grep -q '^\.TH SLUICE 1' "$T/root/usr/share/man/man1/sluice.1" && ok || bad "man page header"
for c in $(grep -vx help "$T/cmds.out"); do
	grep -q "^\.SS $c\$" "$T/root/usr/share/man/man1/sluice.1" && ok || bad "man page has a section for $c"
done
grep -q 'strict\\-source' "$T/root/usr/share/man/man1/sluice.1" && ok || bad "man page carries the options of ingest"
# the completion offers every command, and a command's options
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _sluice; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$T/root/usr/share/bash-completion/completions/sluice" "$@"
}
complete_words sluice "" >"$T/words.txt"
for c in $(grep -vx help "$T/cmds.out"); do
	grep -qx "$c" "$T/words.txt" && ok || bad "completion offers '$c'"
done
check "completion of 'sluice se'" "$(complete_words sluice se)" serve
check "completion of 'sluice ingest --str'" "$(complete_words sluice ingest --str)" --strict-source
check "completion of 'sluice csv ch'" "$(complete_words sluice csv ch)" check

finish cli10
