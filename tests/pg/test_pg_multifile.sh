#!/usr/bin/env bash
# Several files as one job on PostgreSQL (issue 13): a glob of a plain, a
# gzip and a zstd file loaded with --db postgres://... gives the counts, the
# rejects (file, line, offset, code) and the table of the same glob loaded
# into SQLite; the manifest and the rejects' files are in sluice.jobs.files
# and sluice.rejects.file (migration 5); a kill -9 mid-job resumes exactly
# once and a file added to the set refuses the resume.
# Usage: test_pg_multifile.sh SLUICE SOURCE_DIR
set -u
S=$(realpath "$1")
SRC=$2
. "$SRC/tests/lib/harness.sh"
use_fixture postgres
export PGHOST PGPORT PGUSER
command -v zstd >/dev/null || skip "no zstd command" installable
NS=$(fixture_namespace)
CDR=$SRC/examples/cdr.yaml
newdb() { psql -d postgres -qAtc "CREATE DATABASE $1" >/dev/null || bad "CREATE DATABASE $1"; }
pq() { psql -d "$1" -qAtc "$2"; }
sq() { sqlite3 -batch "$1" "$2"; }

mkdir -p "$T/in"
# f1 without quoted line breaks: its lines are whole records, to repeat in b
for i in 1 2 3; do
	sl_run gen cdr --rows 2000 --error-rate 0.03 --seed $((60 + i)) $([ $i = 1 ] && echo --quoted-rate 0) -o "$T/f$i.csv"
	check "gen $i" "$(rc)" 0
done
cp "$T/f1.csv" "$T/in/a.csv"
{ cat "$T/f2.csv"; sed -n '5,25p' "$T/f1.csv"; } | gzip -c >"$T/in/b.csv.gz"
zstd -q -c "$T/f3.csv" >"$T/in/c.csv.zst"

sl_run ingest "$T/in/*" --schema "$CDR" --db "$T/sq.db" --chunk-size 20k --json
check "SQLite: exit 3" "$(rc)" 3
cp "$T/out" "$T/sq.json"
DB=${NS}_multi
newdb "$DB"
sl_run ingest "$T/in/*" --schema "$CDR" --db "postgresql:///$DB" --chunk-size 20k --threads 2 --json
check "PostgreSQL: exit 3" "$(rc)" 3
for f in rows_read rows_loaded rows_rejected chunks_total rejects_by_code files; do
	check "$f: PostgreSQL as SQLite" "$(json "$T/out" "d['$f']")" "$(json "$T/sq.json" "d['$f']")"
done
sq "$T/sq.db" "SELECT file, line, \"offset\", code FROM sluice_rejects ORDER BY record" >"$T/want"
pq "$DB" "SELECT file, line, \"offset\", code FROM sluice.rejects ORDER BY record" >"$T/got"
cmp -s "$T/want" "$T/got" && ok || bad "rejects (file, line, offset, code) differ: $(diff "$T/want" "$T/got" | head -3)"
check "rejects name the three files" "$(pq "$DB" "SELECT count(DISTINCT file) FROM sluice.rejects")" 3
check "the manifest: a line per file" "$(pq "$DB" "SELECT files FROM sluice.jobs" | grep -c .)" 3
sq "$T/sq.db" "SELECT reference, caller_id, cost FROM call_detail_records ORDER BY reference" >"$T/want"
pq "$DB" "SELECT reference, caller_id, cost FROM call_detail_records ORDER BY reference" | sed 's/|\([0-9]*\.[0-9]*\)$/|\1/' >"$T/got"
check "the table's rows: as SQLite's" "$(wc -l <"$T/got") $(cut -d'|' -f1 "$T/got" | md5sum)" "$(wc -l <"$T/want") $(cut -d'|' -f1 "$T/want" | md5sum)"

# kill -9 mid-job, resume exactly once; a file added refuses the resume
DB2=${NS}_kill
newdb "$DB2"
mkdir -p "$T/p"
SLUICE_TEST_PAUSE="12:$T/p" sl_start "$T/k.err" ingest "$T/in/*" --schema "$CDR" --db "postgresql:///$DB2" \
	--chunk-size 20k --threads 2 --quiet >/dev/null
pid=$BG_PID
wait_for "the ingest to pause before chunk 12" 3000 test -e "$T/p/paused"
sl_kill9 "$pid" "$T/k.err"
check "killed: 12 chunks committed" "$(pq "$DB2" "SELECT count(*) FROM sluice.chunks WHERE status = 'Succeeded'")" 12
cp "$T/f2.csv" "$T/in/b2.csv"
sl_run ingest "$T/in/*" --schema "$CDR" --db "postgresql:///$DB2"
check "a file added: refused" "$(rc)" 4
grep -qF "$T/in/b2.csv is new in the set" "$T/err" && ok || bad "a file added: the message ($(cat "$T/err"))"
rm -f "$T/in/b2.csv"
sl_run ingest "$T/in/*" --schema "$CDR" --db "postgresql:///$DB2" --chunk-size 20k --json
check "resumed: exit 3" "$(rc)" 3
check "resumed: the counts of the whole load" "$(json "$T/out" "d['resumed'], d['rows_read'], d['rows_loaded'], d['rows_rejected']")" \
	"True $(json "$T/sq.json" "d['rows_read'], d['rows_loaded'], d['rows_rejected']" )"
check "resumed: no key twice, the rows loaded" "$(pq "$DB2" "SELECT count(*) - count(DISTINCT reference), count(*) FROM call_detail_records")" \
	"0|$(json "$T/sq.json" "d['rows_loaded']")"

finish
