# Fix and refeed (sluice refeed, docs/ingest.md), written once and run per
# backend: sourced by tests/engine/test_refeed.sh (SQLite) and
# tests/pg/test_pg_refeed.sh (PostgreSQL) after harness.sh and their
# backend's tests/lib/backend_*.sh (db, db_new, q, db_json, refeed_dir, META).
# A job's rejected rows are loaded again through a fixed schema as a new job
# linked to the first. The file is a generated one with two kinds of bad
# rows made here: call dates written ISO-style (VAL_TYPE for
# examples/cdr.yaml's '%d/%m/%Y', fixed by a schema with a list of formats)
# and the currency XXX (VAL_ENUM, fixed only by a schema that allows it).
# Which records are bad comes from the script that made them; the tables
# are compared with the oracle (tests/lib/oracle.py) reading the same file
# with the schema in force; the resolved marks and counts are the same for
# one thread and for four with small chunks; refeeds refused (another
# table, no such job, the first file changed) make no job.
has() { if grep -qF -- "$2" "$3"; then ok; else bad "$1: '$2' not in $(head -c 600 "$3")"; fi; }
# table_with NAME SCHEMA: the table holds exactly what the oracle reads from the file with SCHEMA
table_with() {
	db_json "$1" >"$T/got.json" && python3 "$ORACLE" compare "$T/in.csv" "$T/got.json" --schema "$2"
}

. "$SRC/tests/lib/refeed_data.sh"

# run_all NAME THREADS CHUNK TAG: the whole story on one new database;
# writes the resolved marks (job order, record, resolved by which refeed in
# order) and the jobs' counts to $T/marks.TAG
run_all() {
	local n=$1 th=$2 cs=$3 tag=$4 uri
	db_new "$n"
	uri=$(db "$n")
	sl_run ingest "$T/in.csv" --schema "$SRC/examples/cdr.yaml" --db "$uri" --threads "$th" --chunk-size "$cs" --max-error-ratio 1 --json
	check "$tag ingest: exit 3" "$(rc)" 3
	J=$(json "$T/out" "d['job_id']")
	check "$tag ingest: VAL_TYPE rejects = the ISO dates" "$(json "$T/out" "d['rejects_by_code'].get('VAL_TYPE')")" "$NISO"
	check "$tag ingest: VAL_ENUM rejects = the XXX currencies" "$(json "$T/out" "d['rejects_by_code'].get('VAL_ENUM')")" "$NXXX"
	check "$tag ingest: rejects_open = rows_rejected" "$(json "$T/out" "d['rejects_open'] == d['rows_rejected'] and d['refeed_of'] is None")" True
	table_with "$n" "$SRC/examples/cdr.yaml" && ok || bad "$tag ingest: the table is not the oracle's (cdr.yaml)"

	# the same broken schema: nothing loads, nothing is resolved
	sl_run refeed "$J" --db "$uri" --threads "$th" --chunk-size "$cs" --json
	check "$tag refeed, same schema: exit 3 (all rejected again)" "$(rc)" 3
	check "$tag refeed, same schema: all read, none loaded" "$(json "$T/out" "(d['rows_read'], d['rows_loaded'], d['refeed_of'])")" "($((NISO + NXXX)), 0, '$J')"
	check "$tag refeed, same schema: nothing resolved" "$(json "$T/out" "(d['first']['rejects_open'], d['first']['rejects_resolved'])")" "($((NISO + NXXX)), 0)"
	R0=$(json "$T/out" "d['job_id']")

	# the fixed schema: the ISO dates load, the XXX rows are rejected again
	sl_run refeed "$J" --schema "$T/fixed.yaml" --db "$uri" --threads "$th" --chunk-size "$cs" --json
	check "$tag refeed, fixed: exit 3" "$(rc)" 3
	check "$tag refeed, fixed: read, loaded, rejected" "$(json "$T/out" "(d['rows_read'], d['rows_loaded'], d['rows_rejected'], d['rejects_by_code'])")" "($((NISO + NXXX)), $NISO, $NXXX, {'VAL_ENUM': $NXXX})"
	check "$tag refeed, fixed: the first job's rejects_open" "$(json "$T/out" "(d['first']['rejects_open'], d['first']['rejects_resolved'])")" "($NXXX, $NISO)"
	R1=$(json "$T/out" "d['job_id']")
	table_with "$n" "$T/fixed.yaml" && ok || bad "$tag refeed, fixed: the table is not the oracle's (fixed.yaml)"
	check "$tag refeed, fixed: the ISO records are resolved by it" \
		"$(q "$n" "SELECT record FROM ${META}rejects WHERE job_id = '$J' AND resolved_by = '$R1' ORDER BY record" | tr '\n' ' ')" \
		"$(tr '\n' ' ' <"$T/iso.txt")"
	check "$tag refeed, fixed: the earlier refeed's copies of them resolved too" \
		"$(q "$n" "SELECT count(*) FROM ${META}rejects WHERE job_id = '$R0' AND resolved_by = '$R1'")" "$NISO"
	sl_run errors "$J" --db "$uri" --open --format jsonl
	check "$tag errors --open: exit 0" "$(rc)" 0
	check "$tag errors --open: only the rows still open (the XXX ones)" \
		"$(python3 -c "import json,sys; print(' '.join(str(json.loads(l)['record']) for l in open(sys.argv[1])))" "$T/out")" \
		"$(tr '\n' ' ' <"$T/xxx.txt" | sed 's/ $//')"
	sl_run errors "$J" --db "$uri" --format jsonl
	check "$tag errors without --open: every reject" "$(grep -c . "$T/out")" $((NISO + NXXX))
	check "$tag counts add up: rows in the table = loaded by the jobs" \
		"$(q "$n" "SELECT count(*) FROM call_detail_records")" \
		"$(q "$n" "SELECT sum(rows_loaded) FROM ${META}jobs")"
	check "$tag every row once: no reference twice" "$(q "$n" "SELECT count(*) - count(DISTINCT reference) FROM call_detail_records")" 0

	# again with the fixed schema: only the rows still open (the XXX ones)
	sl_run refeed "$J" --schema "$T/fixed.yaml" --db "$uri" --threads "$th" --json
	check "$tag second fixed refeed: takes only the open rows" "$(json "$T/out" "(d['rows_read'], d['rows_loaded'])")" "($NXXX, 0)"
	# a refeed of the refeed, with XXX allowed: the rest loads, the first job is done
	sl_run refeed "$R1" --schema "$T/fixed2.yaml" --db "$uri" --threads "$th" --json
	check "$tag refeed of a refeed: exit 0" "$(rc)" 0
	check "$tag refeed of a refeed: links and loads" "$(json "$T/out" "(d['refeed_of'], d['rows_loaded'], d['first']['rejects_open'])")" "('$R1', $NXXX, 0)"
	R3=$(json "$T/out" "d['job_id']")
	sl_run status "$J" --db "$uri" --json
	check "$tag the first job: nothing open" "$(json "$T/out" "(d['rejects_open'], d['rejects_resolved'], d['rows_rejected'])")" "(0, $((NISO + NXXX)), $((NISO + NXXX)))"
	table_with "$n" "$T/fixed2.yaml" && ok || bad "$tag refeed of a refeed: the table is not the oracle's (fixed2.yaml)"
	sl_run refeed "$J" --schema "$T/fixed2.yaml" --db "$uri" --json
	check "$tag nothing open: exit 2" "$(rc)" 2
	has "$tag nothing open: says so" "has no open rejected rows to refeed" "$T/err"
	has "$tag nothing open: the code" "(NO_OPEN_REJECTS)" "$T/err"
	# a rollback of the last refeed gives its rows back to the open ones
	sl_run rollback "$R3" --db "$uri" --json
	check "$tag rollback of a refeed: exit 0" "$(rc)" 0
	sl_run status "$J" --db "$uri" --json
	check "$tag after the rollback: the XXX rows open again" "$(json "$T/out" "d['rejects_open']")" "$NXXX"
	sl_run refeed "$J" --schema "$T/fixed2.yaml" --db "$uri" --threads "$th" --json
	check "$tag refeed after the rollback: loads them again" "$(json "$T/out" "(d['rows_loaded'], d['first']['rejects_open'])")" "($NXXX, 0)"
	table_with "$n" "$T/fixed2.yaml" && ok || bad "$tag after the rollback and refeed: the table is not the oracle's"
	check "$tag no refeed input left where it was written" "$(ls "$(refeed_dir "$n")" | grep -c 'refeed-')" 0
	q "$n" "SELECT j.seq, r.record, coalesce(b.seq, 0) FROM ${META}rejects r JOIN ${META}jobs j ON j.id = r.job_id LEFT JOIN ${META}jobs b ON b.id = r.resolved_by ORDER BY j.seq, r.record" >"$T/marks.$tag"
	q "$n" "SELECT seq, rows_read, rows_loaded, rows_rejected FROM ${META}jobs ORDER BY seq" >>"$T/marks.$tag"
}
run_all one 1 64M one
run_all four 4 32K four
check "the resolved marks and counts are the same for 1 and 4 threads" "$(cmp -s "$T/marks.one" "$T/marks.four" && echo same)" same
check "... and there were many chunks with 4 threads" "$([ "$(q four "SELECT max(chunks_total) FROM ${META}jobs")" -gt 3 ] && echo yes)" yes

# refused: another table, no such job, the first job's file changed (its header is needed)
sed 's/^table: .*/table: other_table/' "$T/fixed.yaml" >"$T/other.yaml"
db_new b
B=$(db b)
sl_run ingest "$T/in.csv" --schema "$SRC/examples/cdr.yaml" --db "$B" --max-error-ratio 1 --json
J=$(json "$T/out" "d['job_id']")
sl_run refeed "$J" --schema "$T/other.yaml" --db "$B"
check "another table: exit 2" "$(rc)" 2
has "another table: says so" "a refeed loads into the same table" "$T/err"
sl_run refeed j0000000000000000000 --db "$B"
check "no such job: exit 2" "$(rc)" 2
has "no such job: NOT_FOUND" "(NOT_FOUND)" "$T/err"
touch -d '2001-01-01' "$T/in.csv"
sl_run refeed "$J" --schema "$T/fixed.yaml" --db "$B"
check "the first file changed: exit 4" "$(rc)" 4
has "the first file changed: IO_CHANGED" "(IO_CHANGED)" "$T/err"
sl_run status "$J" --db "$B" --json
check "the refused refeeds left the rows open" "$(json "$T/out" "d['rejects_open'] == d['rows_rejected']")" True
check "... and made no job" "$(q b "SELECT count(*) FROM ${META}jobs")" 1
