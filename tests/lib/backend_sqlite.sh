# The SQLite side of the engine tests written once and run per backend
# (tests/engine/*_body.sh; tests/lib/backend_pg.sh is the PostgreSQL side).
# Sourced after harness.sh. A test names its databases with short names;
# this file says what a name is here and reads the database with a reader
# that is not the program under test, the sqlite3 shell:
#   db_new NAME        an empty database (a file made by the first load)
#   db_copy NAME FROM  NAME a copy of FROM
#   db NAME            the --db argument
#   q NAME SQL         the reader: rows a line, `|` between columns
#   db_json NAME       call_detail_records as JSON rows (the sqlite3
#                      shell's -json), ordered by reference: the oracle's input
#   staged NAME        how many of sluice's own tables stand beside the target
#                      (a replace job's shadow, an atomic job's stage)
#   aside NAME         the rows in that table
#   refeed_dir NAME    where a refeed's input file goes (next to the file)
#   META               the prefix of sluice's own tables (sluice_jobs, ...)
BACKEND=sqlite
META=sluice_
mkdir -p "$T/dbs"
db() { echo "$T/dbs/$1.db"; }
db_new() { rm -f "$(db "$1")"; }
db_copy() { cp "$(db "$2")" "$(db "$1")"; }
q() { sqlite3 -batch "$(db "$1")" "$2"; }
db_json() {
	local out
	out=$(sqlite3 -batch -json "$(db "$1")" "SELECT caller_id, recipient, call_date, end_time, duration, cost,
		reference, currency FROM call_detail_records ORDER BY reference") || return 1
	echo "${out:-[]}"
}
STAGED_WHERE="type = 'table' AND name LIKE '\\_sluice\\_%' ESCAPE '\\'"
staged() { q "$1" "SELECT count(*) FROM sqlite_master WHERE $STAGED_WHERE"; }
aside() { q "$1" "SELECT count(*) FROM \"$(q "$1" "SELECT name FROM sqlite_master WHERE $STAGED_WHERE")\""; }
refeed_dir() { dirname "$(db "$1")"; }
