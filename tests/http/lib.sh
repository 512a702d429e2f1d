# Shared by the end-to-end tests of `sluice serve` (sourced, not run):
# a temp dir, counters, checks, a free port, starting and stopping the real
# server, status codes with curl, waiting for a job to finish.
# The sourcing script sets S (the sluice binary) first.
T=$(mktemp -d)
PID=
STOPPED=0
pass=0
fail=0
# stop_server: SIGTERM the server and wait; its exit status in STOPPED
# (0 when none was running). Any other status is a failed check: a crash,
# or a sanitizer report (ASan, UBSan, LeakSanitizer and TSan make the
# process exit non-zero) in the sanitizer builds.
stop_server() {
	STOPPED=0
	if [ -n "$PID" ]; then
		kill -TERM "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
		STOPPED=$?
		PID=
		if [ "$STOPPED" != 0 ]; then
			bad "the server exited with status $STOPPED on SIGTERM (a crash or a sanitizer report)"
			[ -n "${SERVE_LOG:-}" ] && grep -v '^{' "$SERVE_LOG" | head -60
		fi
	fi
}
# at_exit: run first on exit; a script redefines it to end its own helpers
at_exit() { :; }
trap 'at_exit; stop_server; if [ -n "${KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi' EXIT
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }
jq_() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# serve LOG [options...]: start on a free port (PORT, B) and wait for /healthz/live
serve() {
	local log=$1
	shift
	SERVE_LOG=$log
	PORT=$(free_port)
	B="http://127.0.0.1:$PORT"
	"$S" serve --listen "127.0.0.1:$PORT" "$@" 2>>"$log" &
	PID=$!
	for _ in $(seq 1 100); do
		curl -s -o /dev/null "$B/healthz/live" && return 0
		sleep 0.1
	done
	bad "server did not start: $(tail -5 "$log")"
	return 1
}
# code METHOD URL [curl args]: the status code; body in $T/body, headers in $T/hdr
# (HEAD is sent with -I, so curl does not wait for a body)
code() {
	local m=$1 u=$2
	shift 2
	if [ "$m" = HEAD ]; then
		curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code}' -I "$@" "$u"
	else
		curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code}' -X "$m" "$@" "$u"
	fi
}
# wait_final JOB [curl args]: its final status (or the last one seen after 60 s)
wait_final() {
	local id=$1 st=
	shift
	for _ in $(seq 1 600); do
		st=$(curl -s "$@" "$B/v1/jobs/$id" | jq_ "d['status']" 2>/dev/null)
		case "$st" in Succeeded | PartiallySucceeded | Failed | Cancelled | RolledBack) echo "$st"; return ;; esac
		sleep 0.1
	done
	echo "$st"
}
# finish [NAME]: the summary line (NAME defaults to the script's name), then
# the status: non-zero on any failure
finish() {
	echo "${1:-$(basename "$0" .sh)}: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
