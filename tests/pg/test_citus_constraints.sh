#!/usr/bin/env bash
# Rows a Citus worker's shard refuses, each constraint kind the schema does
# not know (issue 12, "The sink"), on a coordinator and two workers (the
# `citus` fixture, tests/pg/fixture_citus.sh). Citus passes a worker's
# refusal inside a COPY into a distributed table on as its internal error
# XX000 with the worker's message (src/pg/pg_conn.c reads the class 23
# SQLSTATE and the constraint back from it), and by INSERT ... SELECT with
# the SQLSTATE but no constraint's field; on shards every constraint's name
# ends in the shard's id. For each kind, on the path that meets it: a CHECK,
# a foreign key to a reference table and NOT NULL on a column the schema
# allows empty, with the key (the sorted COPY refused, then the staging
# table's INSERT ... SELECT ... ON CONFLICT) and without (COPY bisected);
# a unique index on other columns and an exclusion constraint without the
# key (with it, the key's own index decides first). Each time: the job ends
# with rejects (exit 3), exactly the rows the oracle says break it are
# DB_CONSTRAINT with the SQLSTATE and the constraint's own name (not the
# shard's), every other row is loaded and none that breaks it. Then a keyed
# file loaded again into its table (--new): every key is there already, the
# sorted COPY's XX000 "duplicate key" is a refusal and each row a DUP_KEY;
# and an XX000 that is no constraint (a trigger's exception on the shards)
# is DB_ERROR: the chunk fails, nothing of it loads.
# Usage: test_citus_constraints.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/lib/harness.sh"
use_fixture citus
. "$SRC/tests/pg/citus_lib.sh"
NS=$(fixture_namespace)
DB=${NS}_c
citus_newdb "$DB" || bad "a database on every node"
URI="postgresql:///$DB"
q() { psql -d "$DB" -qAtc "$1"; }
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# 2,000 clean calls (one chunk); two with no end_time (the schema allows
# it), and for the table without a key two calls written twice
sl gen cdr --rows 2000 --error-rate 0 --seed 11 -o "$T/gen.csv" >/dev/null
check "gen" "$?" 0
python3 - "$T/gen.csv" "$T/in.csv" "$T/twice.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
for i in (700, 1700):
    rows[i][3] = ""
csv.writer(open(sys.argv[2], "w", newline=""), lineterminator="\n").writerows(rows)
csv.writer(open(sys.argv[3], "w", newline=""), lineterminator="\n").writerows(rows + [rows[300], rows[1500]])
PY
# the oracle's picks: three calls a CHECK bans, the recipients of two calls
# that a foreign key's table lacks
python3 - "$T/in.csv" "$T" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
d = sys.argv[2]
open(d + "/ban", "w").write(", ".join("'%s'" % rows[i]["reference"] for i in (10, 999, 1888)))
gone = {rows[i]["recipient"] for i in (20, 1300)}
csv.writer(open(d + "/known", "w", newline=""), lineterminator="\n").writerows(
    [r] for r in sorted({r["recipient"] for r in rows} - gone))
open(d + "/gone", "w").write(", ".join("'%s'" % g for g in sorted(gone)))
PY
BAN=$(cat "$T/ban")
GONE=$(cat "$T/gone")

key_yaml=$T/key.yaml
sed 's/^key: \[reference\]/key: [reference]\ndistribution: {column: reference, shard_count: 4}/' \
	"$SRC/examples/cdr.yaml" >"$key_yaml"
nokey_yaml=$T/nokey.yaml
sed -e '/^key:/d' -e '/^on_duplicate:/d' -e 's/^limits:/distribution: {column: caller_id, shard_count: 4}\nlimits:/' \
	"$SRC/examples/cdr.yaml" >"$nokey_yaml"
grep -q '^distribution:' "$key_yaml" && grep -q '^distribution:' "$nokey_yaml" || bad "the schemas have no distribution"

q "CREATE TABLE known_recipients (recipient text PRIMARY KEY)" &&
	q "SELECT create_reference_table('known_recipients')" >/dev/null &&
	psql -d "$DB" -qc "\\copy known_recipients FROM '$T/known' CSV" || bad "the reference table"

# table NAME KEYED EXTRA: the CDR table made by hand (then distributed by
# sluice), with EXTRA among its columns' definitions
table() {
	local pk=
	[ "$2" = keyed ] && pk="PRIMARY KEY"
	q "CREATE TABLE $1 (caller_id text, recipient text, call_date date, end_time time,
		duration bigint, cost numeric(12,3), reference text $pk, currency text,
		_sluice_job text NOT NULL, _sluice_row bigint GENERATED ALWAYS AS IDENTITY${3:+, $3})" ||
		bad "CREATE TABLE $1"
}

# refused WHAT TABLE KEYED FILE SQLSTATE CONSTRAINT WHERE: load FILE into
# TABLE (made with its constraint already); the rows of FILE that WHERE (SQL
# on the table's columns) picks are the ones to be refused, told by the
# oracle's count of them (the file loaded into an unconstrained table)
refused() {
	local what=$1 tb=$2 keyed=$3 file=$4 st=$5 con=$6 where=$7 yaml=$nokey_yaml
	[ "$keyed" = keyed ] && yaml=$key_yaml
	sed "s/^table: call_detail_records/table: $tb/" "$yaml" >"$T/$tb.yaml"
	sl ingest "$file" --schema "$T/$tb.yaml" --db "$URI" --json >"$T/$tb.json"
	check "$what: some rows rejected" "$?" 3
	check "$what: the table is distributed" \
		"$(q "SELECT count(*) FROM citus_shards WHERE table_name = '$tb'::regclass")" 4
	local j want got
	j=$(jget "$T/$tb.json" "d['job_id']")
	want=$(python3 - "$file" "$where" <<'PY'
import csv, sqlite3, sys
c = sqlite3.connect(":memory:")
c.execute("CREATE TABLE t (caller_id, recipient, call_date, end_time, duration, cost, reference, currency, n)")
rows = list(csv.reader(open(sys.argv[1], newline="")))[1:]
c.executemany("INSERT INTO t VALUES (?,?,?,nullif(?, ''),?,?,?,?,?)", [r + [i] for i, r in enumerate(rows)])
print(" ".join(r[0] for r in c.execute("SELECT reference FROM t WHERE " + sys.argv[2] + " ORDER BY n")))
PY
)
	[ -n "$want" ] || bad "$what: the oracle picks no row"
	sl errors "$j" --db "$URI" --format jsonl >"$T/$tb.err"
	check "$what: errors" "$?" 0
	got=$(python3 - "$T/$tb.err" "$st" "$con" <<'PY'
import csv, json, sys
st, con = sys.argv[2], sys.argv[3]
tail = ("SQLSTATE %s, constraint %s: " % (st, con)) if con else ("SQLSTATE %s: " % st)
for line in open(sys.argv[1]):
    e = json.loads(line)
    ok = e["code"] == "DB_CONSTRAINT" and e["message"].startswith("the database refused the row: " + tail)
    print(next(csv.reader([e["raw"]]))[6] if ok else "BAD:" + e["code"] + ":" + e["message"])
PY
)
	check "$what: the rows refused, DB_CONSTRAINT with SQLSTATE $st and constraint '$con'" "$(echo $got)" "$want"
	check "$what: rows_rejected" "$(jget "$T/$tb.json" "d['rows_rejected']")" "$(echo $want | wc -w)"
	local total
	total=$(python3 -c "import csv, sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline=''))) - 1)" "$file")
	check "$what: every other row loaded" "$(jget "$T/$tb.json" "d['rows_loaded']")" $((total - $(echo $want | wc -w)))
	check "$what: the table has the rows loaded" "$(q "SELECT count(*) FROM $tb")" "$(jget "$T/$tb.json" "d['rows_loaded']")"
}

for k in keyed nokey; do
	table chk_$k $k "CONSTRAINT banned CHECK (reference NOT IN ($BAN))"
	refused "CHECK, $k" chk_$k $k "$T/in.csv" 23514 banned "reference IN ($BAN)"
	check "CHECK, $k: no banned row" "$(q "SELECT count(*) FROM chk_$k WHERE reference IN ($BAN)")" 0

	# (distributed first: Citus makes a local table that refers to a
	# reference table a "Citus local table" of one shard)
	table fk_$k $k
	q "SELECT create_distributed_table('fk_$k', '$([ $k = keyed ] && echo reference || echo caller_id)', shard_count => 4)" >/dev/null &&
		q "ALTER TABLE fk_$k ADD CONSTRAINT known_recipient FOREIGN KEY (recipient) REFERENCES known_recipients" ||
		bad "the foreign key"
	refused "foreign key, $k" fk_$k $k "$T/in.csv" 23503 known_recipient "recipient IN ($GONE)"
	check "foreign key, $k: no unknown recipient" \
		"$(q "SELECT count(*) FROM fk_$k f WHERE NOT EXISTS (SELECT 1 FROM known_recipients k WHERE k.recipient = f.recipient)")" 0

	table nn_$k $k
	q "ALTER TABLE nn_$k ALTER COLUMN end_time SET NOT NULL" || bad "NOT NULL"
	refused "NOT NULL, $k" nn_$k $k "$T/in.csv" 23502 "" "end_time IS NULL"
done

# a unique index on columns other than a key (Citus: it must hold the
# distribution column): the later of each call written twice is refused
table uq_nokey nokey
q "CREATE UNIQUE INDEX one_call ON uq_nokey (caller_id, reference)" || bad "the unique index"
refused "unique index" uq_nokey nokey "$T/twice.csv" 23505 one_call \
	"n > (SELECT min(n) FROM t u WHERE u.caller_id = t.caller_id AND u.reference = t.reference)"
check "unique index: one row per call" "$(q "SELECT count(*) = count(DISTINCT (caller_id, reference)) FROM uq_nokey")" t
table ex_nokey nokey "CONSTRAINT no_overlap EXCLUDE USING btree (caller_id WITH =, reference WITH =)"
refused "exclusion" ex_nokey nokey "$T/twice.csv" 23P01 no_overlap \
	"n > (SELECT min(n) FROM t u WHERE u.caller_id = t.caller_id AND u.reference = t.reference)"
check "exclusion: one row per call" "$(q "SELECT count(*) = count(DISTINCT (caller_id, reference)) FROM ex_nokey")" t

# --- the keyed file again into its table: the sorted COPY meets the keys -------------
sl ingest "$T/in.csv" --schema "$T/chk_keyed.yaml" --db "$URI" --new --max-error-ratio 1 --json >"$T/again.json"
check "again: rejected" "$?" 3
check "again: nothing loaded" "$(jget "$T/again.json" "d['rows_loaded']")" 0
check "again: every row loaded before a duplicate, the banned ones refused again" \
	"$(jget "$T/again.json" "dict(sorted(d['rejects_by_code'].items()))")" \
	"{'DB_CONSTRAINT': 3, 'DUP_KEY': $(jget "$T/chk_keyed.json" "d['rows_loaded']")}"

# --- an XX000 that is no constraint: DB_ERROR, the chunk fails ---------------------------
table trg_nokey nokey
REF1=${BAN%%,*}
q "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
	IF NEW.reference = $REF1 THEN RAISE EXCEPTION 'sluice test: the trigger refuses %', NEW.reference; END IF;
	RETURN NEW; END \$\$" || bad "the trigger's function"
psql -d "$DB" -qc "SET citus.enable_unsafe_triggers TO on" -c "SELECT create_distributed_table('trg_nokey', 'caller_id', shard_count => 4)" \
	-c "CREATE TRIGGER refuse_one BEFORE INSERT ON trg_nokey FOR EACH ROW EXECUTE FUNCTION refuse_one()" >/dev/null ||
	bad "the trigger"
sed "s/^table: call_detail_records/table: trg_nokey/" "$nokey_yaml" >"$T/trg.yaml"
sl ingest "$T/in.csv" --schema "$T/trg.yaml" --db "$URI" --json >"$T/trg.json"
check "a trigger's exception: the job fails" "$(jget "$T/trg.json" "d['status']")" Failed
check "a trigger's exception: DB_ERROR" "$(jget "$T/trg.json" "d['error']['code']")" DB_ERROR
jget "$T/trg.json" "d['error']['message']" | grep -q "SQLSTATE XX000: sluice test: the trigger refuses" && ok ||
	bad "a trigger's exception: $(jget "$T/trg.json" "d['error']['message']")"
check "a trigger's exception: nothing loaded" "$(q "SELECT count(*) FROM trg_nokey")" 0
finish citus_constraints
