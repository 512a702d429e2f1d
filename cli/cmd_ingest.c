/*
 * `sluice ingest`, `validate`, `resume`, `retry`, `rollback`.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "cli.h"

static const char help_ingest[] =
	"usage: sluice ingest FILE --schema S [--db PATH] [--threads N] [--chunk-size SIZE]\n"
	"                     [--max-errors N] [--max-error-ratio R] [--new] [--strict-source]\n"
	"                     [--json] [--quiet] [--progress]\n"
	"\n"
	"Load FILE into the schema's table in an SQLite database (default ./sluice.db):\n"
	"good rows exactly once, rejected rows into sluice_rejects with their reason and\n"
	"position. Running it again continues the unfinished job for the same file,\n"
	"schema and table. Exit 0 Succeeded, 3 PartiallySucceeded, 4 Failed, 2 usage.\n"
	"\n"
	"  --db PATH            the SQLite database (created when missing)\n"
	"  --threads N          parsing and validating threads (default: all cores)\n"
	"  --chunk-size SIZE    about this many bytes per chunk (default 64M)\n"
	"  --max-errors N       fail the job when more rows than N are rejected\n"
	"  --max-error-ratio R  fail the job when more than R (0..1) of the rows are rejected\n"
	"  --new                start a new job even if an unfinished one exists\n"
	"  --strict-source      fail the job (IO_CHANGED) when FILE grows while it runs;\n"
	"                       without it the job loads FILE as planned and warns\n"
	"  --json               one JSON object on stdout\n"
	"  --quiet              no progress bar, no summary\n"
	"  --progress           the progress bar even when stderr is not a terminal\n";

static const char help_validate[] =
	"usage: sluice validate FILE --schema S [--threads N] [--chunk-size SIZE] [--json]\n"
	"\n"
	"The checks of `sluice ingest` (structure, types, ranges, patterns...) without\n"
	"loading anything. Duplicate keys are not looked for: that needs the database.\n"
	"Exit 0 when every row is valid, 3 when some are not, 4 when FILE cannot be read.\n";

static const char help_job[] = "usage: sluice %s JOB [--db PATH] [--json] [--quiet]\n\n%s\n";

typedef struct bar {
	bool on;
	double last;
	bool read_all; /* every byte read: the rest is the writer's (the commit phase) */
	bool base_set; /* rows written before this run, taken at the first call */
	uint64_t base;
} bar;

static void human_bytes(char *out, size_t n, double b)
{
	const char *u[] = {"B", "KB", "MB", "GB", "TB"};
	int i = 0;
	while (b >= 1000 && i < 4) {
		b /= 1000;
		i++;
	}
	snprintf(out, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

static void human_count(char *out, size_t n, uint64_t v)
{
	if (v >= 10000000)
		snprintf(out, n, "%.1fM", (double)v / 1e6);
	else if (v >= 100000)
		snprintf(out, n, "%.0fk", (double)v / 1e3);
	else
		snprintf(out, n, "%llu", (unsigned long long)v);
}

/*
 * The bar counts rows written to the database (loaded or rejected), not
 * bytes read: for a keyed table every byte of a chunk is read (and its rows
 * sorted) long before they are written, and a bar of bytes would sit at
 * 100 % while the writer commits. The ETA comes from the rows this run
 * wrote; "?" until it wrote some. A line is printed at once when the reading
 * ends (the commit phase begins), else at most every 0.2 s.
 */
static void show_progress(void *ctx, const sl_ingest_progress *p)
{
	bar *b = ctx;
	const sl_job *j = p->job;
	if (!b->on)
		return;
	uint64_t written = j->rows_loaded + j->rows_rejected;
	if (!b->base_set) {
		b->base = written;
		b->base_set = true;
	}
	bool read_all = j->bytes_total && j->bytes_done >= j->bytes_total;
	bool phase = read_all && !b->read_all;
	b->read_all = read_all;
	bool end = p->rows_planned ? written >= p->rows_planned : read_all;
	if (!phase && !end && p->elapsed_s - b->last < 0.2)
		return;
	b->last = p->elapsed_s;
	double frac = p->rows_planned ? (double)written / (double)p->rows_planned : 0;
	if (frac > 1)
		frac = 1;
	double rfrac = j->bytes_total ? (double)j->bytes_done / (double)j->bytes_total : 0;
	if (rfrac > 1)
		rfrac = 1;
	char w_s[16], t_s[16], c_s[16], eta[32], size[32], line[240];
	human_bytes(size, sizeof size, (double)j->bytes_total);
	human_count(w_s, sizeof w_s, written);
	human_count(t_s, sizeof t_s, p->rows_planned);
	human_count(c_s, sizeof c_s, p->rows_committed);
	int width = 24, fill = (int)(frac * width);
	char bars[32];
	for (int i = 0; i < width; i++)
		bars[i] = i < fill ? '#' : '.';
	bars[width] = 0;
	uint64_t run = written > b->base ? written - b->base : 0;
	double rate = p->elapsed_s > 0 ? (double)run / p->elapsed_s : 0;
	if (end)
		snprintf(eta, sizeof eta, "ETA 0s");
	else if (rate > 0 && p->rows_planned > written)
		snprintf(eta, sizeof eta, "ETA %.0fs", (double)(p->rows_planned - written) / rate);
	else
		snprintf(eta, sizeof eta, "ETA ?");
	snprintf(
	    line, sizeof line,
	    "\r[%s] %3.0f%% %s/%s rows written (%s committed)  read %3.0f%% of %s  %.0fk rows/s  "
	    "%llu rejected  %s  ",
	    bars, frac * 100, w_s, t_s, c_s, rfrac * 100, size, rate / 1000,
	    (unsigned long long)j->rows_rejected, eta);
	fputs(line, stderr);
	if (b->on && !isatty(2))
		fputc('\n', stderr); /* --progress into a file or pipe: one line each */
	fflush(stderr);
}

typedef struct args {
	const char *file, *schema, *db, *job;
	sl_ingest_opts o;
	bool json, quiet, progress;
} args;

static int parse(const char *cmd, const char *help, int argc, char **argv, args *a, bool want_job)
{
	memset(a, 0, sizeof *a);
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t n;
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			fputs(help, stdout);
			return 1;
		} else if (!strcmp(s, "--json")) {
			a->json = true;
		} else if (!strcmp(s, "--quiet") || !strcmp(s, "-q")) {
			a->quiet = true;
		} else if (!strcmp(s, "--new")) {
			a->o.new_job = true;
		} else if (!strcmp(s, "--strict-source")) {
			a->o.strict_source = true;
		} else if (!strcmp(s, "--progress")) {
			a->progress = true;
		} else if (!strcmp(s, "--schema") || !strcmp(s, "--db") ||
		           !strcmp(s, "--threads") || !strcmp(s, "--chunk-size") ||
		           !strcmp(s, "--max-errors") || !strcmp(s, "--max-error-ratio") ||
		           !strcmp(s, "--correlation-id")) {
			if (!v)
				return cli_usage_error(cmd, "%s needs a value", s);
			i++;
			if (!strcmp(s, "--schema")) {
				a->schema = v;
			} else if (!strcmp(s, "--db")) {
				a->db = v;
			} else if (!strcmp(s, "--correlation-id")) {
				a->o.correlation_id = v;
			} else if (!strcmp(s, "--threads")) {
				if (cli_parse_u64(v, &n) || n < 1 || n > 256)
					return cli_usage_error(cmd, "--threads: '%s' is not 1..256", v);
				a->o.threads = (int)n;
			} else if (!strcmp(s, "--chunk-size")) {
				if (cli_parse_size(v, &n) || n < 1)
					return cli_usage_error(cmd, "--chunk-size: '%s' is not a size", v);
				a->o.chunk_size = n;
			} else if (!strcmp(s, "--max-errors")) {
				if (cli_parse_u64(v, &n))
					return cli_usage_error(cmd, "--max-errors: '%s' is not a number", v);
				a->o.has_max_errors = true;
				a->o.max_errors = n;
			} else {
				char *end;
				double r = strtod(v, &end);
				if (*end || !(r >= 0 && r <= 1))
					return cli_usage_error(cmd, "--max-error-ratio: '%s' is not 0..1", v);
				a->o.has_max_error_ratio = true;
				a->o.max_error_ratio = r;
			}
		} else if (s[0] == '-' && s[1]) {
			return cli_usage_error(cmd, "unknown option '%s'", s);
		} else if (want_job ? a->job != NULL : a->file != NULL) {
			return cli_usage_error(cmd, "one %s only", want_job ? "JOB" : "FILE");
		} else if (want_job) {
			a->job = s;
		} else {
			a->file = s;
		}
	}
	if (want_job && !a->job)
		return cli_usage_error(cmd, "JOB is missing");
	if (!want_job && !a->file)
		return cli_usage_error(cmd, "FILE is missing");
	if (!want_job && !a->schema)
		return cli_usage_error(cmd, "--schema is missing");
	return 0;
}

static int run(args *a, bool dry)
{
	sl_ingest_result r;
	bar b = {(isatty(2) && !a->quiet && !a->json) || a->progress, 0, false, false, 0};
	a->o.file = a->file;
	a->o.schema_path = a->schema;
	a->o.db = a->db;
	a->o.job_id = a->job;
	a->o.dry_run = dry;
	a->o.progress = show_progress;
	a->o.progress_ctx = &b;
	int rc = sl_ingest(&a->o, &r);
	if (b.on && isatty(2))
		fputc('\n', stderr);
	if (rc < 0) {
		fprintf(stderr, "sluice: %s (%s)\n", r.message[0] ? r.message : sl_error_message(rc),
			sl_error_name(rc));
		sl_job_clear(&r.job);
		return rc == SL_CONFIG || rc == SL_INVAL ? EXIT_USAGE : EXIT_FAILED;
	}
	if (a->json) {
		cli_job_json(stdout, &r.job);
		putchar('\n');
	} else if (!a->quiet) {
		cli_job_summary(stdout, &r.job);
		if (!dry && r.job.rows_rejected)
			printf("  rejects  sluice errors %s%s%s\n", r.job.id, a->db ? " --db " : "",
			       a->db ? a->db : "");
	}
	int ex = cli_job_exit(&r.job);
	sl_job_clear(&r.job);
	return ex;
}

int cmd_ingest(int argc, char **argv)
{
	args a;
	int rc = parse("ingest", help_ingest, argc, argv, &a, false);
	return rc ? (rc == 1 ? EXIT_OK : rc) : run(&a, false);
}

int cmd_validate(int argc, char **argv)
{
	args a;
	int rc = parse("validate", help_validate, argc, argv, &a, false);
	return rc ? (rc == 1 ? EXIT_OK : rc) : run(&a, true);
}

int cmd_resume(int argc, char **argv)
{
	args a;
	char help[512];
	snprintf(help, sizeof help, help_job, "resume",
		 "Continue an unfinished job: finished chunks are skipped, the rest run.");
	int rc = parse("resume", help, argc, argv, &a, true);
	return rc ? (rc == 1 ? EXIT_OK : rc) : run(&a, false);
}

int cmd_retry(int argc, char **argv)
{
	args a;
	char help[512];
	snprintf(help, sizeof help, help_job, "retry", "Run a job's Failed chunks again.");
	int rc = parse("retry", help, argc, argv, &a, true);
	if (rc)
		return rc == 1 ? EXIT_OK : rc;
	a.o.retry = true;
	return run(&a, false);
}

int cmd_rollback(int argc, char **argv)
{
	args a;
	char help[512], msg[512] = "";
	snprintf(help, sizeof help, help_job, "rollback",
		 "Delete the rows a finished job loaded; the job becomes RolledBack.");
	int rc = parse("rollback", help, argc, argv, &a, true);
	if (rc)
		return rc == 1 ? EXIT_OK : rc;
	uint64_t rows;
	rc = sl_ingest_rollback(a.db, a.job, &rows, msg, sizeof msg);
	if (rc < 0) {
		fprintf(stderr, "sluice rollback: %s\n", msg[0] ? msg : sl_error_message(rc));
		return rc == SL_INVAL ? EXIT_USAGE : EXIT_FAILED;
	}
	if (a.json)
		printf("{\"job_id\":\"%s\",\"status\":\"RolledBack\",\"rows_removed\":%llu}\n",
		       a.job, (unsigned long long)rows);
	else if (!a.quiet)
		printf("job %s rolled back: %llu rows removed\n", a.job, (unsigned long long)rows);
	return EXIT_OK;
}

int cmd_cancel(int argc, char **argv)
{
	args a;
	char help[600], msg[512] = "";
	snprintf(help, sizeof help, help_job, "cancel",
		 "Stop a job: at once when nobody runs it, else after the chunk it commits. "
		 "'sluice retry JOB' runs the rest later.");
	int rc = parse("cancel", help, argc, argv, &a, true);
	if (rc)
		return rc == 1 ? EXIT_OK : rc;
	sl_job_status st = SL_JOB_ACCEPTED;
	rc = sl_job_cancel(a.db, a.job, &st, msg, sizeof msg);
	if (rc < 0) {
		fprintf(stderr, "sluice cancel: %s\n", msg[0] ? msg : sl_error_message(rc));
		return rc == SL_INVAL || rc == SL_CONFLICT ? EXIT_USAGE : EXIT_FAILED;
	}
	if (a.json)
		printf("{\"job_id\":\"%s\",\"status\":\"%s\",\"cancel_requested\":true}\n", a.job,
		       sl_job_status_name(st));
	else if (!a.quiet)
		printf(st == SL_JOB_CANCELLED ? "job %s cancelled\n"
					      : "job %s: cancel requested; it stops after the chunk in progress\n",
		       a.job);
	return EXIT_OK;
}
