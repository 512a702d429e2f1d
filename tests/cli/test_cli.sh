#!/usr/bin/env bash
# End-to-end tests of the sluice program: exit codes, usage errors, and the
# CSV commands on generated CDR files, whose manifest says exactly which
# rows are bad and where. Usage: test_cli.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect_exit() { # expect_exit CODE DESCRIPTION CMD...
	local want=$1 what=$2
	shift 2
	"$@" >"$T/out" 2>"$T/err" </dev/null
	local got=$?
	if [ "$got" = "$want" ]; then ok; else bad "$what: exit $got, want $want ($(head -c 300 "$T/err"))"; fi
}
json() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }

# --- usage and exit codes -----------------------------------------------------
expect_exit 0 "help" "$S" --help
expect_exit 2 "no command" "$S"
expect_exit 2 "unknown command" "$S" frobnicate
expect_exit 0 "csv check help" "$S" csv check --help
expect_exit 0 "csv dump help" "$S" csv dump --help
expect_exit 0 "gen help" "$S" gen --help
expect_exit 2 "check without file" "$S" csv check
expect_exit 2 "unknown option" "$S" csv check x.csv --frob
expect_exit 2 "bad delimiter" "$S" csv check x.csv --delimiter abcde
expect_exit 2 "newline delimiter" "$S" csv check x.csv --delimiter $'\n'
expect_exit 2 "bad threads" "$S" csv check x.csv --threads 0
expect_exit 2 "bad scanner" "$S" csv check x.csv --scanner mmx
expect_exit 4 "missing file" "$S" csv check "$T/nope.csv"
grep -q "nope.csv" "$T/err" && ok || bad "missing file message names the file"
expect_exit 2 "gen bad rate" "$S" gen cdr --rows 10 --error-rate 2

# --- docs/errors.md is generated from the table --------------------------------
"$S" codes --markdown >"$T/errors.md"
cmp -s "$T/errors.md" "$SRC/docs/errors.md" && ok || bad "docs/errors.md is stale: run 'build/sluice codes --markdown > docs/errors.md'"

# --- a generated file: counts and positions match the manifest ------------------
"$S" gen cdr --rows 20000 --error-rate 0.03 --seed 7 --manifest "$T/man.tsv" -o "$T/cdr.csv" 2>/dev/null
expect_exit 3 "check of a file with bad rows" "$S" csv check "$T/cdr.csv" --json
cp "$T/out" "$T/check.json"
[ "$(json "$T/check.json" "d['records']")" = 20000 ] && ok || bad "records != 20000"
for kind in TOO_FEW_FIELDS TOO_MANY_FIELDS STRAY_QUOTE; do
	want=$(grep -c "	$kind\$" "$T/man.tsv")
	got=$(json "$T/check.json" "d['errors_by_code'].get('CSV_$kind',{}).get('count',0)")
	[ "$want" = "$got" ] && [ "$want" -gt 0 ] && ok || bad "CSV_$kind: $got, manifest $want"
	# the first positions reported are the manifest's first rows of that kind
	wantpos=$(grep "	$kind\$" "$T/man.tsv" | head -5 | awk '{printf "%s:%s ", $1, $2}')
	gotpos=$(json "$T/check.json" "' '.join('%d:%d' % (p['record'], p['line']) for p in d['errors_by_code']['CSV_$kind']['first'])")
	[ "$wantpos" = "$gotpos " ] && ok || bad "CSV_$kind positions: $gotpos vs $wantpos"
done

# --- the same report whatever the threads, chunk size and scanner -----------------
strip() { python3 -c "import json,sys; d=json.load(open('$1')); [d.pop(k) for k in ('seconds','threads','chunks','scanner')]; print(json.dumps(d, sort_keys=True))"; }
strip "$T/check.json" >"$T/ref"
for args in "--threads 1" "--threads 2 --chunk-size 4k" "--chunk-size 100" "--scanner scalar --chunk-size 64k" "--scanner generic" "--scanner sse2 --threads 2 --chunk-size 1k"; do
	# shellcheck disable=SC2086
	"$S" csv check "$T/cdr.csv" --json $args >"$T/c.json" 2>/dev/null
	strip "$T/c.json" >"$T/got"
	cmp -s "$T/ref" "$T/got" && ok || bad "check $args differs"
done

# --- dump: chunked, windowed, stdin and scanners give the same output ----------
"$S" csv dump "$T/cdr.csv" >"$T/d0"
[ "$(grep -c '^\[' "$T/d0")" = $((20000 - $(json "$T/check.json" "d['errors']"))) ] && ok || bad "dump row count"
for args in "--chunk-size 777" "--window 100" "--scanner scalar" "--scanner generic --window 64"; do
	# shellcheck disable=SC2086
	"$S" csv dump "$T/cdr.csv" $args >"$T/d1"
	cmp -s "$T/d0" "$T/d1" && ok || bad "dump $args differs"
done
"$S" csv dump - <"$T/cdr.csv" >"$T/d1"
cmp -s "$T/d0" "$T/d1" && ok || bad "dump from stdin differs"

# --- CRLF and a byte-order mark: same records and values -------------------------
"$S" gen cdr --rows 20000 --error-rate 0.03 --seed 7 --crlf --bom -o "$T/crlf.csv" 2>/dev/null
"$S" csv dump "$T/crlf.csv" --chunk-size 3000 | sed 's/\\r\\n/\\n/g' >"$T/d2"
sed 's/"offset":[0-9]*//' "$T/d0" >"$T/a"
sed 's/"offset":[0-9]*//' "$T/d2" >"$T/b"
cmp -s "$T/a" "$T/b" && ok || bad "CRLF+BOM file parses to other records"

# --- empty and header-only files -----------------------------------------------
: >"$T/empty.csv"
expect_exit 0 "empty file" "$S" csv check "$T/empty.csv" --json
[ "$(json "$T/out" "d['records']")" = 0 ] && ok || bad "empty file records"
printf 'a,b\n' >"$T/h.csv"
expect_exit 0 "header-only" "$S" csv dump "$T/h.csv"
[ "$(cat "$T/out")" = '{"header":["a","b"]}' ] && ok || bad "header-only dump"

echo "cli: $pass passed, $fail failed"
[ "$fail" = 0 ]
