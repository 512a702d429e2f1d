#!/usr/bin/env bash
# End-to-end tests of the csv commands on messy files: multi-byte delimiters
# and --skip-initial-space on the command line and in a schema, --lenient in
# csv dump and csv check (warnings, no errors), and csv check in one read
# giving the same report as the parallel check on generated CDR files with
# bad rows. Usage: test_csv_cli.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh" # sl_run, sl: every run of the program
expect_exit() { # expect_exit CODE DESCRIPTION ARGS...: sl_run ARGS (stdout $T/out), its status
	local want=$1 what=$2
	shift 2
	sl_run "$@"
	if [ "$RC" = "$want" ]; then ok; else bad "$what: exit $RC, want $want ($(head -c 300 "$T/err"))"; fi
}
expect_out() { # expect_out DESCRIPTION WANT: compares $T/out
	if [ "$(cat "$T/out")" = "$2" ]; then ok; else bad "$1: got $(head -c 400 "$T/out")"; fi
}

# --- delimiters -------------------------------------------------------------------
printf 'a||b||c\n1||"x||y"||3\n4|||5||6\n' >"$T/p.csv"
expect_exit 0 "dump ||" csv dump "$T/p.csv" --delimiter '||'
expect_out "dump ||" '{"header":["a","b","c"]}
["1","x||y","3"]
["4","|5","6"]'
printf 'a\t|b\n1\t|2\n' >"$T/t.csv"
expect_exit 0 "dump tab-pipe" csv dump "$T/t.csv" --delimiter '\t|'
expect_out "dump tab-pipe" '{"header":["a","b"]}
["1","2"]'
expect_exit 2 "5-byte delimiter" csv dump "$T/p.csv" --delimiter 'abcde'
expect_exit 2 "delimiter with the quote" csv dump "$T/p.csv" --delimiter '|"'
printf 'a, b, "c, d"\n 1,  2, "x"\n' >"$T/s.csv"
expect_exit 0 "skip initial space" csv dump "$T/s.csv" --skip-initial-space
expect_out "skip initial space" '{"header":["a","b","c, d"]}
["1","2","x"]'
expect_exit 2 "skip initial space with space delimiter" csv dump "$T/s.csv" \
	--skip-initial-space --delimiter space

# a schema says the same
printf 'name: t\ncsv: {delimiter: "||"}\ncolumns: [{name: a, type: integer}, {name: b, type: text}, {name: c, type: integer}]\n' >"$T/p.yaml"
printf 'a||b||c\n1||"x||y"||3\n4||z||6\n' >"$T/q.csv"
expect_exit 0 "validate with a || schema" validate "$T/q.csv" --schema "$T/p.yaml"
if grep -q "2 rows, 2 valid, 0 invalid" "$T/out"; then ok; else bad "validate ||: $(cat "$T/out")"; fi
printf 'name: t\ncsv: {delimiter: "abcde"}\ncolumns: [{name: a, type: text}]\n' >"$T/bad.yaml"
expect_exit 2 "schema delimiter too long" validate "$T/q.csv" --schema "$T/bad.yaml"
printf 'name: sp\ntable: sp\ncsv: {skip_initial_space: true}\ncolumns: [{name: a, type: integer}, {name: b, type: text}, {name: c, type: integer}]\n' >"$T/sp.yaml"
printf 'a, b, c\n1, "x, y", 3\n' >"$T/sp.csv"
expect_exit 0 "ingest with skip_initial_space in the schema" ingest "$T/sp.csv" --schema "$T/sp.yaml" --db "$T/sp.db"
check_sp=$(sqlite3 "$T/sp.db" "SELECT a || '|' || b || '|' || c FROM sp")
if [ "$check_sp" = "1|x, y|3" ]; then ok; else bad "skip_initial_space schema: the row is '$check_sp'"; fi

# --- lenient ----------------------------------------------------------------------
printf 'id,"name,price\n1,a,2\n2,b,3,4\n3,c\n4,"q",5\n5,"r,6\n7,s,8\n' >"$T/l.csv"
expect_exit 3 "strict dump of a damaged header" csv dump "$T/l.csv"
expect_exit 0 "lenient dump" csv dump "$T/l.csv" --lenient
expect_out "lenient dump" '{"header":["id","name","price"]}
["1","a","2"]
["2","b","3","4"]
["3","c"]
["4","q","5"]
["5","\"r","6"]
["7","s","8"]'
expect_exit 0 "lenient check" csv check "$T/l.csv" --lenient --json
w=$(python3 -c "import json,sys; d=json.load(open('$T/out')); print(d['records'], d['errors'], d['warnings'])")
if [ "$w" = "6 0 {'too_few_fields': 1, 'too_many_fields': 1, 'stray_quotes': 2}" ]; then ok; else bad "lenient check: $w"; fi
expect_exit 0 "lenient check text" csv check "$T/l.csv" --lenient
if grep -q "1 with too few fields, 1 with too many, 2 with stray quotes" "$T/out"; then ok; else bad "lenient check text: $(cat "$T/out")"; fi

# --- csv check in one read = the parallel check -----------------------------------
sl gen cdr --rows 20000 --error-rate 0.02 --seed 7 -o "$T/cdr.csv"
st=$?
if [ "$st" = 0 ]; then ok; else bad "gen: exit $st"; fi
# checked: exit 3 when the report counts errors, else 0
status_of() { python3 -c "import json; print(3 if json.load(open('$1'))['errors'] else 0)"; }
report() { python3 -c "import json,sys; d=json.load(open('$1')); [d.pop(k) for k in ('seconds','chunks','threads')]; print(json.dumps(d, sort_keys=True))"; }
for opts in "" "--lenient" "--utf8" "--lenient --skip-initial-space"; do
	# shellcheck disable=SC2086
	sl csv check "$T/cdr.csv" --json $opts >"$T/one.json"
	one=$?
	# shellcheck disable=SC2086
	sl csv check "$T/cdr.csv" --json $opts --threads 2 --chunk-size 64k >"$T/par.json"
	par=$?
	w=$(status_of "$T/one.json")
	if [ "$one $par" = "$w $w" ]; then ok; else bad "one pass vs parallel ($opts): exit $one and $par, want $w"; fi
	if [ "$(report "$T/one.json")" = "$(report "$T/par.json")" ]; then ok; else bad "one pass vs parallel ($opts)"; fi
	c=$(python3 -c "import json; d=json.load(open('$T/one.json')); print(d['chunks'], d['threads'], d['records'])")
	if [ "$c" = "1 1 20000" ]; then ok; else bad "one pass ($opts): $c"; fi
done
# the pipes version of the same rows reads the same
python3 - "$T/cdr.csv" "$T/cdr2.csv" <<'EOF'
import csv, sys
with open(sys.argv[1], newline="") as i, open(sys.argv[2], "w", newline="") as o:
    for row in csv.reader(i):
        o.write("||".join('"%s"' % f.replace('"', '""') if any(c in f for c in '"\r\n|') else f for f in row) + "\n")
EOF
sl csv check "$T/cdr2.csv" --json --delimiter '||' --lenient >"$T/one.json"
one=$?
sl csv check "$T/cdr2.csv" --json --delimiter '||' --lenient --threads 2 --chunk-size 64k >"$T/par.json"
par=$?
w=$(status_of "$T/one.json")
if [ "$one $par" = "$w $w" ]; then ok; else bad "one pass vs parallel (||): exit $one and $par, want $w"; fi
if [ "$(report "$T/one.json")" = "$(report "$T/par.json")" ]; then ok; else bad "one pass vs parallel (||)"; fi

finish "csv cli"
