#!/usr/bin/env bash
# `sluice jobs` a page at a time (the job store's keyset listing): --limit
# pages walked with --after (the next_cursor of --json, the "next:" line of
# the table) give every job once, newest first, the same as one unlimited
# listing; --status and --dataset filter in the store, with the cursor.
# Usage: test_jobs_page.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
. "$SRC/tests/lib/harness.sh"

# 5 jobs: 5 different small files (--new: each its own job)
for i in 1 2 3 4 5; do
	sl_run gen cdr --rows 20 --error-rate 0 --seed "$i" -o "$T/in$i.csv"
	sl_run ingest "$T/in$i.csv" --schema "$SCHEMA" --db "$T/s.db" --json
	check "ingest $i: exit 0" "$RC" 0
done
sl_run jobs --db "$T/s.db" --json
check "all: exit 0" "$RC" 0
ALL=$(json "$T/out" "' '.join(j['job_id'] for j in d['jobs'])")
check "all: 5 jobs" "$(json "$T/out" "len(d['jobs'])")" 5
check "all: the whole list, no cursor" "$(json "$T/out" "'next_cursor' in d")" False

# pages of 2 (JSON): 2 + 2 + 1, in the order of the whole listing
GOT="" CUR="" PAGES=0
while :; do
	if [ -n "$CUR" ]; then sl_run jobs --db "$T/s.db" --json --limit 2 --after "$CUR"
	else sl_run jobs --db "$T/s.db" --json --limit 2; fi
	check "page $PAGES: exit 0" "$RC" 0
	GOT="$GOT $(json "$T/out" "' '.join(j['job_id'] for j in d['jobs'])")"
	PAGES=$((PAGES + 1))
	CUR=$(json "$T/out" "d['next_cursor'] or ''")
	[ -n "$CUR" ] || break
	[ "$PAGES" -lt 10 ] || { bad "pages never end"; break; }
done
check "pages: 3 of them" "$PAGES" 3
check "pages: every job once, newest first" "$(echo $GOT)" "$ALL"

# the table: a "next:" line when a page is full, none on the last page
sl_run jobs --db "$T/s.db" --limit 4
NEXT=$(sed -n 's/^next: //p' "$T/out")
[ -n "$NEXT" ] && ok || bad "table: a next line ($(cat "$T/out"))"
check "table: 4 jobs and the header and next" "$(wc -l <"$T/out")" 6
sl_run jobs --db "$T/s.db" --limit 4 --after "$NEXT"
check "table: last page, 1 job, no next line" "$(wc -l <"$T/out")" 2
check "table: the oldest job" "$(awk 'NR==2 {print $1}' "$T/out")" "${ALL##* }"

# filters in the store, with a limit
sl_run jobs --db "$T/s.db" --json --status Succeeded --dataset cdr --limit 10
check "filters: 5 Succeeded cdr jobs" "$(json "$T/out" "len(d['jobs'])")" 5
sl_run jobs --db "$T/s.db" --json --dataset nosuch
check "filters: no job of another dataset" "$(json "$T/out" "len(d['jobs'])")" 0
sl_run jobs --db "$T/s.db" --json --status Failed
check "filters: no Failed job" "$(json "$T/out" "len(d['jobs'])")" 0
# a malformed cursor or limit is the caller's mistake
sl_run jobs --db "$T/s.db" --after nonsense
check "bad cursor: exit 2" "$RC" 2
sl_run jobs --db "$T/s.db" --limit 0
check "bad limit: exit 2" "$RC" 2

finish jobs_page
