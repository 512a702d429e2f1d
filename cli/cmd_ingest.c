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
	"                     [--max-errors N] [--max-error-ratio R] [--new] [--json] [--quiet]\n"
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
	"  --json               one JSON object on stdout\n"
	"  --quiet              no progress bar, no summary\n";

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

static void show_progress(void *ctx, const sl_ingest_progress *p)
{
	bar *b = ctx;
	if (!b->on || (p->elapsed_s - b->last < 0.2 && p->job->bytes_done < p->job->bytes_total))
		return;
	b->last = p->elapsed_s;
	const sl_job *j = p->job;
	double frac = j->bytes_total ? (double)j->bytes_done / (double)j->bytes_total : 0;
	if (frac > 1)
		frac = 1;
	char done[32], total[32], line[160];
	human_bytes(done, sizeof done, (double)j->bytes_done);
	human_bytes(total, sizeof total, (double)j->bytes_total);
	int w = 24, fill = (int)(frac * w);
	char bars[32];
	for (int i = 0; i < w; i++)
		bars[i] = i < fill ? '#' : '.';
	bars[w] = 0;
	double rate = p->elapsed_s > 0 ? (double)j->rows_read / p->elapsed_s : 0;
	double eta = frac > 0.001 ? p->elapsed_s * (1 - frac) / frac : 0;
	snprintf(line, sizeof line, "\r[%s] %3.0f%% %s/%s  %.0fk rows/s  %llu rejected  ETA %.0fs  ", bars,
		 frac * 100, done, total, rate / 1000, (unsigned long long)j->rows_rejected, eta);
	fputs(line, stderr);
	fflush(stderr);
}

typedef struct args {
	const char *file, *schema, *db, *job;
	sl_ingest_opts o;
	bool json, quiet;
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
		} else if (!strcmp(s, "--schema") || !strcmp(s, "--db") || !strcmp(s, "--threads") ||
			   !strcmp(s, "--chunk-size") || !strcmp(s, "--max-errors") ||
			   !strcmp(s, "--max-error-ratio") || !strcmp(s, "--correlation-id")) {
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
	bar b = {isatty(2) && !a->quiet && !a->json, 0};
	a->o.file = a->file;
	a->o.schema_path = a->schema;
	a->o.db = a->db;
	a->o.job_id = a->job;
	a->o.dry_run = dry;
	a->o.progress = show_progress;
	a->o.progress_ctx = &b;
	int rc = sl_ingest(&a->o, &r);
	if (b.on)
		fputc('\n', stderr);
	if (rc < 0) {
		fprintf(stderr, "sluice: %s (%s)\n", r.message[0] ? r.message : sl_error_message(rc),
			sl__error_report(rc));
		sl_job_clear(&r.job);
		return rc == SL_CONFIG || rc == SL_INVAL ? EXIT_USAGE : EXIT_FAILED;
	}
	if (a->json) {
		cli_job_json(stdout, &r.job, r.resumed, r.duration_s);
		putchar('\n');
	} else if (!a->quiet) {
		cli_job_summary(stdout, &r.job, r.resumed, r.duration_s);
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
		fprintf(stderr, "sluice rollback: %s (%s)\n", msg[0] ? msg : sl_error_message(rc),
			sl__error_report(rc));
		return rc == SL_INVAL ? EXIT_USAGE : EXIT_FAILED;
	}
	if (a.json)
		printf("{\"job_id\":\"%s\",\"status\":\"RolledBack\",\"rows_deleted\":%llu}\n", a.job,
		       (unsigned long long)rows);
	else if (!a.quiet)
		printf("job %s rolled back: %llu rows deleted\n", a.job, (unsigned long long)rows);
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
		fprintf(stderr, "sluice cancel: %s (%s)\n", msg[0] ? msg : sl_error_message(rc),
			sl__error_report(rc));
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
