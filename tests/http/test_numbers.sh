#!/usr/bin/env bash
# True numbers (issue 10): for the same job, `sluice status --json` and
# GET /v1/jobs/{id} of a real `sluice serve` say the same, field for field,
# in every state: Accepted, Processing, Succeeded, PartiallySucceeded,
# Failed before start, Failed mid-run, Cancelled, RolledBack, and resumed
# after a kill -9. A job that failed before it started has duration_s 0
# and the real bytes of its file; `resumed` is true for a resumed job.
#
# Fields that may differ, and why (the only ones left out of the comparison):
#   upload_id                      API only: the service's name for the upload
#   file                           the API shows the upload's file name, not
#                                  the server's path (compared: the CLI's ends
#                                  with the API's)
#   duration_s, rows_per_s, eta_s  for a job not finished (Accepted,
#                                  Processing), computed at the moment of the
#                                  read, so two reads a few ms apart differ;
#                                  compared exactly once the job is final
# Deterministic: SLUICE_TEST_PAUSE=2:DIR holds a job's writer before chunk 2
# until DIR/go exists (--jobs 1, so a second upload waits Accepted).
# Usage: test_numbers.sh SLUICE SOURCE_DIR
set -u
S=$1
SRC=$2
. "$SRC/tests/http/lib.sh"
start_server() {
	local log=$1
	shift
	serve "$log" --db "$T/s.db" --schemas "$T/schemas" --data-dir "$T/data" --min-free 1M \
		--threads 1 --jobs 1 --chunk-size 64K "$@"
}
upload() { # DATASET FILE: the job id
	code POST "$B/v1/datasets/$1/uploads" -H 'Content-Type: text/csv' --data-binary @"$2" >/dev/null
	jq_ "d['job_id']" <"$T/body"
}
# same STATE JOB: the CLI's and the API's JSON of the job agree (once the
# job is recorded: right after its 202 it may not be yet)
same() {
	local state=$1 id=$2
	wait_for "job $id in the store" 500 sl_as "cli_$state" status "$id" --db "$T/s.db" --json
	curl -s "$B/v1/jobs/$id" >"$T/api_$state.json"
	python3 - "$T/cli_$state.out" "$T/api_$state.json" "$state" <<'EOF' && ok || bad "$state: CLI and API differ"
import json, sys
cli = json.load(open(sys.argv[1])); api = json.load(open(sys.argv[2])); state = sys.argv[3]
assert cli['status'] == state.split('-')[0], (cli['status'], state)
api.pop('upload_id')
assert cli['file'].endswith('/' + api['file']) or cli['file'] == api['file'], (cli['file'], api['file'])
cli.pop('file'); api.pop('file')
clock = ['duration_s', 'rows_per_s', 'eta_s'] if state in ('Accepted', 'Processing') else []
for k in clock:
    assert type(cli[k]) == type(api[k]) or None in (cli[k], api[k]), (k, cli[k], api[k])
    cli.pop(k); api.pop(k)
if cli != api:
    for k in sorted(set(cli) | set(api)):
        if cli.get(k, '<none>') != api.get(k, '<none>'):
            print(f"  {state}: {k}: CLI {cli.get(k, '<none>')!r}, API {api.get(k, '<none>')!r}")
    sys.exit(1)
EOF
}
field() { jq_ "d$2" <"$T/api_$1.json"; }

mkdir -p "$T/schemas" "$T/p"
cp "$SRC/examples/cdr.yaml" "$T/schemas/"
sed -e 's/^name: cdr/name: strict/' -e 's/^table: call_detail_records/table: strict_cdr/' \
	-e 's/^  max_error_ratio:.*/  max_errors: 0/' "$SRC/examples/cdr.yaml" >"$T/schemas/strict.yaml"
grep -q '^  max_errors: 0' "$T/schemas/strict.yaml" || bad "the strict schema has max_errors 0"
sl_as gen_big gen cdr --rows 6000 --seed 31 -o "$T/big.csv"        # several 64K chunks, no bad rows
sl_as gen_good gen cdr --rows 300 --seed 32 -o "$T/good.csv"
sl_as gen_bad gen cdr --rows 300 --error-rate 0.03 --seed 33 -o "$T/bad.csv"
sl_as gen_badbig gen cdr --rows 6000 --error-rate 0.05 --seed 34 -o "$T/badbig.csv"
sl_as gen_big2 gen cdr --rows 6000 --seed 35 -o "$T/big2.csv"
check "gen" "$(rc gen_big) $(rc gen_good) $(rc gen_bad) $(rc gen_badbig) $(rc gen_big2)" "0 0 0 0 0"
printf 'a,b,c\n1,2,3\n' >"$T/nohdr.csv"

SLUICE_TEST_PAUSE="2:$T/p" start_server "$T/log1" || exit 1
# Processing: held before chunk 2; Accepted: waits for the one runner
P=$(upload cdr "$T/big.csv")
wait_for "the job to pause before chunk 2" 3000 test -e "$T/p/paused"
A=$(upload cdr "$T/good.csv")
same Processing "$P"
check "Processing: two chunks committed" "$(field Processing "['chunks_processed'], d['resumed']")" "2 False"
same Accepted "$A"
check "Accepted: never started" "$(field Accepted "['duration_s'], d['bytes'], d['started_ms']")" "0.0 $(stat -c %s "$T/good.csv") None"
# Cancelled: asked while it runs, it stops after the chunk in progress
check "cancel a running job" "$(code POST "$B/v1/jobs/$P/cancel")" 202
touch "$T/p/go"
check "cancelled" "$(wait_final "$P")" Cancelled
same Cancelled "$P"
check "Succeeded" "$(wait_final "$A")" Succeeded
same Succeeded "$A"
check "rollback" "$(code POST "$B/v1/jobs/$A/rollback")" 200
check "RolledBack" "$(wait_final "$A")" RolledBack
same RolledBack "$A"
J=$(upload cdr "$T/bad.csv")
check "PartiallySucceeded" "$(wait_final "$J")" PartiallySucceeded
same PartiallySucceeded "$J"
# Failed before start: the header does not match; no Unix time as duration
F=$(upload cdr "$T/nohdr.csv")
check "Failed before start" "$(wait_final "$F")" Failed
same Failed-before-start "$F"
check "failed before start: duration 0, the file's bytes, never started" \
	"$(field Failed-before-start "['duration_s'], d['bytes'], d['started_ms'], d['rows_per_s']")" "0.0 $(stat -c %s "$T/nohdr.csv") None 0.0"
# Failed mid-run: the error budget is spent after the first chunk
M=$(upload strict "$T/badbig.csv")
check "Failed mid-run" "$(wait_final "$M")" Failed
same Failed-mid-run "$M"
check "failed mid-run: some chunks done, an error, a duration" \
	"$(field Failed-mid-run "['chunks_processed'] > 0, d['chunks_processed'] < d['chunks_total'], d['error']['code'], d['duration_s'] < 3600")" \
	"True True LIMIT True"
stop_server

# resumed: killed while a job runs, the next start resumes it
rm -rf "$T/p" && mkdir "$T/p"
SLUICE_TEST_PAUSE="2:$T/p" start_server "$T/log2" || exit 1
R=$(upload cdr "$T/big2.csv")
wait_for "the job to pause before chunk 2" 3000 test -e "$T/p/paused"
kill_server
touch "$T/p/go"
SLUICE_TEST_PAUSE="2:$T/p" start_server "$T/log3" || exit 1
check "resumed job" "$(wait_final "$R")" Succeeded
same Succeeded-resumed "$R"
check "resumed: true in the API" "$(field Succeeded-resumed "['resumed'], d['rows_read']")" "True 6000"
stop_server
finish numbers
