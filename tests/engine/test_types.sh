#!/usr/bin/env bash
# End-to-end test of the value forms real files have (issue 9): a file
# shaped like an R / pandas export (floats as repr and R print them,
# decimals with exponents and trailing zeros, Yes/No booleans, dates in
# three formats, zoned and local timestamps, Unicode names and cities under
# patterns) is loaded into SQLite; the sqlite3 shell must then give numeric
# answers (WHERE price > 1000, max, sum, ORDER BY), and every stored value
# must equal what Python computes on its own from the file's text (decimal,
# float(), datetime), bit for bit for the doubles. Bad rows are rejected
# with their codes.
# Usage: test_types.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh" # sl: every run of the program
q() { sqlite3 -batch "$T/t.db" "$1"; }

cat >"$T/s.yaml" <<'EOF'
name: shop
table: shop
key: id
csv: {null: ["", NA]}
columns:
  - {name: id, type: integer, required: true}
  - {name: name, type: text, pattern: '^\p{Lu}\p{L}*(?: \p{L}+)*$', max_length: 12}
  - {name: city, type: text, pattern: '^[[:alpha:] ]{1,12}$', max_length: 12}
  - {name: price, type: decimal, precision: 12, scale: 2, min: 0}
  - {name: ratio, type: float, min: -1e6, max: 1e6}
  - {name: weight, type: decimal, precision: 20, scale: 19}
  - {name: active, type: boolean, true_values: [Yes], false_values: [No]}
  - {name: day, type: date, format: ['%Y-%m-%d', '%d %B %Y', '%m/%d/%Y']}
  - {name: seen, type: timestamp, format: ['%Y-%m-%dT%H:%M:%S%z', '%Y-%m-%d %H:%M:%S', '%s']}
EOF

# The file and, beside it, what Python expects of every good row.
python3 - "$T" <<'EOF'
import csv, random, sys
from datetime import datetime, timezone
from decimal import Decimal
T = sys.argv[1]
rnd = random.Random(9)
names = ["Zoë", "José", "Łukasz", "Ærø", "Ngozi", "Søren Kierk", "Ådne", "Bjørk", "Chloé", "Ünal"]
cities = ["Zürich", "São Paulo", "東京", "Kraków", "Reykjavík", "Oslo", "Μύκονος"]
months = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
rows, want = [], []
for i in range(1, 401):
    cents = int(10 ** rnd.uniform(0, 9)) if i % 10 else rnd.randrange(100)  # 0.00 .. 10^7
    p = Decimal(cents).scaleb(-2)
    style = i % 4
    if style == 0:
        price = f"{p:.2f}"
    elif style == 1:
        price = f"{p:.2f}0"                       # trailing zero beyond the scale
    elif style == 2:
        price = f"{p:E}" if p else "0"            # exponent form: 1.79327772E+6
    else:
        price = str(p.normalize()) if p else "0"  # as short as it gets, 1E+2 style too
    f = rnd.uniform(-1000, 1000) * 10 ** rnd.randrange(-6, 3)
    ratio = repr(f) if i % 3 else f"{f:.15g}"      # pandas (repr) and R (15 digits)
    if i % 7 == 0:
        ratio = f"{f:.16e}"                       # exponent forms
    w = Decimal(rnd.randrange(1, 10**16)).scaleb(-19)
    weight = f"{w:e}" if i % 2 else format(w, "f")  # Decimal's e: every digit, exact
    active = "Yes" if i % 5 else "No"
    y, m, d = rnd.randrange(1990, 2030), rnd.randrange(1, 13), rnd.randrange(1, 29)
    day = [f"{y:04d}-{m:02d}-{d:02d}", f"{d} {months[m-1]} {y}", f"{m:02d}/{d:02d}/{y}"][i % 3]
    hh, mm, ss = rnd.randrange(24), rnd.randrange(60), rnd.randrange(60)
    off = rnd.choice([0, 60, -300, 330, 600, -90])
    local = datetime(y, m, d, hh, mm, ss)
    if i % 3 == 0:
        sign = "+" if off >= 0 else "-"
        seen = local.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{abs(off)//60:02d}{abs(off)%60:02d}"
        from datetime import timedelta
        utc = local - timedelta(minutes=off)
        seen_want = utc.strftime("%Y-%m-%dT%H:%M:%S") + "Z"
    elif i % 3 == 1:
        seen = local.strftime("%Y-%m-%d %H:%M:%S")
        seen_want = local.strftime("%Y-%m-%dT%H:%M:%S")  # local: as written
    else:
        e = int(local.replace(tzinfo=timezone.utc).timestamp())
        seen = str(e)
        seen_want = datetime.fromtimestamp(e, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + "Z"
    name, city = names[i % len(names)], cities[i % len(cities)]
    rows.append([i, name, city, price, ratio, weight, active, day, seen])
    want.append([i, name, city, repr(float(p)), repr(float(ratio)),
                 format(Decimal(weight).quantize(Decimal(1).scaleb(-19)), "f"),
                 1 if active == "Yes" else 0, f"{y:04d}-{m:02d}-{d:02d}", seen_want])
# rows that must be rejected, with their codes
badrows = [
    [1001, "Zoë", "Oslo", "12.345", "1", "", "Yes", "2024-01-05", "", "VAL_TYPE"],      # 3 decimals
    [1002, "Zoë", "Oslo", "-1", "1", "", "Yes", "2024-01-05", "", "VAL_RANGE"],         # below min
    [1003, "Zoë", "Oslo", "1", "inf", "", "Yes", "2024-01-05", "", "VAL_TYPE"],         # no specials
    [1004, "Zoë", "Oslo", "1", "2e6", "", "Yes", "2024-01-05", "", "VAL_RANGE"],        # above max
    [1005, "Zoë", "Oslo", "1", "1", "", "yes", "2024-01-05", "", "VAL_TYPE"],           # spelling
    [1006, "Zoë", "Oslo", "1", "1", "", "Yes", "2024-02-30", "", "VAL_TYPE"],           # Feb 30
    [1007, "Zoë", "Oslo", "1", "1", "", "Yes", "30 February 2024", "", "VAL_TYPE"],
    [1008, "zoë", "Oslo", "1", "1", "", "Yes", "2024-01-05", "", "VAL_PATTERN"],        # lower case
    [1009, "Zoë", "Oslo 2", "1", "1", "", "Yes", "2024-01-05", "", "VAL_PATTERN"],      # a digit
    [1010, "Zoë", "Llanfairpwllgwyngyll", "1", "1", "", "Yes", "2024-01-05", "", "VAL_LENGTH"],
    [1011, "Zoë", "Oslo", "1", "1", "1e-20", "Yes", "2024-01-05", "", "VAL_TYPE"],      # scale 19
    [1012, "Zoë", "Oslo", "1", "1", "", "Yes", "2024-01-05", "2024-01-05T25:00:00Z", "VAL_TYPE"],
]
with open(f"{T}/t.csv", "w", newline="") as fh:
    wr = csv.writer(fh, lineterminator="\n")
    wr.writerow(["id", "name", "city", "price", "ratio", "weight", "active", "day", "seen"])
    for r in rows[:200] + [b[:-1] for b in badrows] + rows[200:]:
        wr.writerow(r)
    wr.writerow([2000, "NA", "NA", "NA", "NA", "NA", "NA", "NA", "NA"])  # every column null
with open(f"{T}/want.tsv", "w") as fh:
    for w in want:
        fh.write("\t".join(str(x) for x in w) + "\n")
with open(f"{T}/want_rejects", "w") as fh:
    for b in badrows:
        fh.write(f"{b[0]}\t{b[-1]}\n")
ps = [Decimal(r[3]) for r in rows]
with open(f"{T}/answers", "w") as fh:
    fh.write(f"{sum(1 for p in ps if p > 1000)}\n")
    fh.write(f"{max(ps).quantize(Decimal('0.01'))}\n")
    fh.write(f"{sum(ps).quantize(Decimal('0.01'))}\n")
    order = sorted(rows, key=lambda r: (-Decimal(r[3]), r[0]))[:10]
    fh.write(",".join(str(r[0]) for r in order) + "\n")
    fh.write(f"{sum(1 for r in rows if float(r[4]) < 0.5)}\n")
    fh.write(f"{min(float(r[4]) for r in rows)!r}\n")
EOF

sl ingest "$T/t.csv" --schema "$T/s.yaml" --db "$T/t.db" --chunk-size 4k >"$T/out"
check "exit status: some rows rejected" "$?" 3
check "rows loaded" "$(q 'SELECT count(*) FROM shop')" 401

# one storage class per column
check "price is REAL" "$(q "SELECT group_concat(DISTINCT typeof(price)) FROM shop WHERE price IS NOT NULL")" real
check "ratio is REAL" "$(q "SELECT group_concat(DISTINCT typeof(ratio)) FROM shop WHERE ratio IS NOT NULL")" real
check "weight (precision 20) is TEXT" "$(q "SELECT group_concat(DISTINCT typeof(weight)) FROM shop WHERE weight IS NOT NULL")" text
check "declared types" "$(q "SELECT group_concat(type, ',') FROM pragma_table_info('shop') WHERE name <> '_sluice_rec'")" \
	"INTEGER,TEXT,TEXT,REAL,REAL,TEXT,INTEGER,TEXT,TEXT,TEXT"
check "the NA row is NULL everywhere" "$(q "SELECT count(*) FROM shop WHERE id = 2000 AND coalesce(name, city, price, ratio, weight, active, day, seen) IS NULL")" 1

# numeric answers from SQL
{ read -r n_gt; read -r pmax; read -r psum; read -r top; read -r n_lt; read -r rmin; } <"$T/answers"
check "WHERE price > 1000" "$(q 'SELECT count(*) FROM shop WHERE price > 1000')" "$n_gt"
check "max(price)" "$(q "SELECT printf('%.2f', max(price)) FROM shop")" "$pmax"
check "sum(price)" "$(q "SELECT printf('%.2f', sum(price)) FROM shop")" "$psum"
check "ORDER BY price DESC" "$(q 'SELECT group_concat(id) FROM (SELECT id FROM shop WHERE price IS NOT NULL ORDER BY price DESC, id LIMIT 10)')" "$top"
check "WHERE ratio < 0.5" "$(q 'SELECT count(*) FROM shop WHERE ratio < 0.5')" "$n_lt"
got_min=$(q "SELECT printf('%!.17g', min(ratio)) FROM shop")
check "min(ratio), bit for bit" "$(python3 -c "print(float('$got_min') == $rmin)")" True

# every stored value equals Python's, doubles bit for bit (17 digits read back)
q "SELECT id, name, city, printf('%!.17g', price), printf('%!.17g', ratio), weight, active, day, seen FROM shop WHERE id < 1000 ORDER BY id" |
	tr '|' '\t' >"$T/got.tsv"
python3 - "$T" <<'EOF' >"$T/diff"
import sys
T = sys.argv[1]
want = [l.rstrip("\n").split("\t") for l in open(f"{T}/want.tsv")]
got = [l.rstrip("\n").split("\t") for l in open(f"{T}/got.tsv")]
if len(want) != len(got):
    print(f"{len(got)} rows, want {len(want)}")
for w, g in zip(want, got):
    for k, (a, b) in enumerate(zip(w, g)):
        same = float(a) == float(b) if k in (3, 4) else a == b
        if not same:
            print(f"id {w[0]} column {k}: got {b!r}, want {a!r}")
EOF
check "stored values = Python's" "$(head -5 "$T/diff")" ""

# the bad rows, with their codes
q "SELECT r.code FROM sluice_rejects r ORDER BY r.record" >"$T/codes"
check "reject codes" "$(tr '\n' ' ' <"$T/codes")" "$(cut -f2 "$T/want_rejects" | tr '\n' ' ')"
check "VAL_PATTERN quotes the pattern like the value" \
	"$(q "SELECT message FROM sluice_rejects WHERE code = 'VAL_PATTERN' ORDER BY record LIMIT 1")" \
	'name: "zoë" does not match "^\\p{Lu}\\p{L}*(?: \\p{L}+)*$"'

# a table made by an older sluice (decimals as TEXT) stays one storage
# class: new values go in as canonical text, like its old rows
cat >"$T/old.yaml" <<'EOF'
name: old
table: old
columns:
  - {name: id, type: integer}
  - {name: amount, type: decimal, precision: 10, scale: 2}
EOF
sqlite3 "$T/o.db" "CREATE TABLE old(id INTEGER, amount TEXT, _sluice_job TEXT NOT NULL); INSERT INTO old VALUES(1, '1.50', 'j0');"
printf 'id,amount\n2,2.5\n3,1e3\n4,0.10\n' >"$T/old.csv"
sl ingest "$T/old.csv" --schema "$T/old.yaml" --db "$T/o.db" >/dev/null
check "older TEXT decimal column: exit 0" "$?" 0
check "older TEXT decimal column: canonical text" "$(sqlite3 "$T/o.db" "SELECT group_concat(typeof(amount) || ':' || amount, ' ') FROM (SELECT amount FROM old ORDER BY id)")" \
	"text:1.50 text:2.50 text:1000.00 text:0.10"

finish types
