# Sourced by the refeed tests (tests/engine/refeed_body.sh,
# tests/engine/test_refeed_kill.sh, tests/pg/test_pg_refeed.sh) after the
# harness: the file with two kinds of bad rows and the schemas that fix
# them. $T/in.csv is 3000 generated CDR rows with every 9th record's date
# ISO-style (VAL_TYPE for examples/cdr.yaml's '%d/%m/%Y'; fixed.yaml takes
# both formats) and every 41st record's currency XXX (VAL_ENUM; only
# fixed2.yaml allows it), not both; $T/iso.txt and $T/xxx.txt list their
# record numbers, NISO and NXXX count them.
sl gen cdr --rows 3000 --seed 7 -o "$T/gen.csv"
check "gen: exit" "$?" 0
python3 - "$T/gen.csv" "$T/in.csv" "$T/iso.txt" "$T/xxx.txt" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
iso, xxx = [], []
for i, r in enumerate(rows[1:], start=1):
    if i % 9 == 0:
        d, m, y = r[2].split("/")
        r[2] = "%s-%s-%s" % (y, m, d)
        iso.append(i)
    elif i % 41 == 0:
        r[7] = "XXX"
        xxx.append(i)
with open(sys.argv[2], "w", newline="") as f:
    csv.writer(f, lineterminator="\n").writerows(rows)
open(sys.argv[3], "w").write("".join("%d\n" % i for i in iso))
open(sys.argv[4], "w").write("".join("%d\n" % i for i in xxx))
PY
NISO=$(wc -l <"$T/iso.txt")
NXXX=$(wc -l <"$T/xxx.txt")
sed "s|    format: '%d/%m/%Y'|    format: ['%d/%m/%Y', '%Y-%m-%d']|" "$SRC/examples/cdr.yaml" >"$T/fixed.yaml"
sed 's|enum: \[GBP, EUR, USD\]|enum: [GBP, EUR, USD, XXX]|' "$T/fixed.yaml" >"$T/fixed2.yaml"
check "fixed.yaml differs from cdr.yaml in the format only" "$(diff "$SRC/examples/cdr.yaml" "$T/fixed.yaml" | grep -c '^[<>]')" 2
check "fixed2.yaml allows XXX" "$(grep -c 'USD, XXX' "$T/fixed2.yaml")" 1
