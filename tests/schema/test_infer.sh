#!/usr/bin/env bash
# End-to-end tests of `sluice schema infer`: the schema it writes for a file
# loads that file with `sluice ingest` with no false rejects (row counts
# checked against Python's csv module and the SQLite table), and the type
# chosen per column is the expected one for real-world-shaped files made here
# (R and pandas exports, NA and \N markers, dates in several formats, Yes/No
# booleans, semicolon, tab and pipe files, headerless files, comment
# preambles, backslash escapes), for generated CDR files and for every file
# of the shared corpus that has a header. Also: --rows, --key auto, keys of
# two columns, and the bounded key sketch spilling and merging sorted runs.
# Usage: test_infer.sh SLUICE SOURCE_DIR (the shared corpus in
# $SLUICE_CORPUS, which CTest sets; by default ../shared/corpus beside the
# source, as CMakeLists.txt's SLUICE_SHARED_CORPUS)
set -u
S=$1
SRC=$2
CORPUS=${SLUICE_CORPUS:-$SRC/../shared/corpus}
# Every run of the program goes through the harness's sl: its stderr is
# kept in $T/err, a sanitizer report fails the test
. "$SRC/tests/lib/harness.sh"

# What a run said, one "key value" line each, from one Python call (Python
# starts slowly on a loaded machine): for a schema "col NAME TYPE" (TYPE as
# "decimal 4 2", "date %d/%m/%Y", "boolean Yes|No", "text 12", "text 1 enum
# a|b", plus " required"), "source NAME HEADER", "csv.KEY VALUE", "key [..]"
# and "table NAME"; for a JSON summary "j.FIELD VALUE" (j.VAL: VAL_* rejects).
describe() {
	python3 - "$@" <<'EOF'
import json, sys, yaml
for path in sys.argv[1:]:
    if path.endswith(".yaml"):
        s = yaml.safe_load(open(path))
        # PyYAML reads the key `null` as None (YAML 1.1)
        csv = {("null" if k is None else k): v for k, v in (s.get("csv") or {}).items()}
        for k, v in csv.items():
            print("csv.%s %s" % (k, v))
        print("key %s" % s.get("key"))
        print("table %s" % s["table"])
        for c in s["columns"]:
            t = c["type"]
            if t == "decimal":
                t += " %d %d" % (c["precision"], c.get("scale", 0))
            elif t in ("date", "time", "timestamp"):
                f = c.get("format")
                if isinstance(f, list):
                    f = "[" + "|".join(f) + "]"
                t += " " + (f or "iso")
            elif t == "float" and c.get("allow_special"):
                t += " special"
            elif t == "boolean" and "true_values" in c:
                t += " " + "|".join(c["true_values"] + c["false_values"])
            elif t == "text":
                if "max_length" in c:
                    t += " %d" % c["max_length"]
                if "enum" in c:
                    t += " enum " + "|".join(c["enum"])
            print("col %s %s%s" % (c["name"], t, " required" if c.get("required") else ""))
            if "source" in c:
                print("source %s %s" % (c["name"], c["source"]))
    else:
        try:
            d = json.load(open(path))
        except ValueError:
            continue
        for k, v in d.items():
            print("j.%s %s" % (k, v))
        codes = d.get("rejects_by_code") or {}
        print("j.VAL %d" % sum(v for k, v in codes.items() if k.startswith("VAL_")))
EOF
}
# field KEY [FILE]: the value of a describe line ("absent" if none)
field() {
	local v
	v=$(awk -v k="$1 " 'index($0, k) == 1 { print substr($0, length(k) + 1); exit }' "${2:-$D}")
	[ -n "$v" ] || v=absent
	printf '%s\n' "$v"
}
coltype() { field "col $1"; }
skey() { field "$1"; }
jget() { field "j.$1" "${2:-$D}"; }

# Data records of FILE as Python's csv module reads it (empty lines, which
# sluice skips, left out): pycount FILE DELIM [header: 1|0] [comment byte]
pycount() {
	python3 - "$@" <<'EOF'
import csv, sys
path, delim = sys.argv[1], sys.argv[2]
header = len(sys.argv) < 4 or sys.argv[3] == "1"
comment = sys.argv[4] if len(sys.argv) > 4 else None
with open(path, newline="", encoding="utf-8-sig") as f:
    lines = (l for l in f if not (comment and l.startswith(comment)))
    rows = [r for r in csv.reader(lines, delimiter=delim) if r]
print(len(rows) - (1 if header else 0))
EOF
}

n=0
# infer FILE [ARGS]: schema in $T/s$n.yaml, summary JSON in $T/i$n.json, exit in $irc
infer() {
	n=$((n + 1))
	local f=$1
	shift
	sl schema infer "$f" -o "$T/s$n.yaml" --json "$@"
	irc=$?
	cp "$T/err" "$T/i$n.json"
	Y=$T/s$n.yaml
	J=$T/i$n.json
	D=$T/t$n
	if [ -f "$Y" ]; then describe "$Y" "$J" >"$D"; else describe "$J" >"$D"; fi
}
# load FILE: ingest FILE with the last schema into a new database $DB; JSON in $O
load() {
	DB=$T/d$n.db
	O=$T/o$n.json
	sl ingest "$1" --schema "$Y" --db "$DB" --json --quiet >"$O"
	lrc=$?
	L=$T/l$n
	describe "$O" >"$L"
}
# infer_loads NAME FILE WANT_RECORDS [infer args]: infer, load, no rejects, counts
infer_loads() {
	local name=$1 f=$2 want=$3
	shift 3
	infer "$f" "$@"
	check "$name: infer exit" "$irc" 0
	[ "$irc" = 0 ] || { cat "$J"; return; }
	# the inference agreed with the validators at once (nothing widened)
	check "$name: confirm rounds" "$(jget confirm_rounds)" 1
	load "$f"
	check "$name: ingest exit" "$lrc" 0
	check "$name: rows_read" "$(jget rows_read "$L")" "$want"
	check "$name: rows_rejected" "$(jget rows_rejected "$L")" 0
	local table
	table=$(skey table)
	check "$name: rows in the table" "$(sqlite3 -batch "$DB" "SELECT count(*) FROM \"$table\"")" "$want"
}

# --- an R export: write.csv(df) with quoted strings, NA, doubles ---------------
python3 - "$T/r.csv" <<'EOF'
import csv, random, sys
random.seed(7)
with open(sys.argv[1], "w", newline="") as f:
    w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    w.writerow(["id", "Weight (kg)", "ratio", "group", "when", "smoker", "binary", "note", "logical"])
    for i in range(1, 601):
        ratio = "NA" if i % 23 == 0 else random.random() * 10 ** random.randint(-6, 0)
        if i == 5:
            ratio = 9.579434990882874e-4
        w.writerow([i, "NA" if i % 17 == 0 else round(random.uniform(1, 100), 2), ratio,
                    random.choice(["a", "b", "c"]),
                    "NA" if i % 31 == 0 else "2024-%02d-%02d" % (random.randint(1, 12), random.randint(1, 28)),
                    random.choice(["Yes", "No"]), random.randint(0, 1),
                    random.choice(["", "x", "with, comma", "O'Brien", 'say "hi"']),
                    random.choice(["TRUE", "FALSE", "NA"])])
EOF
infer_loads "R export" "$T/r.csv" "$(pycount "$T/r.csv" ,)"
check "R: id" "$(coltype id)" "integer required"
check "R: weight (source kept)" "$(coltype weight_kg)" "decimal 4 2"
check "R: source of weight_kg" "$(field "source weight_kg")" "Weight (kg)"
check "R: ratio (exponents)" "$(coltype ratio)" "float"
check "R: group" "$(coltype group)" "text 1 enum a|b|c required"
check "R: when" "$(coltype when)" "date iso"
check "R: smoker" "$(coltype smoker)" "boolean Yes|No required"
check "R: a 0/1 column stays integer" "$(coltype binary)" "integer required"
check "R: logical" "$(coltype logical)" "boolean TRUE|FALSE"
check "R: null markers" "$(skey csv.null)" "['', 'NA']"
check "R: proposed key (comment)" "$(skey key)" "None"
grep -q '^# candidate keys.*\[id\]' "$Y" && ok || bad "R: the key is proposed in a comment"
# the proposed key line, uncommented, declares it, and the file still loads whole
sed 's/^# key: /key: /' "$Y" >"$T/r_key.yaml"
sl ingest "$T/r.csv" --schema "$T/r_key.yaml" --db "$T/r_key.db" --json --quiet >"$T/r_key.json"
check "R: with the proposed key uncommented: exit" "$?" 0
describe "$T/r_key.yaml" "$T/r_key.json" >"$T/r_key.txt"
check "R: the uncommented key" "$(field key "$T/r_key.txt")" "['id']"
check "R: with the key: rejects" "$(field j.rows_rejected "$T/r_key.txt")" 0
check "R: NA stored as NULL" "$(sqlite3 -batch "$DB" 'SELECT count(*) FROM r WHERE weight_kg IS NULL')" 35
check "R: the exponent value" "$(sqlite3 -batch "$DB" 'SELECT ratio = 9.579434990882874e-4 FROM r WHERE id = 5')" 1

# --- pandas: to_csv() with its unnamed index, NaN as empty, 17-digit doubles --
python3 - "$T/p.csv" <<'EOF'
import random, sys
random.seed(8)
with open(sys.argv[1], "w") as f:
    f.write(",value,price,zip,big,count,reading\n")
    for i in range(400):
        v = random.choice(["6.0760000000000005", "0.1", "", "2.5"])
        price = "%.2f" % random.uniform(0, 1000) if i % 10 else ""
        zipc = "%05d" % random.randint(0, 99999)
        big = str(10**19 + i)
        r = random.choice(["6.0760000000000005", "1.25"])
        f.write("%d,%s,%s,%s,%s,%d,%s\n" % (i, v, price, zipc, big, random.randint(0, 5), r))
EOF
infer_loads "pandas" "$T/p.csv" 400
check "pandas: 17 significant digits make a float" "$(coltype value)" "float"
check "pandas: price" "$(coltype price)" "decimal 5 2"
check "pandas: leading zeros stay text" "$(coltype zip)" "text 5 required"
check "pandas: integers past 64 bits stay text" "$(coltype big)" "text 20 required"
check "pandas: count" "$(coltype count)" "integer required"
check "pandas: reading" "$(coltype reading)" "float required"
grep -q "field 1 '' is left out: its header name is empty" "$Y" && ok || bad "pandas: the unnamed index column is said to be left out"
check "pandas: a zip code kept as written" "$(sqlite3 -batch "$DB" "SELECT count(*) FROM p WHERE zip LIKE '0%'")" "$(python3 -c "import csv,sys; print(sum(1 for r in csv.DictReader(open(sys.argv[1])) if r['zip'].startswith('0')))" "$T/p.csv")"

# R's NaN and Inf: a float with allow_special, never required (NaN is no value)
printf 'x,y\n1.5,a\nNaN,b\n2.5e3,c\n-Inf,d\n' >"$T/nan.csv"
infer_loads "NaN and Inf" "$T/nan.csv" 4
check "NaN: x" "$(coltype x)" "float special"
check "NaN: one round" "$(jget confirm_rounds)" 1

# --- semicolon, CRLF, BOM, dd.mm.yyyy, true/false ------------------------------
python3 - "$T/semi.csv" <<'EOF'
import random, sys
random.seed(9)
with open(sys.argv[1], "w", newline="", encoding="utf-8-sig") as f:
    f.write("Kunde;Betrag;Datum;Aktiv;Zeit\r\n")
    for i in range(300):
        f.write("K%04d;%d.%02d;%02d.%02d.%04d;%s;%02d:%02d\r\n" % (i, random.randint(0, 999), random.randint(0, 99),
                random.randint(1, 28), random.randint(1, 12), random.randint(1990, 2024),
                random.choice(["true", "false"]), random.randint(0, 23), random.randint(0, 59)))
EOF
infer_loads "semicolon" "$T/semi.csv" "$(pycount "$T/semi.csv" ';')"
check "semicolon: delimiter" "$(skey csv.delimiter)" ";"
check "semicolon: kunde" "$(coltype kunde)" "text 5 required"
check "semicolon: betrag" "$(coltype betrag)" "decimal 5 2 required"
check "semicolon: datum" "$(coltype datum)" "date %d.%m.%Y required"
check "semicolon: aktiv" "$(coltype aktiv)" "boolean true|false required"
check "semicolon: zeit" "$(coltype zeit)" "time %H:%M required"
grep -q 'line endings CRLF; UTF-8 byte-order mark' "$Y" && ok || bad "semicolon: BOM and CRLF are noted"
check "semicolon: no key declared without --key auto" "$(skey key)" "None"

# --- a MySQL-style tab dump: \N, timestamps ------------------------------------
python3 - "$T/dump.tsv" <<'EOF'
import random, sys
random.seed(10)
with open(sys.argv[1], "w") as f:
    f.write("user_id\tcreated_at\tscore\tcountry\tseen\n")
    for i in range(500):
        ts = "\\N" if i % 13 == 0 else "2023-%02d-%02d %02d:%02d:%02d" % (random.randint(1, 12), random.randint(1, 28), random.randint(0, 23), random.randint(0, 59), random.randint(0, 59))
        score = "\\N" if i % 7 == 0 else str(random.randint(-50, 50))
        seen = "2023-%02d-%02dT%02d:%02d:%02dZ" % (random.randint(1, 12), random.randint(1, 28), random.randint(0, 23), random.randint(0, 59), random.randint(0, 59))
        f.write("%d\t%s\t%s\t%s\t%s\n" % (1000 + i, ts, score, random.choice(["NA", "FR", "DE", "GB"]), seen))
EOF
infer_loads "tab dump" "$T/dump.tsv" "$(pycount "$T/dump.tsv" "$(printf '\t')")" --key auto
check "tab: delimiter" "$(skey csv.delimiter)" tab
check "tab: null markers" "$(skey csv.null)" "['', '\\\\N']"
check "tab: created_at" "$(coltype created_at)" "timestamp iso"
check "tab: seen (with Z)" "$(coltype seen)" "timestamp iso required"
check "tab: score" "$(coltype score)" "integer"
check "tab: NA is a country where no typed column has NA" "$(coltype country)" "text 2 enum DE|FR|GB|NA required"
check "tab: --key auto declares user_id" "$(skey key)" "['user_id']"
check "tab: Namibia kept" "$(sqlite3 -batch "$DB" "SELECT count(*) > 0 FROM dump WHERE country = 'NA'")" 1

# --- dates in several formats, one per column; pipe; NULL; Y/N ----------------
python3 - "$T/dates.txt" <<'EOF'
import random, sys
random.seed(11)
with open(sys.argv[1], "w") as f:
    f.write("code|eu|us|txt|stamp|amount|ok|mixed|when|loose\n")
    for i in range(200):
        d, m, y = random.randint(1, 28), random.randint(1, 12), random.randint(2000, 2030)
        eu = "%02d/%02d/%d" % (d if i else 25, m, y)
        us = "%d/%d/%d" % (m, d if i else 25, y)
        txt = "%d %s %d" % (d, ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][m - 1], y)
        stamp = "%02d/%02d/%d %02d:%02d" % (d if i else 25, m, y, random.randint(0, 23), random.randint(0, 59))
        amount = random.choice(["1", "2.5", "-3.25", "NULL"])
        mixed = random.choice(["2024-01-%02d" % d, "2024-02-%02d" % d, "%02d/%02d/2024" % (random.randint(13, 28), m)])
        when = "2024-03-%02dT10:%02d:00" % (d, m) if i % 3 else "%02d/03/2024 10:%02d" % (d, m)
        loose = "%d-%d-%d" % (y, m, d)
        f.write("%05d|%s|%s|%s|%s|%s|%s|%s|%s|%s\n" % (i, eu, us, txt, stamp, amount, random.choice(["Y", "N"]), mixed, when, loose))
EOF
infer_loads "dates" "$T/dates.txt" 200
check "dates: delimiter" "$(skey csv.delimiter)" "|"
check "dates: code (leading zeros)" "$(coltype code)" "text 5 required"
check "dates: eu" "$(coltype eu)" "date %d/%m/%Y required"
check "dates: us" "$(coltype us)" "date %m/%d/%Y required"
check "dates: txt" "$(coltype txt)" "date %d %b %Y required"
check "dates: stamp" "$(coltype stamp)" "timestamp %d/%m/%Y %H:%M required"
check "dates: amount" "$(coltype amount)" "decimal 3 2"
check "dates: ok" "$(coltype ok)" "boolean Y|N required"
# no one format fits: a list, the format of most values first
check "dates: mixed" "$(coltype mixed)" "date [%Y-%m-%d|%d/%m/%Y] required"
check "dates: when (ISO spelled out in a list)" "$(coltype when)" "timestamp [%Y-%m-%dT%H:%M:%S|%d/%m/%Y %H:%M] required"
check "dates: loose (one-digit months)" "$(coltype loose)" "date %Y-%m-%d required"
check "dates: stored ISO" "$(sqlite3 -batch "$DB" "SELECT us FROM dates WHERE code = '00000'")" "$(sqlite3 -batch "$DB" "SELECT eu FROM dates WHERE code = '00000'")"

# --- no header, comment preamble, backslash escapes ---------------------------
python3 - "$T/nohdr.csv" <<'EOF'
import random, sys
random.seed(12)
with open(sys.argv[1], "w") as f:
    for i in range(100):
        f.write("%d,%.3f,2024-02-%02d\n" % (i, random.uniform(-5, 5), random.randint(1, 29)))
EOF
infer_loads "no header" "$T/nohdr.csv" 100
check "no header: header" "$(skey csv.header)" "False"
check "no header: col_2" "$(coltype col_2)" "decimal 4 3 required"

# a tzdata-like table: comment lines, no header, text only: codes of one
# length say the first line is data
printf '# ISO 3166 alpha-2 country codes\n#\nAD\tAndorra\nAE\tUnited Arab Emirates\nAF\tAfghanistan\nAG\tAntigua & Barbuda\nAI\tAnguilla\n' >"$T/iso3166.tab"
infer_loads "tzdata-like" "$T/iso3166.tab" 5
check "tzdata-like: header" "$(skey csv.header)" "False"
check "tzdata-like: comment" "$(skey csv.comment)" "#"
check "tzdata-like: col_1" "$(coltype col_1)" "text 2 required"

# tzdata's zone table names its columns in the last comment line
printf '# tz zone descriptions\n#codes\tcoordinates\tTZ\n#\nAD\t+4230+00131\tEurope/Andorra\nAE\t+2518+05518\tAsia/Dubai\nAF\t+3431+06912\tAsia/Kabul\nAG\t+1703-06148\tAmerica/Puerto_Rico\n' >"$T/zone.tab"
infer_loads "tzdata zone" "$T/zone.tab" 4
check "zone: header" "$(skey csv.header)" "False"
check "zone: col_1 (the last comment line is '#')" "$(coltype col_1)" "text 2 required"
printf '# tz zone descriptions\n#codes\tcoordinates\tTZ\nAD\t+4230+00131\tEurope/Andorra\nAE\t+2518+05518\tAsia/Dubai\nAF\t+3431+06912\tAsia/Kabul\nAG\t+1703-06148\tAmerica/Puerto_Rico\n' >"$T/zone2.tab"
infer_loads "tzdata zone, names in a comment" "$T/zone2.tab" 4
check "zone: names from the comment" "$(coltype codes) / $(coltype coordinates) / $(coltype tz)" "text 2 required / text 11 required / text 19 required"

printf '# exported by a tool\n# on a day\nid,name\n1,"a ""quoted"" one"\n2,b\n3,c\n' >"$T/pre.csv"
infer_loads "comment preamble" "$T/pre.csv" 3
check "preamble: comment" "$(skey csv.comment)" "#"
check "preamble: id" "$(coltype id)" "integer required"

printf 'id|text\n1|"say \\"hi\\""\n2|"a\\\\b"\n3|"plain"\n4|"x \\"y\\" z"\n' >"$T/esc.txt"
infer_loads "backslash escape" "$T/esc.txt" 4
check "escape: escape" "$(skey csv.escape)" "\\"
check "escape: value" "$(sqlite3 -batch "$DB" "SELECT text FROM esc WHERE id = 1")" 'say "hi"'

# an unquoted file with inch marks: quotes there are data, not a reject per row
printf 'name,height\nann,5'"'"'11"\nbob,6'"'"'2"\ncy,5\n' >"$T/stray.csv"
infer_loads "stray quotes" "$T/stray.csv" 3
check "stray: quote" "$(skey csv.quote)" "none"
check "stray: value kept" "$(sqlite3 -batch "$DB" "SELECT height FROM stray WHERE name = 'ann'")" "5'11\""

# --- multi-byte delimiters (where the engine and the loader take them) ----------
printf 'id||name||amount\n1||a||1.5\n2||b|c||2.5\n3||d||\n' >"$T/multi.txt"
infer_loads "multi-byte ||" "$T/multi.txt" 3
check "||: delimiter" "$(skey csv.delimiter)" "||"
check "||: a lone | is data" "$(sqlite3 -batch "$DB" "SELECT name FROM multi WHERE id = 2")" "b|c"
check "||: amount" "$(coltype amount)" "decimal 2 1"
printf 'k~|~v\n1~|~x|y\n2~|~z\n' >"$T/tilde.txt"
infer_loads "multi-byte ~|~" "$T/tilde.txt" 2
check "~|~: delimiter" "$(skey csv.delimiter)" "~|~"

# --- a key of two columns -------------------------------------------------------
python3 - "$T/pair.csv" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("station,day,rain\n")
    for s in range(20):
        for d in range(1, 29):
            f.write("S%02d,2024-02-%02d,%d\n" % (s, d, (s * d) % 7))
EOF
infer_loads "pair key" "$T/pair.csv" 560 --key auto
check "pair: key" "$(skey key)" "['station', 'day']"

# --- --rows: a sample; the rest need not fit ---------------------------------------
infer "$T/r.csv" --rows 50
check "--rows: exit" "$irc" 0
check "--rows: records read" "$(jget records)" 50
check "--rows: not the whole file" "$(jget whole_file)" False
check "--rows: required is not claimed from a sample" "$(coltype id)" "integer"
grep -q "a sample: values past it may not fit" "$Y" && ok || bad "--rows: the sample is said"

# --- the key sketch: bounded memory, runs spilled and merged ----------------------------
python3 - "$T/big.csv" "$T/bigdup.csv" <<'EOF'
import sys
rows = ["%d,%d" % (i * 7919 % 1000003, i % 3) for i in range(280000)]
open(sys.argv[1], "w").write("id,k\n" + "\n".join(rows) + "\n")
rows[-1] = rows[4].split(",")[0] + ",1"
open(sys.argv[2], "w").write("id,k\n" + "\n".join(rows) + "\n")
EOF
infer "$T/big.csv" --sketch 4096 --key auto
check "sketch: exit" "$irc" 0
check "sketch: unique key found past the memory bound" "$(jget key)" "[id]"
spilled=$(jget sketch_spilled)
[ "$spilled" -gt 280000 ] && ok || bad "sketch: hashes spilled and merged ($spilled, want > 280000: 68 runs merge at 64)"
infer "$T/bigdup.csv" --sketch 4096
check "sketch: a duplicate in the last row is found" "$(jget key)" "None"
infer "$T/big.csv" --key auto
check "sketch: default budget keeps it in memory" "$(jget sketch_spilled)" 0

# --- generated CDR files ------------------------------------------------------------
sl gen cdr --rows 30000 --error-rate 0 --seed 3 -o "$T/cdr.csv"
check "gen: exit" "$?" 0
infer_loads "cdr" "$T/cdr.csv" 30000 --key auto
check "cdr: call_date" "$(coltype call_date)" "date %d/%m/%Y required"
check "cdr: end_time" "$(coltype end_time)" "time iso required"
check "cdr: duration" "$(coltype duration)" "integer required"
check "cdr: cost" "$(coltype cost | cut -d' ' -f1,3)" "decimal 3"
check "cdr: currency" "$(coltype currency)" "text 3 enum EUR|GBP|USD required"
check "cdr: key (the first unique column)" "$(skey key)" "['caller_id']"
grep -q '^# candidate keys.*\[reference\]' "$Y" && ok || bad "cdr: reference is a candidate key"
check "cdr: rounds" "$(jget confirm_rounds)" 1
sl gen cdr --rows 3000 --error-rate 0 --seed 4 --quoted-rate 0.3 --crlf --bom -o "$T/cdrq.csv"
check "gen: exit" "$?" 0
infer_loads "cdr quoted" "$T/cdrq.csv" 3000

# --- every corpus file with a header ---------------------------------------------------
# Loads with no false rejects: the only rejects are records with a structural
# CSV error (any schema rejects them) and values that are not UTF-8 text
# (no type accepts them), both counted by infer itself.
list=$T/corpus.lst
awk -F'\t' 'NR > 1 && $3 ~ /header=yes/ { print "duckdb/" $1 }' "$CORPUS/duckdb/manifest.tsv" >"$list"
(cd "$CORPUS" && ls csv-spectrum/csvs/*.csv) >>"$list"
files=0
while read -r p; do
	f=$CORPUS/$p
	[ -f "$f" ] || { bad "corpus: $p missing"; continue; }
	files=$((files + 1))
	infer "$f"
	if [ "$irc" = 2 ]; then
		# no column has a name a schema can match (UTF-16, a header of
		# duplicate and non-UTF-8 names): said, and nothing written
		grep -qE "no column has a header name a schema can match|the header line is malformed" "$J" && ok ||
			bad "corpus: $p: exit 2: $(cat "$J")"
		continue
	fi
	[ "$irc" = 0 ] || [ "$irc" = 3 ] || { bad "corpus: $p: infer exit $irc: $(cat "$J")"; continue; }
	load "$f"
	errs=$(($(jget csv_errors) + $(jget rows_rejected)))
	check "corpus: $p: rows read" "$(jget rows_read "$L")" "$(jget records)"
	check "corpus: $p: rejected = what infer predicted" "$(jget rows_rejected "$L")" "$errs"
	check "corpus: $p: VAL_* rejects = values no type accepts" "$(jget VAL "$L")" "$(jget rows_rejected)"
	if [ "$(jget bad_values)" = 0 ]; then
		check "corpus: $p: no value rejected" "$(jget rows_rejected)" 0
	fi
	check "corpus: $p: infer exit" "$irc" "$([ "$errs" = 0 ] && echo 0 || echo 3)"
	check "corpus: $p: ingest exit" "$lrc" "$([ "$errs" = 0 ] && echo 0 || echo 3)"
done <"$list"
[ "$files" -ge 40 ] && ok || bad "corpus: only $files files with a header"

# --- failures -------------------------------------------------------------------------
sl schema infer "$T/nope.csv" >/dev/null
check "missing file: exit" "$?" 4
sl schema infer >/dev/null
check "no file: exit" "$?" 2
sl schema infer "$T/r.csv" --rows 0 >/dev/null
check "--rows 0: exit" "$?" 2
sl schema infer "$T/r.csv" --key maybe >/dev/null
check "--key maybe: exit" "$?" 2
: >"$T/empty.csv"
sl schema infer "$T/empty.csv" >/dev/null
check "empty file: exit" "$?" 2
grep -q "no records" "$T/err" && ok || bad "empty file: message: $(cat "$T/err")"
sl schema infer "$T/semi.csv" --delimiter ',' -o "$T/given.yaml"
check "dialect given: exit" "$?" 0
describe "$T/given.yaml" >"$T/given.txt"
check "dialect given: used as given" "$(field csv.delimiter "$T/given.txt")" ","

finish test_infer
