#!/usr/bin/env bash
# End-to-end tests of options no other test used: --version, the human
# outputs of ingest, status, jobs and errors, ingest --max-error-ratio and
# --correlation-id, a resume that finishes a job cut short, jobs --status,
# and serve's --max-connections, --url-ttl and --secret, with the jobs
# list's status and prefix filters. Expected values come from sources
# independent of the program: the generator's manifest, awk and Python
# (csv, sqlite3, hmac) reading the files and the database.
# Usage: test_options.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
SCHEMA=$SRC/examples/cdr.yaml
# sl_run ARGS: every run of the program (stdout $T/out, stderr $T/err,
# status RC); serve/stop_server for `sluice serve` on port 0
. "$SRC/tests/http/lib.sh"

# --- --version: the project's version, one fact: SLUICE_VERSION in serve.h (CMakeLists.txt reads it)
sl_run --version
want=$(sed -n 's/^#define SLUICE_VERSION "\([0-9.]*\)"$/\1/p' "$SRC/include/sluice/serve.h")
check "the version is defined once, in serve.h" "$(grep -c 'VERSION 0\.\|"0\.[0-9]' "$SRC/CMakeLists.txt" "$SRC/cli/main.c" | awk -F: '{s+=$2} END {print s}')" 0
check "--version exit" "$RC" 0
check "--version" "$(cat "$T/out")" "sluice $want"

# --- a generated file and what its manifest says -----------------------------------------
ROWS=3000
sl_run gen cdr --rows $ROWS --error-rate 0.05 --seed 11 --manifest "$T/man.tsv" -o "$T/cdr.csv"
check "gen: exit 0" "$RC" 0
BAD=$(wc -l <"$T/man.tsv")
LOADED=$((ROWS - BAD))
[ "$BAD" -gt 50 ] && ok || bad "the manifest lists only $BAD bad rows"
# defect -> code, as docs/gen.md's table says; "CODE count" lines, sorted
codes_of() { awk -F'\t' 'BEGIN {
	m["TOO_FEW_FIELDS"]="CSV_TOO_FEW_FIELDS"; m["TOO_MANY_FIELDS"]="CSV_TOO_MANY_FIELDS";
	m["STRAY_QUOTE"]="CSV_STRAY_QUOTE"; m["MISSING_CALLER"]="VAL_REQUIRED"; m["BAD_CALLER"]="VAL_PATTERN";
	m["BAD_DATE"]="VAL_TYPE"; m["BAD_TIME"]="VAL_TYPE"; m["NEGATIVE_DURATION"]="VAL_RANGE";
	m["BAD_COST"]="VAL_TYPE"; m["BAD_CURRENCY"]="VAL_ENUM"; m["DUP_REFERENCE"]="DUP_KEY" }
	{ print $1 "\t" $2 "\t" m[$3] }' "$1"; }
codes_of "$T/man.tsv" >"$T/want_rows.tsv"
cut -f3 "$T/want_rows.tsv" | sort | uniq -c | awk '{print $2, $1}' >"$T/want_codes"

# --- ingest, human summary and --correlation-id --------------------------------------------
sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/a.db" --correlation-id batch-a-1
check "ingest of a file with bad rows: exit 3" "$RC" 3
cp "$T/out" "$T/summary"
JOB=$(sed -n 's/^job \(j[0-9a-f]*\): .*/\1/p' "$T/summary")
[ -n "$JOB" ] && ok || bad "the summary names no job ($(head -3 "$T/summary"))"
check "summary: status line" "$(head -1 "$T/summary")" "job $JOB: PartiallySucceeded"
check "summary: rows" "$(grep -E '^  rows ' "$T/summary" | tr -s ' ')" " rows $ROWS read, $LOADED loaded, $BAD rejected"
awk '$1 ~ /^(CSV|VAL|DUP)_/ && NF == 2 {print $1, $2}' "$T/summary" | sort >"$T/got_codes"
check "summary: rejects by code = manifest" "$(cat "$T/got_codes")" "$(cat "$T/want_codes")"
check "correlation id kept in the store" "$(sql "$T/a.db" "SELECT correlation_id FROM sluice_jobs WHERE id = '$JOB'")" batch-a-1
check "table rows = manifest's good rows" "$(sql "$T/a.db" 'SELECT count(*), count(DISTINCT reference) FROM call_detail_records')" "$LOADED|$LOADED"

# --- status, human and --chunks ---------------------------------------------------------
sl_run status "$JOB" --db "$T/a.db"
check "status exit" "$RC" 0
check "status: status line" "$(head -1 "$T/out")" "job $JOB: PartiallySucceeded"
check "status: rows" "$(grep -E '^  rows ' "$T/out" | tr -s ' ')" " rows $ROWS read, $LOADED loaded, $BAD rejected"
awk '$1 ~ /^(CSV|VAL|DUP)_/ && NF == 2 {print $1, $2}' "$T/out" | sort >"$T/got_codes"
check "status: rejects by code = manifest" "$(cat "$T/got_codes")" "$(cat "$T/want_codes")"
sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/c.db" --chunk-size 32k --quiet
check "ingest --quiet, 32k chunks: exit 3" "$RC" 3
CJOB=$(sql "$T/c.db" 'SELECT id FROM sluice_jobs')
sl_run status "$CJOB" --db "$T/c.db" --chunks
check "status --chunks exit" "$RC" 0
# the chunk table: one line per chunk whose second word is a chunk status;
# its READ and LOADED columns add up to the file's rows and good rows
read -r n sread sloaded <<<"$(awk '$2 ~ /^(Queued|Processing|Succeeded|Failed)$/ && $1 ~ /^[0-9]+$/ {n++; r += $6; l += $7} END {print n + 0, r + 0, l + 0}' "$T/out")"
size=$(stat -c %s "$T/cdr.csv")
[ "$n" -ge $((size / 32768)) ] && ok || bad "status --chunks: $n chunk lines for $size bytes in 32k chunks"
check "status --chunks: rows read add up" "$sread" "$ROWS"
check "status --chunks: rows loaded add up" "$sloaded" "$LOADED"

# --- errors: csv (default), jsonl, raw, --code ----------------------------------------------
sl_run errors "$JOB" --db "$T/a.db"
check "errors exit" "$RC" 0
python3 - "$T/out" >"$T/got_rows.tsv" <<'EOF'
import csv, sys
r = csv.reader(open(sys.argv[1], newline=''))
assert next(r) == ['record', 'line', 'offset', 'chunk', 'column', 'code', 'message', 'raw']
for row in r:
    print('%s\t%s\t%s' % (row[0], row[1], row[5]))
EOF
check "errors (csv): the manifest's rows, lines and codes" "$(md5sum <"$T/got_rows.tsv")" "$(md5sum <"$T/want_rows.tsv")"
sl_run errors "$JOB" --db "$T/a.db" --format jsonl
check "errors --format jsonl exit" "$RC" 0
python3 -c "
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    print('%d\t%d\t%s' % (d['record'], d['line'], d['code']))" "$T/out" >"$T/got_rows.tsv"
check "errors (jsonl): the manifest's rows, lines and codes" "$(md5sum <"$T/got_rows.tsv")" "$(md5sum <"$T/want_rows.tsv")"
sl_run errors "$JOB" --db "$T/a.db" --code VAL_ENUM
check "errors --code exit" "$RC" 0
check "errors --code VAL_ENUM: the manifest's BAD_CURRENCY rows" "$(tail -n +2 "$T/out" | cut -d, -f1 | tr '\n' ' ')" "$(awk -F'\t' '$3 == "BAD_CURRENCY" {printf "%s ", $1}' "$T/man.tsv")"
sl_run errors "$JOB" --db "$T/a.db" --format raw
check "errors --format raw exit" "$RC" 0
# raw: the header line, then each bad record as the file has it (bad rows are
# never quoted, so each is the one physical line the manifest names)
awk -F'\t' 'NR == FNR {want[$2] = 1; next} FNR == 1 || (FNR in want)' "$T/man.tsv" "$T/cdr.csv" >"$T/want_raw"
check "errors --format raw: header + the bad lines of the file" "$(md5sum <"$T/out")" "$(md5sum <"$T/want_raw")"

# --- jobs: human output and --status, positively ---------------------------------------------
# four jobs of known statuses in one store
sl_run gen cdr --rows 500 --error-rate 0 --seed 3 -o "$T/clean.csv"
check "gen: exit 0" "$RC" 0
sl_run ingest "$T/clean.csv" --schema "$SCHEMA" --db "$T/a.db" --json --correlation-id batch-a-2
check "clean file: exit 0" "$RC" 0
check "clean file: Succeeded" "$(json "$T/out" "d['status']")" Succeeded
JOK=$(json "$T/out" "d['job_id']")
sl_run gen cdr --rows 1000 --error-rate 0.5 --seed 4 --manifest "$T/man_bad.tsv" -o "$T/bad.csv"
check "gen: exit 0" "$RC" 0
sl_run ingest "$T/bad.csv" --schema "$SCHEMA" --db "$T/a.db" --json --correlation-id batch-b-1
check "half bad rows, schema limit 0.10: exit 4" "$RC" 4
check "half bad rows: Failed" "$(json "$T/out" "d['status']")" Failed
check "half bad rows: LIMIT" "$(json "$T/out" "d['error']['code']")" LIMIT
JFAIL=$(json "$T/out" "d['job_id']")
sl_run gen cdr --rows 200 --error-rate 0 --seed 5 -o "$T/rb.csv"
check "gen: exit 0" "$RC" 0
sl_run ingest "$T/rb.csv" --schema "$SCHEMA" --db "$T/a.db" --json
check "clean file: exit 0" "$RC" 0
JRB=$(json "$T/out" "d['job_id']")
sl_run rollback "$JRB" --db "$T/a.db"
check "rollback exit" "$RC" 0
for st in PartiallySucceeded:$JOB Succeeded:$JOK Failed:$JFAIL RolledBack:$JRB; do
	name=${st%%:*} id=${st#*:}
	sl_run jobs --db "$T/a.db" --status "$name" --json
	check "jobs --status $name --json exit" "$RC" 0
	check "jobs --status $name --json" "$(python3 -c "import json,sys; print(' '.join(j['job_id'] for j in json.load(open(sys.argv[1]))['jobs']))" "$T/out" 2>&1)" "$id"
	sl_run jobs --db "$T/a.db" --status "$name"
	check "jobs --status $name exit" "$RC" 0
	# human: a header, then exactly that job's line
	check "jobs --status $name: one line" "$(tail -n +2 "$T/out" | awk '{print $1, $4}')" "$id $name"
done
sl_run jobs --db "$T/a.db" --status Cancelled --json
check "jobs --status Cancelled exit" "$RC" 0
check "jobs --status Cancelled: none" "$(tr -d ' \n' <"$T/out")" '{"jobs":[]}'
sl_run jobs --db "$T/a.db" --status Bogus
check "jobs --status Bogus: exit 2" "$RC" 2
sl_run jobs --db "$T/a.db"
check "jobs exit" "$RC" 0
check "jobs: a header and four jobs" "$(wc -l <"$T/out")" 5
check "jobs: the partial job's line" "$(awk -v j="$JOB" '$1 == j {print $4, $5, $6, $7, $8}' "$T/out")" "PartiallySucceeded $ROWS $LOADED $BAD $T/cdr.csv"
check "jobs: newest first" "$(awk 'NR > 1 {print $1}' "$T/out" | tr '\n' ' ')" "$JRB $JFAIL $JOK $JOB "

# --- --max-error-ratio overrides the schema's limit, both ways ---------------------------------
BADBAD=$(wc -l <"$T/man_bad.tsv")
sl_run ingest "$T/bad.csv" --schema "$SCHEMA" --db "$T/r1.db" --json --max-error-ratio 0.9
check "--max-error-ratio 0.9 over the schema's 0.10: exit 3" "$RC" 3
check "--max-error-ratio 0.9: all good rows loaded" "$(json "$T/out" "d['rows_loaded']")" $((1000 - BADBAD))
# around the file's exact share of bad rows (one chunk: the ratio is the file's)
ratio=$(awk -v b="$BAD" -v n="$ROWS" 'BEGIN {printf "%.6f", b / n}')
above=$(awk -v r="$ratio" 'BEGIN {printf "%.6f", r + 0.001}')
below=$(awk -v r="$ratio" 'BEGIN {printf "%.6f", r - 0.001}')
sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/r2.db" --json --max-error-ratio "$above"
check "--max-error-ratio just above the share: exit 3" "$RC" 3
check "--max-error-ratio just above the share ($above): PartiallySucceeded" "$(json "$T/out" "d['status']")" PartiallySucceeded
sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/r3.db" --json --max-error-ratio "$below"
check "--max-error-ratio just below the share ($below): exit 4" "$RC" 4
check "--max-error-ratio just below: LIMIT" "$(json "$T/out" "d['error']['code']")" LIMIT
sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/r4.db" --max-error-ratio 1.5
check "--max-error-ratio 1.5: exit 2" "$RC" 2

# --- a successful resume ---------------------------------------------------------------------
# SLUICE_FAULTS crash=N kills the process right after chunk N commits: an
# unfinished job at a known point, no timer.
SLUICE_FAULTS=crash=2 sl_run ingest "$T/cdr.csv" --schema "$SCHEMA" --db "$T/k.db" --chunk-size 32k --threads 1 --json
check "crash after chunk 2: killed" "$RC" 137
RJOB=$(sql "$T/k.db" 'SELECT id FROM sluice_jobs')
check "crashed job: unfinished" "$(sql "$T/k.db" 'SELECT status FROM sluice_jobs')" Processing
check "crashed job: chunks 0-2 committed" "$(sql "$T/k.db" "SELECT group_concat(seq) FROM (SELECT seq FROM sluice_chunks WHERE status = 'Succeeded' ORDER BY seq)")" "0,1,2"
sl_run resume "$RJOB" --db "$T/k.db" --json
check "resume: exit 3" "$RC" 3
check "resume: the same job, resumed" "$(json "$T/out" "d['job_id'], d['resumed'], d['status']")" "$RJOB True PartiallySucceeded"
check "resume: counters = manifest" "$(json "$T/out" "d['rows_read'], d['rows_loaded'], d['rows_rejected']")" "$ROWS $LOADED $BAD"
check "resume: each good row once" "$(sql "$T/k.db" 'SELECT count(*), count(DISTINCT reference) FROM call_detail_records')" "$LOADED|$LOADED"
check "resume: each bad row once" "$(sql "$T/k.db" 'SELECT count(*), count(DISTINCT record) FROM sluice_rejects')" "$BAD|$BAD"
sl_run resume "$RJOB" --db "$T/k.db"
check "resume of a finished job: exit 2" "$RC" 2

# --- serve: --url-ttl, --secret, --max-connections; /v1/jobs filters ----------------------------
# start_serve OPTIONS...: serve on port 0 (PORT, B), once it answers /healthz/live
start_serve() { serve "$T/serve.log" --schemas "$T/schemas" --data-dir "$T/data" "$@"; }
mkdir -p "$T/schemas" "$T/data"
cp "$SCHEMA" "$T/schemas/cdr.yaml"
SECRET=0123456789abcdef-sluice-test
KEYS='k1:read+write+admin'
if SLUICE_API_KEYS=$KEYS start_serve --db "$T/a.db" --url-ttl 5000 --secret "$SECRET"; then
	t0=$(date +%s)
	curl -s -o "$T/url.json" -H 'Authorization: Bearer k1' -X POST "$B/v1/datasets/cdr/upload-urls"
	t1=$(date +%s)
	exp=$(json "$T/url.json" "d['expires_at']")
	# expires_at is in seconds or milliseconds: compare in seconds
	[ "${#exp}" -gt 11 ] && exp=$((exp / 1000))
	[ "$exp" -ge $((t0 + 5000)) ] && [ "$exp" -le $((t1 + 5000)) ] && ok || bad "--url-ttl 5000: expires_at $exp, not $t0..$t1 + 5000"
	# the signature is HMAC-SHA256(secret, ...) of docs/serve.md, computed here
	python3 - "$T/url.json" "$SECRET" >"$T/sig" <<'EOF'
import hashlib, hmac, json, sys, urllib.parse
d = json.load(open(sys.argv[1]))
q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(d['path']).query))
msg = 'POST\n/v1/datasets/cdr/uploads\ncdr\n%s\n%s' % (q['expires'], q['nonce'])
want = hmac.new(sys.argv[2].encode(), msg.encode(), hashlib.sha256).hexdigest()
print('ok' if hmac.compare_digest(want, q['signature']) else 'got %s want %s' % (q['signature'], want))
EOF
	check "--secret: the URL is signed with it" "$(cat "$T/sig")" ok
	# a URL made here with the secret is accepted without a key; one made
	# with another secret is not
	forge() { python3 -c "
import hashlib, hmac, sys, time
exp, nonce = int(time.time()) + 600, sys.argv[2]
msg = 'POST\n/v1/datasets/cdr/uploads\ncdr\n%d\n%s' % (exp, nonce)
sig = hmac.new(sys.argv[1].encode(), msg.encode(), hashlib.sha256).hexdigest()
print('/v1/datasets/cdr/uploads?expires=%d&nonce=%s&signature=%s' % (exp, nonce, sig))" "$1" "$2"; }
	check "a URL signed here with --secret: 202" "$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$T/clean.csv" "$B$(forge "$SECRET" 00aa11bb22cc33dd00aa11bb22cc33dd)")" 202
	check "a URL signed with another secret: 403" "$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$T/clean.csv" "$B$(forge "another-secret-of-20" 00aa11bb22cc33de00aa11bb22cc33de)")" 403
	# the jobs list of the store the CLI filled: status and prefix, positively
	ids() { python3 -c "import json,sys; print(' '.join(j['job_id'] for j in json.load(sys.stdin)['jobs']))"; }
	check "/v1/jobs?prefix=batch-a-: the two batch-a jobs" "$(curl -s -H 'Authorization: Bearer k1' "$B/v1/jobs?prefix=batch-a-" | ids)" "$JOK $JOB"
	check "/v1/jobs?prefix=batch-b-: the batch-b job" "$(curl -s -H 'Authorization: Bearer k1' "$B/v1/jobs?prefix=batch-b-" | ids)" "$JFAIL"
	check "/v1/jobs?prefix=<job id>: that job" "$(curl -s -H 'Authorization: Bearer k1' "$B/v1/jobs?prefix=${JRB:0:17}" | ids)" "$JRB"
	check "/v1/jobs?status=RolledBack: that job" "$(curl -s -H 'Authorization: Bearer k1' "$B/v1/jobs?status=RolledBack" | ids)" "$JRB"
	check "/v1/jobs?status=PartiallySucceeded&prefix=batch-a-" "$(curl -s -H 'Authorization: Bearer k1' "$B/v1/jobs?status=PartiallySucceeded&prefix=batch-a-" | ids)" "$JOB"
	stop_server
fi

# --max-connections 3: three idle connections hold every slot, a fourth
# request is turned away; once one closes, requests are served again. An
# idle connection the server closed at once (it still counted the request
# before) is opened again, so the three are held when the fourth comes.
if start_serve --db "$T/m.db" --max-connections 3; then
	python3 - "$PORT" <<'EOF' >"$T/maxconn" 2>&1
import socket, sys, time
port = int(sys.argv[1])
def get():
    s = socket.create_connection(('127.0.0.1', port), timeout=5)
    try:
        s.sendall(b'GET /healthz/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        return s.recv(64).startswith(b'HTTP/1.1 200')
    except OSError:
        return False
    finally:
        s.close()
def poll(want):  # poll for the state, at most 10 s
    for _ in range(200):
        if get() == want:
            return True
        time.sleep(0.05)
    return False
def alive(s):  # the server has not closed it (no EOF, no reset)
    try:
        return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b''
    except BlockingIOError:
        return True
    except OSError:
        return False
def fill():  # 3 idle connections held, at most 10 s: the server may still
    # count the connection of the request before (libmicrohttpd closes it
    # on its own thread) and turn an idle one away; it is opened again
    for _ in range(200):
        idle[:] = [s for s in idle if alive(s) or s.close()]
        while len(idle) < 3:
            idle.append(socket.create_connection(('127.0.0.1', port)))
        if not get():
            return True
        time.sleep(0.05)
    return False
print('served before' if get() else 'refused before')
idle = []
print('refused while full' if fill() else 'never refused with 3 idle connections')
idle.pop().close()
print('served after one closed' if poll(True) else 'never served again')
for s in idle:
    s.close()
EOF
	check "--max-connections 3" "$(tr '\n' ';' <"$T/maxconn")" "served before;refused while full;served after one closed;"
	stop_server
fi
if start_serve --db "$T/m.db" --max-connections 8; then
	python3 - "$PORT" <<'EOF' >"$T/maxconn" 2>&1
import socket, sys
port = int(sys.argv[1])
idle = [socket.create_connection(('127.0.0.1', port)) for _ in range(3)]
s = socket.create_connection(('127.0.0.1', port), timeout=5)
s.sendall(b'GET /healthz/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
print('served' if s.recv(64).startswith(b'HTTP/1.1 200') else 'refused')
EOF
	check "--max-connections 8 with 3 idle: served" "$(cat "$T/maxconn")" served
	stop_server
fi

finish options
