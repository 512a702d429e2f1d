/*
 * `sluice watch DIR`: a drop folder (the library's sl_watch, sluice/watch.h;
 * the rules are in docs/sources.md, "Drop folders"). This file parses the
 * options, prints what happens, and stops on SIGINT or SIGTERM: a job under
 * way stops after the chunk it commits and is resumed on the next start.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"
#include "sluice/watch.h"

static const char help_watch[] =
    "usage: sluice watch DIR --schema S [--db PATH] [--settle SECONDS|off] [--once]\n"
    "                    [--threads N] [--chunk-size SIZE] [--json] [--quiet]\n"
    "       sluice watch s3://BUCKET/PREFIX/ --schema S [--db PATH] [--interval SECONDS]\n"
    "                    [--marker] [--s3-endpoint URL] [--once] [--threads N] ...\n"
    "\n"
    "Load every file dropped into DIR with the schema S, once it is complete:\n"
    "  - a marker NAME.done or NAME.ok appears next to NAME (the writer says so), or\n"
    "  - NAME was renamed or moved into DIR (written elsewhere first), or\n"
    "  - a heuristic for writers that do neither: NAME's size and modification\n"
    "    time stayed the same for the settle time.\n"
    "Hidden files (.NAME) and names ending in .tmp, .part, .filepart or .partial\n"
    "are never taken. A taken file moves to DIR/processing/ while its job runs,\n"
    "then to DIR/done/ (Succeeded, PartiallySucceeded) or DIR/failed/, with\n"
    "NAME.json beside it: the job as 'sluice ingest --json' prints it, and a\n"
    "\"drop\" object (its name, how it was taken, where it is). Content loaded\n"
    "already is not loaded again: its JSON says \"duplicate_of\": the earlier job.\n"
    "Files a crash left in processing/ are resumed at start, from their last\n"
    "committed chunk. One watcher per DIR.\n"
    "A directory moved into DIR, or marked by NAME.done, is a batch: its files are\n"
    "one job (in name order, every header the first's), and the directory goes the\n"
    "way a file does; a batch is never taken by settling.\n"
    "\n"
    "  --db PATH            the SQLite database (created when missing)\n"
    "  --settle SECONDS     the settle time of the heuristic (default 10; decimals\n"
    "                       allowed); 'off': only markers and moves count\n"
    "  --once               load what is complete in DIR now, then exit (files still\n"
    "                       changing are left for the next run)\n"
    "  --threads N          parsing threads per job (default: all cores)\n"
    "  --chunk-size SIZE    about this many bytes per chunk (default 64M)\n"
    "  --json               each finished file's JSON on stdout, one a line\n"
    "  --quiet              nothing but errors (and --json) printed\n"
    "\n"
    "s3://BUCKET/PREFIX/: the prefix is listed every --interval seconds (default\n"
    "10) and each object not taken yet is loaded as 'sluice ingest s3://BUCKET/KEY'\n"
    "would; an object is complete once it is listed (a PUT is atomic), or with\n"
    "--marker once KEY.done or KEY.ok exists. Objects are not moved: what was\n"
    "taken (key and ETag) is kept in DB.s3watch-HASH beside the database, so an\n"
    "object is loaded again only as a new version. --s3-endpoint and the AWS_*\n"
    "variables as for 'sluice ingest'. One watcher per prefix and database.\n"
    "\n"
    "Runs until SIGINT or SIGTERM (a job under way stops after its current chunk\n"
    "and is resumed next time). Exit 0; with --once 3 when a file was\n"
    "PartiallySucceeded, 4 when one failed or could not run; 2 usage; 4 when the\n"
    "folder cannot be watched (missing, another watcher holds it).\n";

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int stop_cb(void *ctx)
{
	(void)ctx;
	return stop_flag;
}

typedef struct out {
	bool json, quiet;
} out;

static void on_event(void *ctx, const sl_watch_event *e)
{
	out *o = ctx;
	if (e->what == SL_WATCH_FINISHED && o->json) {
		fputs(e->json, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	}
	if (o->quiet)
		return;
	FILE *f = o->json ? stderr : stdout;
	const sl_job *j = e->job;
	switch (e->what) {
	case SL_WATCH_TAKEN:
		fprintf(f, "taken %s (%s)\n", e->name, e->how);
		break;
	case SL_WATCH_RESUMED:
		fprintf(f, "resuming %s (left in processing/)\n", e->name);
		break;
	case SL_WATCH_RESCAN:
		fprintf(f, "listed the folder (%s)\n", e->how);
		break;
	case SL_WATCH_DEFERRED:
		fprintf(f, "%s: cannot run now: %s (%s); tried again later\n", e->name,
		        e->message && e->message[0] ? e->message : sl_error_message(e->code),
		        sl__error_report(e->code));
		break;
	case SL_WATCH_FINISHED:
		if (e->dup_of[0])
			fprintf(f,
			        "%s: job %s: the same content was loaded by job %s (%s); nothing "
			        "loaded -> %s\n",
			        e->name, j->id, e->dup_of, sl_job_status_name(j->status), e->path);
		else
			fprintf(
			    f, "%s: job %s %s: %llu rows read, %llu loaded, %llu rejected -> %s\n",
			    e->name, j->id, sl_job_status_name(j->status),
			    (unsigned long long)j->rows_read, (unsigned long long)j->rows_loaded,
			    (unsigned long long)j->rows_rejected, e->path);
		break;
	}
	fflush(f);
}

int cmd_watch(int argc, char **argv)
{
	sl_watch_opts o = {0};
	out pr = {0};
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t n;
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			fputs(help_watch, stdout);
			return EXIT_OK;
		} else if (!strcmp(s, "--once")) {
			o.once = true;
		} else if (!strcmp(s, "--marker")) {
			o.s3_marker = true;
		} else if (!strcmp(s, "--json")) {
			pr.json = true;
		} else if (!strcmp(s, "--quiet") || !strcmp(s, "-q")) {
			pr.quiet = true;
		} else if (!strcmp(s, "--schema") || !strcmp(s, "--db") || !strcmp(s, "--settle") ||
		           !strcmp(s, "--threads") || !strcmp(s, "--chunk-size") ||
		           !strcmp(s, "--interval") || !strcmp(s, "--s3-endpoint")) {
			if (!v)
				return cli_usage_error("watch", "%s needs a value", s);
			i++;
			if (!strcmp(s, "--schema")) {
				o.schema_path = v;
			} else if (!strcmp(s, "--db")) {
				o.db = v;
			} else if (!strcmp(s, "--s3-endpoint")) {
				o.s3_endpoint = v;
			} else if (!strcmp(s, "--interval")) {
				char *end;
				double sec = strtod(v, &end);
				if (*end || end == v || !(sec > 0 && sec <= 86400))
					return cli_usage_error(
					    "watch", "--interval: '%s' is not seconds (0..86400]",
					    v);
				o.interval_ms =
				    (int64_t)(sec * 1000) > 0 ? (int64_t)(sec * 1000) : 1;
			} else if (!strcmp(s, "--settle")) {
				char *end;
				double sec = strtod(v, &end);
				if (!strcmp(v, "off"))
					o.settle_ms = -1;
				else if (*end || end == v || !(sec > 0 && sec <= 86400))
					return cli_usage_error(
					    "watch",
					    "--settle: '%s' is not seconds (0..86400] or off", v);
				else
					o.settle_ms =
					    (int64_t)(sec * 1000) > 0 ? (int64_t)(sec * 1000) : 1;
			} else if (!strcmp(s, "--threads")) {
				if (cli_parse_u64(v, &n) || n < 1 || n > 256)
					return cli_usage_error("watch",
					                       "--threads: '%s' is not 1..256", v);
				o.threads = (int)n;
			} else {
				if (cli_parse_size(v, &n) || n < 1)
					return cli_usage_error(
					    "watch", "--chunk-size: '%s' is not a size", v);
				o.chunk_size = n;
			}
		} else if (s[0] == '-' && s[1]) {
			return cli_usage_error("watch", "unknown option '%s'", s);
		} else if (o.dir) {
			return cli_usage_error("watch", "one DIR only");
		} else {
			o.dir = s;
		}
	}
	if (!o.dir)
		return cli_usage_error("watch", "DIR is missing");
	if (!o.schema_path)
		return cli_usage_error("watch", "--schema is missing");
	bool s3 = !strncmp(o.dir, "s3://", 5);
	if (s3 && o.settle_ms)
		return cli_usage_error("watch", "--settle is for a folder; an object is complete "
		                                "once listed (--marker: once marked)");
	if (!s3 && (o.interval_ms || o.s3_marker || o.s3_endpoint))
		return cli_usage_error("watch", "--interval, --marker and --s3-endpoint are for "
		                                "s3://BUCKET/PREFIX/");
	/* a bad schema is the command's error, not each file's */
	sl_schema *sc = NULL;
	char msg[1024] = "";
	if (sl_schema_load(o.schema_path, &sc, msg, sizeof msg) < 0) {
		fprintf(stderr, "sluice watch: %s\n", msg);
		sl__error_report(SL_CONFIG);
		return EXIT_USAGE;
	}
	sl_schema_free(sc);

	struct sigaction sa = {0};
	sa.sa_handler = on_signal; /* no SA_RESTART: the wait returns at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	o.event = on_event;
	o.event_ctx = &pr;
	o.stop = stop_cb;
	sl_watch_stats st;
	int rc = sl_watch(&o, &st, msg, sizeof msg);
	if (rc < 0) {
		fprintf(stderr, "sluice watch: %s (%s)\n", msg[0] ? msg : sl_error_message(rc),
		        sl__error_report(rc));
		return rc == SL_CONFIG ? EXIT_USAGE : EXIT_FAILED;
	}
	if (!o.once)
		return EXIT_OK;
	return st.failed || st.deferred ? EXIT_FAILED : st.partial ? EXIT_PARTIAL : EXIT_OK;
}
