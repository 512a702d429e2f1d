# Shared by tests/pg/test_pg_determinism.sh and test_pg_workers.sh (sourced,
# after tests/lib/harness.sh): what must be equal between a load into
# PostgreSQL and a one-thread load of the same file into SQLite, read with
# each database's own shell (sqlite3, psql) and the CLI's readers, each
# part normalised to one text: the table (every value, numbers as numbers,
# and the record each row came from), the rejects with their messages
# (sorted by record), the job's counts (rows inserted and updated too) and
# every chunk's read, loaded and rejected (a chunk's inserted and updated
# are what its commit did: docs/ingest.md).
# The table is examples/cdr.yaml's. Needs sl, bad and ok from the harness.
COLS="caller_id, recipient, call_date, end_time, duration, cost, reference, currency, _sluice_rec"
# rows of a JSON array, one normalised line each, sorted (no collation
# differs between the two databases: Python sorts)
norm_rows() {
	python3 -c '
import json, sys
rows = json.load(sys.stdin)
out = []
for r in rows:
    out.append("|".join(repr(float(v)) if isinstance(v, (int, float)) and not isinstance(v, bool)
                        else "NULL" if v is None else str(v) for v in r.values()))
print("\n".join(sorted(out)))'
}
# the rejects listing (sluice errors) ordered by record, CSV as printed
norm_errors() {
	python3 -c '
import csv, sys
r = list(csv.reader(sys.stdin))
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(r[0])
for row in sorted(r[1:], key=lambda x: int(x[1])):
    w.writerow(row)'
}
# the job's counts from `sluice status --json`
norm_status() {
	python3 -c '
import json, sys
d = json.load(sys.stdin)
for f in ("status", "rows_read", "rows_loaded", "rows_inserted", "rows_updated", "rows_rejected", "chunks_total",
          "chunks_succeeded", "chunks_failed", "bytes_done", "records_padded", "records_truncated"):
    print(f, d.get(f))
print("codes", sorted(d["rejects_by_code"].items()))'
}
# state KIND DB JOB OUT: what must be equal, into OUT.{table,errors,status,chunks}
state() {
	local kind=$1 db=$2 job=$3 out=$4 uri
	if [ "$kind" = sqlite ]; then
		uri=$db
		sqlite3 -batch -json "$db" "SELECT $COLS FROM call_detail_records" | norm_rows >"$out.table"
		sqlite3 -batch "$db" "SELECT seq, rows_read, rows_loaded, rows_rejected FROM sluice_chunks ORDER BY seq" >"$out.chunks"
	else
		uri=postgresql:///$db
		psql -d "$db" -qAtc "SELECT coalesce(json_agg(t), '[]') FROM (SELECT caller_id, recipient,
			to_char(call_date, 'YYYY-MM-DD') AS call_date, end_time::text AS end_time, duration,
			cost, reference, currency, _sluice_rec FROM call_detail_records) t" | norm_rows >"$out.table"
		psql -d "$db" -qAtc "SELECT seq, rows_read, rows_loaded, rows_rejected FROM sluice.chunks ORDER BY seq" >"$out.chunks"
	fi
	sl errors "$job" --db "$uri" | norm_errors >"$out.errors" || bad "$out: errors"
	sl status "$job" --db "$uri" --json | norm_status >"$out.status" || bad "$out: status"
}
# same WHAT REF GOT: each part of two states equal
same() {
	local part
	for part in table errors status chunks; do
		cmp -s "$2.$part" "$3.$part" && ok ||
			bad "$1: the $part differs from the one-thread SQLite load's: $(diff "$2.$part" "$3.$part" | head -6)"
	done
}
