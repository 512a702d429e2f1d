/*
 * `sluice worker`: claim queued chunks of any job in the database, run
 * them under their leases and heartbeat them (sl_worker_run), beside other
 * workers and `sluice ingest`s. SIGTERM and SIGINT stop it after the
 * chunks under way.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"

static const char help_worker[] =
    "usage: sluice worker [--db PATH] [--threads N] [--name ID] [--lease-ttl S] [--once]\n"
    "                     [--max-attempts N] [--retry-backoff S] [--retention DURATION]\n"
    "                     [--poll S]\n"
    "                     [--json] [--quiet]\n"
    "\n"
    "Claim queued chunks of any job in the database (default ./sluice.db), run them\n"
    "and commit them, beside other workers and `sluice ingest`s of the same jobs.\n"
    "Each claimed chunk has a lease, renewed every third of its TTL; a chunk whose\n"
    "lease runs out (its worker died or hangs) is queued again by the leader (one of\n"
    "the processes sharing the database, docs/scaling.md) and claimed by another; the\n"
    "commit of a worker that lost its lease is refused (LEASE_LOST): every row is\n"
    "loaded once. The job finishes with the commit of its last chunk, whoever makes\n"
    "it. A job whose file or schema this worker cannot read is failed with the reason.\n"
    "Exit 0 (stopped by --once, SIGTERM or SIGINT), 4 when the database is unusable.\n"
    "\n"
    "  --db PATH       the SQLite database\n"
    "  --threads N     chunks run at once, each on its own thread (default 1)\n"
    "  --name ID       the name its leases carry (default worker)\n"
    "  --lease-ttl S   seconds a claimed chunk stays ours without a renewal (default 30)\n"
    "  --once          stop when no chunk is left to claim, instead of waiting for more\n"
    "  --poll S        idle, look for work every S seconds with jitter (default: a\n"
    "                  tenth of the TTL, at most 0.2); with PostgreSQL a NOTIFY of\n"
    "                  queued chunks wakes it first\n"
    CLI_LEADER_HELP
    "  --retention D      while leading, delete the rejects and events of jobs finished\n"
    "                     more than D ago (30d, 12h, 90m; default 30d; 0: never)\n"
    "  --json          a JSON summary on stdout at the end\n"
    "  --quiet         no line per chunk on stderr\n";

/* set by the handler, read by the runner threads: a lock-free atomic is
   both signal-safe and race-free (a volatile sig_atomic_t is only the first) */
static atomic_int stopping;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stopping, 1);
}

static int should_stop(void *ctx)
{
	(void)ctx;
	return atomic_load(&stopping);
}

static void chunk_done(void *ctx, const sl_job *j, const sl_chunk *c, int rc, const char *msg)
{
	if (*(bool *)ctx)
		return;
	if (rc == SL_LEASE_LOST)
		fprintf(stderr, "sluice worker: job %s chunk %u not committed: %s (%s)\n", j->id,
		        c->seq, msg && *msg ? msg : sl_error_message(rc), sl__error_report(rc));
	else if (rc < 0)
		fprintf(stderr, "sluice worker: job %s stopped at chunk %u: %s (%s)\n", j->id,
		        c->seq, msg && *msg ? msg : sl_error_message(rc), sl__error_report(rc));
	else
		fprintf(stderr, "sluice worker: job %s chunk %u: %llu rows, %llu rejected%s%s\n",
		        j->id, c->seq, (unsigned long long)c->rows_loaded,
		        (unsigned long long)c->rows_rejected,
		        sl_job_status_final(j->status) ? "; job " : "",
		        sl_job_status_final(j->status) ? sl_job_status_name(j->status) : "");
}

int cmd_worker(int argc, char **argv)
{
	sl_worker_opts o = {0};
	sl_worker_result r;
	bool json = false, quiet = false;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t n;
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			fputs(help_worker, stdout);
			return EXIT_OK;
		} else if (!strcmp(s, "--once")) {
			o.once = true;
		} else if (!strcmp(s, "--json")) {
			json = true;
		} else if (!strcmp(s, "--quiet") || !strcmp(s, "-q")) {
			quiet = true;
		} else if (!strcmp(s, "--db") || !strcmp(s, "--threads") || !strcmp(s, "--name") ||
		           !strcmp(s, "--lease-ttl") || !strcmp(s, "--max-attempts") ||
		           !strcmp(s, "--retry-backoff") || !strcmp(s, "--retention") ||
		           !strcmp(s, "--poll")) {
			if (!v)
				return cli_usage_error("worker", "%s needs a value", s);
			i++;
			int lr = cli_leader_opt("worker", s + 2, v, &o.leader);
			if (lr > 1)
				return lr;
			if (lr == 1) {
				continue;
			} else if (!strcmp(s, "--db")) {
				o.db = v;
			} else if (!strcmp(s, "--name")) {
				if (!*v || strlen(v) > 64 || strpbrk(v, " \t\n"))
					return cli_usage_error(
					    "worker", "--name: 1 to 64 characters, no spaces");
				o.name = v;
			} else if (!strcmp(s, "--poll")) {
				if (cli_parse_seconds(v, &o.poll_ms))
					return cli_usage_error(
					    "worker", "--poll: '%s' is not 0.01..86400 seconds", v);
			} else if (!strcmp(s, "--threads")) {
				if (cli_parse_u64(v, &n) || n < 1 || n > 256)
					return cli_usage_error("worker",
					                       "--threads: '%s' is not 1..256", v);
				o.threads = (int)n;
			} else if (cli_parse_seconds(v, &o.lease_ttl_ms)) {
				return cli_usage_error(
				    "worker", "--lease-ttl: '%s' is not 0.01..86400 seconds", v);
			}
		} else {
			return cli_usage_error("worker", "unknown argument '%s'", s);
		}
	}
	cli_leader_defaults(&o.leader);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	o.stop = should_stop;
	o.chunk_done = chunk_done;
	o.chunk_ctx = &quiet;
	int rc = sl_worker_run(&o, &r);
	if (rc < 0) {
		fprintf(stderr, "sluice worker: %s (%s)\n",
		        r.message[0] ? r.message : sl_error_message(rc), sl__error_report(rc));
		return EXIT_FAILED;
	}
	if (json)
		printf("{\"chunks\":%llu,\"lost\":%llu,\"failed\":%llu}\n",
		       (unsigned long long)r.chunks, (unsigned long long)r.lost,
		       (unsigned long long)r.failed);
	else if (!quiet)
		fprintf(stderr,
		        "sluice worker: %llu chunks committed, %llu refused (lease lost), %llu "
		        "jobs stopped\n",
		        (unsigned long long)r.chunks, (unsigned long long)r.lost,
		        (unsigned long long)r.failed);
	return EXIT_OK;
}
