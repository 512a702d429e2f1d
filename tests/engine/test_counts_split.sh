#!/usr/bin/env bash
# Rows inserted and rows updated counted apart (issue 12, seed 002's
# records_inserted and records_updated): with on_duplicate: update a job and
# its chunks say how many loaded rows were new keys and how many replaced
# the row of their key (inserted + updated = loaded), in the JSON of ingest
# and status and in `sluice status`; with reject every loaded row is an
# insert, also when the table held some keys before (then they are
# rejects). The expected numbers come from Python reading the same file
# (distinct keys, keys already in the table), never from a sluice run.
# Keys 0, negative and the smallest 64-bit integer are in the file on
# purpose: an INTEGER key is SQLite's rowid, which is how an upsert's insert
# is told from its update (store_sqlite_target.c).
# Usage: test_counts_split.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
. "$SRC/tests/lib/harness.sh"
q() { sqlite3 -batch "$1" "$2"; }
# counts CSV [TABLE_KEYS]: "inserted updated" as a file-order load of CSV
# into a table holding TABLE_KEYS (comma-separated) counts them
counts() {
	python3 - "$1" "${2:-}" <<'PY'
import csv, sys
seen = {k for k in sys.argv[2].split(",") if k}
ins = upd = 0
for row in list(csv.reader(open(sys.argv[1], newline="")))[1:]:
    if row[0] in seen:
        upd += 1
    else:
        seen.add(row[0])
        ins += 1
print(ins, upd)
PY
}
for mode in update reject; do
	printf 'name: u\ntable: u\nkey: [id]\non_duplicate: %s\ncolumns:\n  - {name: id, type: integer, required: true}\n  - {name: v, type: text}\n' \
		"$mode" >"$T/$mode.yaml"
done
python3 - "$T/u.csv" <<'PY'
import random, sys
random.seed(12)
keys = [0, -5, -9223372036854775808, 9223372036854775807] + list(range(-40, 400))
with open(sys.argv[1], "w") as f:
    f.write("id,v\n")
    for i in range(6000):
        f.write("%d,v%d\n" % (random.choice(keys), i))
PY

# update, into a new table, in small chunks (keys repeat within and across chunks)
sl_run ingest "$T/u.csv" --schema "$T/update.yaml" --db "$T/a.db" --chunk-size 8k --json
check "update: exit 0" "$(rc)" 0
want=$(counts "$T/u.csv")
check "update: rows inserted and updated as a file-order load counts them" \
	"$(json "$T/out" "'%d %d' % (d['rows_inserted'], d['rows_updated'])")" "$want"
check "update: inserted + updated = loaded" "$(json "$T/out" "d['rows_inserted'] + d['rows_updated'] == d['rows_loaded']")" True
check "update: the table has the inserted keys" "$(q "$T/a.db" "SELECT count(*) FROM u")" "${want% *}"
J=$(json "$T/out" "d['job_id']")
sl_run status "$J" --db "$T/a.db" --chunks --json
check "status: exit 0" "$(rc)" 0
check "status: the chunks' splits add up to the job's" \
	"$(json "$T/out" "'%d %d' % (sum(c['rows_inserted'] for c in d['chunks']), sum(c['rows_updated'] for c in d['chunks']))")" "$want"
check "status: each chunk's split adds up to its loaded rows" \
	"$(json "$T/out" "all(c['rows_inserted'] + c['rows_updated'] == c['rows_loaded'] for c in d['chunks'])")" True
check "status: several chunks" "$(json "$T/out" "len(d['chunks']) > 2")" True
sl_run status "$J" --db "$T/a.db"
check "status, text: exit 0" "$(rc)" 0
check "status, text: the loaded line" "$(grep '^  loaded ' "$T/out")" "  loaded   ${want% *} inserted, ${want#* } updated"

# update again, the same rows with the table full: every row an update
keys=$(q "$T/a.db" "SELECT group_concat(id) FROM u")
sl_run ingest "$T/u.csv" --schema "$T/update.yaml" --db "$T/a.db" --chunk-size 8k --new --json
check "update again: exit 0" "$(rc)" 0
check "update again: every row an update" \
	"$(json "$T/out" "'%d %d' % (d['rows_inserted'], d['rows_updated'])")" "$(counts "$T/u.csv" "$keys")"

# reject, into a table holding some keys: no updates, the rest rejected
head -200 "$T/u.csv" >"$T/first.csv"
sl_run ingest "$T/first.csv" --schema "$T/reject.yaml" --db "$T/r.db" --json
check "reject, first part: exit 3 (repeated keys)" "$(rc)" 3
keys=$(q "$T/r.db" "SELECT group_concat(id) FROM u")
sl_run ingest "$T/u.csv" --schema "$T/reject.yaml" --db "$T/r.db" --chunk-size 8k --json
check "reject: exit 3" "$(rc)" 3
ins=$(counts "$T/u.csv" "$keys")
check "reject: only inserts, as many as new keys" \
	"$(json "$T/out" "'%d %d %d' % (d['rows_inserted'], d['rows_updated'], d['rows_loaded'])")" "${ins% *} 0 ${ins% *}"
sl_run status "$(json "$T/out" "d['job_id']")" --db "$T/r.db"
check "reject, status text: no loaded line without updates" "$(grep -c '^  loaded ' "$T/out")" 0

finish counts_split
