#!/usr/bin/env bash
# The harness of the shell tests (tests/lib/harness.sh, tests/http/lib.sh)
# checked with fake programs in place of sluice: a run that reports a data
# race (the TSan banner, exit 66), a leak (exit 86), an UBSan runtime
# error with exit 0, a report inside $(...), a report from a background
# run killed with kill -9, and a server that reports on SIGTERM when the
# test exits without stopping it, each make a test that checks nothing
# else fail; a clean run keeps its own exit status; skip exits 77, and a
# skip of an installable dependency fails under SLUICE_REQUIRE_ALL; sl_run
# and sl_as keep a run's output and status (also in the background),
# SL_WRAP runs the program under a command, SL_EXPECT lets through only
# the lines it names. No script in tests/ runs the program itself
# (tests/lib/direct_runs.py, checked on a made-up script too). Also the
# oracle (tests/lib/oracle.py) on a small file with one row of each
# conversion.
# Usage: test_harness.sh SLUICE SOURCE_DIR (SLUICE is not used)
set -u
SRC=$2
S=/bin/false
. "$SRC/tests/lib/harness.sh"

F=$T/fake
mkdir -p "$F"
# fake PROGRAM: prints $FAKE_ERR on stderr, "out" on stdout, exits $FAKE_RC
cat >"$F/sluice" <<'EOF'
#!/bin/sh
echo out
[ -n "${FAKE_ERR:-}" ] && printf '%s\n' "$FAKE_ERR" >&2
[ -n "${FAKE_HANG:-}" ] && exec sleep 60
[ -n "${FAKE_KILL:-}" ] && kill -9 $$
exit "${FAKE_RC:-0}"
EOF
chmod +x "$F/sluice"
# a fake server: binds port 0, says so in a JSON log line, answers 200,
# and on SIGTERM prints $FAKE_ERR and exits $FAKE_RC
cat >"$F/serve.py" <<'EOF'
import http.server, os, signal, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
def term(*_):
    if os.environ.get("FAKE_ERR"):
        sys.stderr.write(os.environ["FAKE_ERR"] + "\n")
    sys.stderr.flush()
    os._exit(int(os.environ.get("FAKE_RC", "0")))
signal.signal(signal.SIGTERM, term)
sys.stderr.write('{"level":"info","msg":"listening on 127.0.0.1:%d; 0 datasets"}\n' % srv.server_port)
sys.stderr.flush()
srv.serve_forever()
EOF
printf '#!/bin/sh\n[ "$1" = serve ] && shift && exec python3 "%s/serve.py" "$@"\nexit 2\n' "$F" >"$F/server"
chmod +x "$F/server"

# child BODY: a test script (harness sourced) with BODY, run with the fake
# as S; its exit status and output in $T/child.out
child() {
	cat >"$F/child.sh" <<EOF
set -u
S=\${FAKE_S:-$F/sluice}
. "$SRC/tests/http/lib.sh"
$1
EOF
	bash "$F/child.sh" "$F/sluice" "$SRC" >"$T/child.out" 2>&1
}
TSAN='WARNING: ThreadSanitizer: data race (pid=1234)'

# --- a run's sanitizer report fails the test, whatever it then checks -------------------
FAKE_ERR=$TSAN FAKE_RC=66 child 'sl ingest x >/dev/null; check "a check that passes" 1 1; finish'
check "TSan warning + exit 66: the test fails" "$?" 1
grep -q 'exit status 66, a sanitizer report' "$T/child.out" && ok || bad "the report is named: $(cat "$T/child.out")"
grep -q 'data race' "$T/child.out" && ok || bad "the report is shown: $(cat "$T/child.out")"
FAKE_ERR=$TSAN FAKE_RC=66 child 'sl ingest x >/dev/null; exit 0'
check "TSan report, then exit 0 without finish: the test fails" "$?" 1
FAKE_RC=86 child 'sl ingest x; finish'
check "exit 86 (ASan/LSan) alone: fails" "$?" 1
FAKE_ERR='x.c:3:5: runtime error: signed integer overflow' child 'sl ingest x; finish'
check "an UBSan runtime error with exit 0: fails" "$?" 1
FAKE_ERR='SUMMARY: AddressSanitizer: 10 byte(s) leaked' FAKE_RC=3 child 'sl ingest x; check "status kept" $? 3; finish'
check "a leak summary with the program's own status: fails" "$?" 1
FAKE_ERR=$TSAN FAKE_RC=66 child 'x=$(sl ingest x); check "out" "$x" out; finish'
check "a report inside \$(...) fails the test" "$?" 1
FAKE_ERR=$TSAN FAKE_RC=66 child 'check "s" "$(sl ingest x 2>/dev/null >/dev/null; echo 0)" 0; skip "no reason"'
check "a report, then a skip: fails, not skipped" "$?" 1
FAKE_ERR=$TSAN FAKE_HANG=1 child 'sl_start "$T/bg.err" ingest x >/dev/null; pid=$BG_PID
	wait_for "the report" 500 grep -q ThreadSanitizer "$T/bg.err"; sl_kill9 $pid "$T/bg.err"; finish'
check "a background run killed with kill -9: its report fails the test" "$?" 1
FAKE_ERR=$TSAN FAKE_RC=66 child 'sl_start "$T/bg.err" ingest x >/dev/null; sl_wait $BG_PID "$T/bg.err"; check "st" $? 66; finish'
check "a background run waited for: its report fails the test" "$?" 1

# --- clean runs: the program's own status and output, stderr kept -----------------------------
FAKE_ERR='FATAL_HEADER: the header lacks x' FAKE_RC=4 child 'x=$(sl ingest x); check "status" $? 4; check "out" "$x" out
	grep -q FATAL_HEADER "$T/err" && ok || bad "stderr in T/err"; finish'
check "a clean run with exit 4: the test passes" "$?" 0
FAKE_RC=3 child 'SL_ERR=$T/mine sl ingest x >/dev/null; check "status" $? 3; [ -e "$T/mine" ] && ok || bad "SL_ERR"; finish'
check "SL_ERR names where stderr goes" "$?" 0
child 'check "one" 1 2; finish'
check "a failed check fails the test" "$?" 1

# --- sl_run, sl_as, SL_WRAP, SL_EXPECT --------------------------------------------------------------
FAKE_ERR='some words' FAKE_RC=3 child 'sl_run ingest x; check "RC" "$RC" 3; check "rc" "$(rc)" 3
	check "out" "$(cat "$T/out")" out; check "err" "$(cat "$T/err")" "some words"; finish'
check "sl_run: stdout, stderr and status in T" "$?" 0
FAKE_RC=4 child 'sl_as one ingest x & wait; check "rc one" "$(rc one)" 4; check "out" "$(cat "$T/one.out")" out; finish'
check "sl_as NAME in the background: its status for rc NAME" "$?" 0
FAKE_ERR=$TSAN FAKE_RC=66 child 'sl_as bg ingest x & wait; finish'
check "sl_as in the background: a report fails the test" "$?" 1
FAKE_KILL=1 child 'sl_run ingest x; check "killed" "$RC" 137; finish'
check "sl_run of a program killed by SIGKILL: status 137, a pass" "$?" 0
grep -q Killed "$T/child.out" && bad "bash's Killed notice shows: $(cat "$T/child.out")" || ok
printf '#!/bin/sh\necho wrapped\nexec "$@"\n' >"$F/wrap"
chmod +x "$F/wrap"
child "SL_WRAP=$F/wrap"' sl_run ingest x; check "wrapped" "$(tr "\n" " " <"$T/out")" "wrapped out "; sl_run ingest x; check "once" "$(cat "$T/out")" out; finish'
check "SL_WRAP: the program runs under it, for that run" "$?" 0
ALLOC='==7==WARNING: ThreadSanitizer failed to allocate 0x80000000 bytes'
EXPECT='^==[0-9]+==WARNING: ThreadSanitizer failed to allocate 0x[0-9a-f]+ bytes$'
FAKE_ERR=$ALLOC FAKE_RC=4 child 'sl_run ingest x; finish'
check "an allocation warning not expected: fails" "$?" 1
FAKE_ERR=$ALLOC FAKE_RC=4 child "SL_EXPECT='$EXPECT' sl_run ingest x; check st \$RC 4; finish"
check "SL_EXPECT: the expected warning is no report" "$?" 0
FAKE_ERR="$ALLOC
$TSAN" FAKE_RC=4 child "SL_EXPECT='$EXPECT' sl_run ingest x; finish"
check "SL_EXPECT: a real report beside it still fails" "$?" 1
FAKE_ERR=$ALLOC FAKE_RC=66 child "SL_EXPECT='$EXPECT' sl_run ingest x; finish"
check "SL_EXPECT: a sanitizer's exit status still fails" "$?" 1

# --- the same for the runners written in Python (tests/lib/sl.py) ------------------------------------
slpy() { python3 -c "import sys; sys.path.insert(0, '$SRC/tests/lib'); import sl
p = sl.run(['$F/sluice', 'ingest']); print(p.returncode, p.stdout.decode().strip()); sys.exit(sl.finish(0))" >"$T/py.out" 2>&1; }
FAKE_RC=3 FAKE_ERR='a message' slpy
check "sl.py: a clean run keeps its status and output, the runner passes" "$?:$(head -1 "$T/py.out")" "0:3 out"
FAKE_RC=66 FAKE_ERR=$TSAN slpy
check "sl.py: a TSan report fails the runner" "$?" 1
FAKE_RC=0 FAKE_ERR='x.c:1:1: runtime error: load of misaligned address' slpy
check "sl.py: a UBSan banner with exit 0 fails the runner" "$?" 1

# --- skips ---------------------------------------------------------------------------------------
child 'skip "no frobnicator"'
check "skip: exit 77" "$?" 77
grep -q '^SKIP: no frobnicator' "$T/child.out" && ok || bad "skip says why"
SLUICE_REQUIRE_ALL= CI= child 'skip "no node" installable'
check "an installable skip without SLUICE_REQUIRE_ALL: 77" "$?" 77
SLUICE_REQUIRE_ALL=1 child 'skip "no node" installable'
check "an installable skip under SLUICE_REQUIRE_ALL: fails" "$?" 1
SLUICE_REQUIRE_ALL=1 child 'skip "no Citus cluster"'
check "a skip make test cannot fix, under SLUICE_REQUIRE_ALL: still 77" "$?" 77

# --- servers: the port it bound, and its exit on SIGTERM -----------------------------------------
FAKE_S=$F/server child 'serve "$T/log" || exit 1; check "port from the log" "$(curl -s -o /dev/null -w "%{http_code}" "$B/")" 200; stop_server; finish'
check "serve reads the port the server bound" "$?" 0
FAKE_S=$F/server FAKE_RC=1 child 'serve "$T/log" || exit 1; exit 0'
check "a server that exits 1 on SIGTERM in the exit trap fails the test" "$?" 1
grep -q 'exited with status 1 on SIGTERM' "$T/child.out" && ok || bad "says why: $(cat "$T/child.out")"
FAKE_S=$F/server FAKE_ERR='==1==ERROR: LeakSanitizer: detected memory leaks' child 'serve "$T/log" || exit 1; stop_server; check "0" "$STOPPED" 0; finish'
check "a server that reports a leak and exits 0 on SIGTERM: fails" "$?" 1
FAKE_S=$F/server child 'serve "$T/log" || exit 1; printf "%s\n" "==9==ERROR: AddressSanitizer: heap-use-after-free" >>"$T/log"; kill_server; finish'
check "a server killed with kill -9: its log is scanned" "$?" 1
FAKE_S=$F/server child 'serve "$T/log" || exit 1; echo "{\"msg\":\"request\",\"path\":\"/runtime error: x\"}" >>"$T/log"; stop_server; finish'
check "JSON log lines (what clients sent) are not reports" "$?" 0
FAKE_S=$F/sluice child 'serve "$T/log" && exit 0; finish'
check "a server that exits at start: serve fails, and says so" "$?" 1

# --- shared servers: what the setup writes, a test reads, the cleanup checks ---------------------
export SLUICE_FIXTURES=$T/fixtures F
child 'python3 "$F/serve.py" 2>"$SLUICE_FIXTURES.log" </dev/null >/dev/null &
	pid=$!
	wait_for "the fake server" 500 grep -q listening "$SLUICE_FIXTURES.log"
	fixture_started demo $pid "$SLUICE_FIXTURES.log" DEMO_PORT="$(grep -o "1:[0-9]*" "$SLUICE_FIXTURES.log" | cut -d: -f2)" "DEMO_NOTE=a b"; finish'
check "fixture setup: exit 0" "$?" 0
child 'use_fixture demo; check "a variable with a space" "$DEMO_NOTE" "a b"
	check "the shared server answers" "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$DEMO_PORT/")" 200
	case "$(fixture_namespace)" in t_child_[0-9]*) ok ;; *) bad "namespace $(fixture_namespace)" ;; esac; finish'
check "a test uses the shared server" "$?" 0; grep FAIL "$T/child.out"
child 'echo "==1==ERROR: LeakSanitizer: detected memory leaks" >>"$SLUICE_FIXTURES.log"; fixture_stop demo; finish'
check "fixture cleanup: a report in the shared server's log fails it" "$?" 1
check "fixture cleanup: the server is gone" "$(. "$SLUICE_FIXTURES/demo.env" 2>/dev/null; echo "${FIXTURE_PID:-gone}")" gone
child 'fixture_skipped pg "no PostgreSQL"'
check "a fixture that cannot start: skips" "$?" 77
child 'use_fixture pg; finish'
check "... and so do the tests that need it" "$?" 77
child 'use_fixture nope; finish'
check "a fixture never started: the test fails" "$?" 1
unset SLUICE_FIXTURES

# --- no test script runs the program but through the harness ---------------------------------------
# tests/lib/direct_runs.py lists the places where a script runs "$S" (or a
# copy of the program) itself; there is none in tests/, and each form of it
# in a made-up script is found, while what only looks at the file is not
python3 "$SRC/tests/lib/direct_runs.py" "$SRC/tests" >"$T/direct.out"
check "no test script runs the program outside the harness" "$?:$(cat "$T/direct.out")" "0:"
mkdir -p "$T/tree/x"
cat >"$T/tree/x/test_direct.sh" <<'EOF'
"$S" gen cdr -o "$T/a.csv"
n=$("$S" ingest "$T/a.csv" | wc -l)
SLUICE_FAULTS=crash=1 $S ingest x
run cmds "${S}" help --commands
"$T/root/usr/bin/sluice" --version
sl gen cdr -o "$T/a.csv"
ldd "$S" | grep -q asan
BUILD=$(cd "$(dirname "$S")" && pwd)
S=$T/root/usr/bin/sluice sl_as iv --version
# "$S" gen in a comment
python3 - <<'PY'
print("$S" " is text here")
PY
EOF
python3 "$SRC/tests/lib/direct_runs.py" "$T/tree" >"$T/direct.out"
check "direct runs in a made-up script: exit" "$?" 1
check "direct runs in a made-up script: the five of them, by line" "$(cut -d: -f2 "$T/direct.out" | tr '\n' ' ')" "1 2 3 4 5 "

# --- the oracle: conversions as docs/schema.md documents them ---------------------------------------
cat >"$T/o.yaml" <<'EOF'
name: o
table: o_rows
key: [k]
on_duplicate: reject
csv: {null: ["", "NA"]}
columns:
  - {name: k, type: text, required: true, pattern: '^[a-z]+$'}
  - {name: n, type: integer, min: 0}
  - {name: d, type: decimal, precision: 20, scale: 2} # wider than 15: exact text (docs/schema.md)
  - {name: day, type: date, format: '%d/%m/%Y'}
  - {name: t, type: time, format: '%H:%M:%S'}
  - {name: b, type: boolean}
EOF
printf '\xef\xbb\xbfk,n,d,day,t,b\r\na,+7,-0.5,1/2/2024,7:04:05,YES\r\nb,NA,.5,29/02/2024,23:59:59,0\r\n' >"$T/o.csv"
printf 'c,1,1.234,01/01/2024,00:00:00,1\r\nd,1,1,29/02/2025,00:00:00,1\r\ne,-1,1,01/01/2024,00:00:00,1\r\n' >>"$T/o.csv"
printf 'f,1,123456789012345678901.5,01/01/2024,00:00:00,1\r\na,1,1,01/01/2024,00:00:00,1\r\nG,1,1,01/01/2024,00:00:00,1\r\n' >>"$T/o.csv"
printf '"h\r\nx",1,1,01/01/2024,00:00:00,1\r\ni,1,-0,01/01/2024,24:00:00,1\r\nj,1,2,01/01/2024,1:2,maybe\r\n' >>"$T/o.csv"
python3 "$ORACLE" rows "$T/o.csv" --schema "$T/o.yaml" >"$T/o.rows"
check "oracle: only the valid rows, the first of a key, converted" "$(cat "$T/o.rows")" \
	'{"b": 1, "d": "-0.50", "day": "2024-02-01", "k": "a", "n": 7, "t": "07:04:05"}
{"b": 0, "d": "0.50", "day": "2024-02-29", "k": "b", "n": null, "t": "23:59:59"}'
echo '[{"k":"b","n":null,"d":"0.50","day":"2024-02-29","t":"23:59:59","b":0},{"k":"a","n":7,"d":"-0.50","day":"2024-02-01","t":"07:04:05","b":1}]' >"$T/got.json"
python3 "$ORACLE" compare "$T/o.csv" "$T/got.json" --schema "$T/o.yaml" >/dev/null
check "oracle compare: the same rows in another order" "$?" 0
sed -i 's/"0.50"/"0.5"/' "$T/got.json"
check "oracle compare: a value written differently is a difference" "$(python3 "$ORACLE" compare "$T/o.csv" "$T/got.json" --schema "$T/o.yaml" | grep -c differs)" 1
sed -i 's/"n":7/"n":"7"/; s/"0.5"/"0.50"/' "$T/got.json"
check "oracle compare: a number stored as text is a difference" "$(python3 "$ORACLE" compare "$T/o.csv" "$T/got.json" --schema "$T/o.yaml" | grep -c differs)" 1

finish harness
