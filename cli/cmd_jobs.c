/*
 * `sluice jobs`, `status`, `errors`, `gc`: reading the job store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <unistd.h>

#include "base/base.h"
#include "cli.h"

typedef struct jargs {
	const char *db, *job, *status, *code, *format, *older, *limit, *after, *dataset;
	bool json, chunks, open;
} jargs;

static int jparse(const char *cmd, const char *help, int argc, char **argv, jargs *a, int njob)
{
	memset(a, 0, sizeof *a);
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			fputs(help, stdout);
			return 1;
		} else if (!strcmp(s, "--json")) {
			a->json = true;
		} else if (!strcmp(s, "--chunks")) {
			a->chunks = true;
		} else if (!strcmp(s, "--open") && !strcmp(cmd, "errors")) {
			a->open = true;
		} else if (!strcmp(s, "--db") || !strcmp(s, "--status") || !strcmp(s, "--code") ||
			   !strcmp(s, "--format") || !strcmp(s, "--older-than") ||
			   (!strcmp(cmd, "jobs") && (!strcmp(s, "--limit") || !strcmp(s, "--after") ||
			                             !strcmp(s, "--dataset")))) {
			if (i + 1 >= argc)
				return cli_usage_error(cmd, "%s needs a value", s);
			const char *v = argv[++i];
			if (!strcmp(s, "--db"))
				a->db = v;
			else if (!strcmp(s, "--status"))
				a->status = v;
			else if (!strcmp(s, "--code"))
				a->code = v;
			else if (!strcmp(s, "--format"))
				a->format = v;
			else if (!strcmp(s, "--limit"))
				a->limit = v;
			else if (!strcmp(s, "--after"))
				a->after = v;
			else if (!strcmp(s, "--dataset"))
				a->dataset = v;
			else
				a->older = v;
		} else if (s[0] == '-' && s[1]) {
			return cli_usage_error(cmd, "unknown option '%s'", s);
		} else if (njob && !a->job) {
			a->job = s;
		} else {
			return cli_usage_error(cmd, "unexpected argument '%s'", s);
		}
	}
	if (njob && !a->job)
		return cli_usage_error(cmd, "JOB is missing");
	return 0;
}

/* Readers never create a database: a path with none is a mistake to name. */
static int need_db(const char *cmd, const char *db)
{
	const char *path = db ? db : "sluice.db";
	/* a server's database (postgres://) is there or not: opening it says */
	if (strstr(path, "://") || access(path, F_OK) == 0)
		return 0;
	fprintf(stderr,
	        "sluice %s: no database %s (%s); --db names the one 'sluice ingest' wrote\n", cmd,
	        path, strerror(errno));
	return EXIT_USAGE;
}

static int fail(const char *cmd, int rc, const char *msg)
{
	fprintf(stderr, "sluice %s: %s (%s)\n", cmd, msg[0] ? msg : sl_error_message(rc),
		sl__error_report(rc));
	return rc == SL_INVAL || rc == SL_NOT_FOUND ? EXIT_USAGE : EXIT_FAILED;
}

typedef struct list_ctx {
	bool json;
	size_t n, limit; /* limit 0: all */
	bool more;       /* a job beyond the limit exists */
	sl_job_cursor last;
} list_ctx;

static int list_one(void *ctx, const sl_job *j)
{
	list_ctx *c = ctx;
	if (c->limit && c->n == c->limit) {
		c->more = true; /* the one more the store gave */
		return 1;
	}
	c->last.created_ms = j->created_ms;
	snprintf(c->last.id, sizeof c->last.id, "%s", j->id);
	if (c->json) {
		fputs(c->n ? ",\n" : "\n", stdout);
		cli_job_json(stdout, j);
	} else {
		char when[32] = "-", fb[4200];
		time_t t = (time_t)(j->created_ms / 1000);
		struct tm tm;
		if (gmtime_r(&t, &tm))
			strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
		printf("%-20s %-19s %-18s %12llu %12llu %10llu  %s\n", j->id, when,
		       sl_job_status_name(j->status), (unsigned long long)j->rows_read,
		       (unsigned long long)j->rows_loaded, (unsigned long long)j->rows_rejected,
		       cli_job_file(j, fb, sizeof fb));
	}
	c->n++;
	return 0;
}

int cmd_jobs(int argc, char **argv)
{
	jargs a;
	char msg[512] = "";
	int rc =
	    jparse("jobs",
	           "usage: sluice jobs [--db PATH] [--status S] [--dataset D] [--limit N]\n"
	           "                   [--after CURSOR] [--json]\n\n"
	           "List jobs, newest first. S: Accepted, Chunking, ChunksQueued, Processing,\n"
	           "Succeeded, PartiallySucceeded, Failed, RolledBack, Cancelled. --limit: at\n"
	           "most N (a page); --after: the jobs after the page that ended at CURSOR\n"
	           "(its next_cursor, or the last line's \"next: CURSOR\"). --json: one object\n"
	           "{\"jobs\": [...]} (with --limit also \"next_cursor\"), each job as\n"
	           "`sluice status --json` shows it (the shape of GET /v1/jobs).\n",
	           argc, argv, &a, 0);
	if (rc)
		return rc == 1 ? EXIT_OK : rc;
	if ((rc = need_db("jobs", a.db)))
		return rc;
	sl_job_status st = 0;
	if (a.status && sl_job_status_parse(a.status, &st) < 0)
		return cli_usage_error("jobs", "--status: '%s' is not a job status", a.status);
	list_ctx c = {.json = a.json};
	sl_job_filter f = SL_JOB_FILTER_ALL;
	f.status = a.status ? (int)st : -1;
	f.dataset = a.dataset;
	if (a.limit) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(a.limit, &end, 10);
		if (!(a.limit[0] >= '0' && a.limit[0] <= '9') || *end || errno || v < 1 ||
		    v > 1000000)
			return cli_usage_error("jobs", "--limit: a whole number from 1 to 1000000");
		c.limit = (size_t)v;
		f.limit = c.limit + 1; /* one more: is there a next page */
	}
	if (a.after) {
		/* the cursor is the API's: "<created_ms>.<job id>" of a page's last job */
		char *end;
		errno = 0;
		long long ms = strtoll(a.after, &end, 10);
		if (!(a.after[0] >= '0' && a.after[0] <= '9') || errno || *end != '.' || !end[1] ||
		    strlen(end + 1) >= sizeof f.after.id)
			return cli_usage_error("jobs", "--after: '%s' is not a cursor", a.after);
		f.after.created_ms = ms;
		snprintf(f.after.id, sizeof f.after.id, "%s", end + 1);
	}
	if (a.json)
		fputs("{\"jobs\":[", stdout);
	else
		printf("%-20s %-19s %-18s %12s %12s %10s  %s\n", "JOB", "CREATED (UTC)", "STATUS", "READ",
		       "LOADED", "REJECTED", "FILE");
	rc = sl_jobs_page(a.db, &f, list_one, &c, msg, sizeof msg);
	if (rc == 1 && c.more)
		rc = 0; /* the page is full: list_one stopped the walk */
	if (a.json && !c.limit) {
		puts(c.n ? "\n]}" : "]}"); /* the whole list: no page, no cursor */
	} else if (a.json) {
		fputs(c.n ? "\n],\"next_cursor\":" : "],\"next_cursor\":", stdout);
		if (c.more)
			printf("\"%lld.%s\"}\n", (long long)c.last.created_ms, c.last.id);
		else
			puts("null}");
	} else if (c.more) {
		printf("next: %lld.%s\n", (long long)c.last.created_ms, c.last.id);
	}
	return rc < 0 ? fail("jobs", rc, msg) : EXIT_OK;
}

int cmd_status(int argc, char **argv)
{
	jargs a;
	char msg[512] = "";
	sl_job j;
	sl_chunk *ch = NULL;
	size_t n = 0;
	int rc = jparse("status", "usage: sluice status JOB [--db PATH] [--chunks] [--json]\n\n"
				  "A job's status and counters; --chunks adds each chunk's.\n",
			argc, argv, &a, 1);
	if (rc)
		return rc == 1 ? EXIT_OK : rc;
	if ((rc = need_db("status", a.db)))
		return rc;
	rc = sl_job_load(a.db, a.job, &j, a.chunks ? &ch : NULL, &n, msg, sizeof msg);
	if (rc < 0)
		return fail("status", rc, msg);
	if (a.json) {
		putchar('{');
		sl_job_json_fields(stdout, &j, sl_now_ms());
		if (a.chunks) {
			printf(",\"chunks\":[");
			for (size_t i = 0; i < n; i++) {
				if (i)
					putchar(',');
				sl_chunk_json(stdout, &j, &ch[i]);
			}
			putchar(']');
		}
		puts("}");
	} else {
		cli_job_summary(stdout, &j);
		if (a.chunks) {
			printf("\n%6s %-10s %8s %14s %12s %10s %10s %10s  %s\n", "CHUNK", "STATUS", "ATTEMPTS",
			       "OFFSET", "BYTES", "READ", "LOADED", "REJECTED", "LAST ERROR");
			for (size_t i = 0; i < n; i++)
				printf("%6u %-10s %8u %14llu %12llu %10llu %10llu %10llu  %s%s%s\n", ch[i].seq,
				       sl_chunk_status_name(ch[i].status), ch[i].attempts,
				       (unsigned long long)ch[i].offset, (unsigned long long)ch[i].length,
				       (unsigned long long)ch[i].rows_read, (unsigned long long)ch[i].rows_loaded,
				       (unsigned long long)ch[i].rows_rejected,
				       ch[i].last_error ? sl__error_report(ch[i].last_error) : "",
				       ch[i].last_message[0] ? ": " : "", ch[i].last_message);
		}
	}
	free(ch);
	sl_job_clear(&j);
	return EXIT_OK; /* the job's status is in the output; the command itself worked */
}

/* --- errors ------------------------------------------------------------------ */

typedef struct err_ctx {
	bool csv, raw, open;
} err_ctx;

void cli_reject_print(FILE *out, bool csv, uint32_t chunk, const sl_reject *r, const char *column)
{
	if (csv)
		sl_reject_csv(out, chunk, r, column);
	else
		sl_reject_jsonl(out, chunk, r, column);
}

static int print_reject(void *ctx, uint32_t chunk, const sl_reject *r, const char *column)
{
	err_ctx *c = ctx;
	if (c->open && r->resolved_by.n)
		return 0; /* a refeed has loaded it */
	if (c->raw) {
		/* the record as it was in the file, to fix and load again */
		fwrite(r->raw.p, 1, r->raw.n, stdout);
		putchar('\n');
	} else {
		cli_reject_print(stdout, c->csv, chunk, r, column);
	}
	return 0;
}

int cmd_errors(int argc, char **argv)
{
	jargs a;
	char msg[512] = "";
	int rc = jparse("errors",
			"usage: sluice errors JOB [--db PATH] [--code CODE] [--format csv|jsonl|raw] [--open]\n\n"
			"Stream a job's rejected rows in file order: record, line, byte offset,\n"
			"column, code, message and the raw record. csv (the default) has the header\n"
			"record,line,offset,chunk,column,code,message,raw; jsonl one object per row; raw is\n"
			"the file's header line and each bad record as it was in the file: fix it and\n"
			"load it again with the same schema (or 'sluice refeed JOB --schema FIXED').\n"
			"--open: only the rows no refeed has loaded yet (the job's rejects_open).\n",
			argc, argv, &a, 1);
	if (rc)
		return rc == 1 ? EXIT_OK : rc;
	if ((rc = need_db("errors", a.db)))
		return rc;
	if (a.json)
		return cli_usage_error("errors",
		                       "--json: errors has no JSON object form; --format jsonl "
		                       "writes one JSON object per row");
	err_ctx c = {true, false, a.open};
	if (a.format && !strcmp(a.format, "jsonl"))
		c.csv = false;
	else if (a.format && !strcmp(a.format, "raw"))
		c.raw = true;
	else if (a.format && strcmp(a.format, "csv"))
		return cli_usage_error("errors", "--format: '%s' is not csv, jsonl or raw", a.format);
	int code = 0;
	if (a.code) {
		code = sl_error_from_name(a.code);
		if (code > 0) {
			char full[64];
			snprintf(full, sizeof full, "CSV_%s", a.code);
			code = sl_error_from_name(full);
		}
		if (code >= 0)
			return cli_usage_error("errors", "--code: '%s' is not an error code (see 'sluice codes')",
					       a.code);
	}
	static char obuf[1 << 16];
	setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
	if (c.raw) {
		/* the file's own header line first, so the output loads as it is */
		sl_job j;
		rc = sl_job_load(a.db, a.job, &j, NULL, NULL, msg, sizeof msg);
		if (rc < 0)
			return fail("errors", rc, msg);
		/* a set of files: the first one's header (all have it) */
		char *first = j.files && strchr(j.files, '\n') ? strndup(j.files, (size_t)(strchr(j.files, '\n') - j.files)) : NULL;
		const char *hp = first && strrchr(first, '\t') ? strrchr(first, '\t') + 1 : j.file;
		FILE *f = hp ? fopen(hp, "rb") : NULL;
		free(first);
		char line[65536];
		if (!f || !fgets(line, sizeof line, f)) {
			fprintf(stderr, "sluice errors: cannot read the header line of %s\n", j.file ? j.file : "?");
			if (f)
				fclose(f);
			sl_job_clear(&j);
			return EXIT_FAILED;
		}
		fclose(f);
		line[strcspn(line, "\r\n")] = 0;
		puts(line);
		sl_job_clear(&j);
	} else if (c.csv) {
		sl_job j = {0};
		bool files = sl_job_load(a.db, a.job, &j, NULL, NULL, msg, sizeof msg) >= 0 && j.files;
		sl_job_clear(&j);
		msg[0] = '\0';
		fputs(files ? SL_REJECT_CSV_HEADER_FILES : SL_REJECT_CSV_HEADER, stdout);
	}
	rc = sl_job_rejects(a.db, a.job, code, print_reject, &c, msg, sizeof msg);
	fflush(stdout);
	return rc < 0 ? fail("errors", rc, msg) : EXIT_OK;
}

int cmd_gc(int argc, char **argv)
{
	jargs a;
	char msg[512] = "";
	int rc = jparse("gc", "usage: sluice gc --older-than AGE [--db PATH]\n\n"
			      "Delete the rejected rows and audit events of finished jobs last updated\n"
			      "more than AGE ago (e.g. 7d, 12h, 30m). Jobs and loaded rows stay.\n",
			argc, argv, &a, 0);
	if (rc)
		return rc == 1 ? EXIT_OK : rc;
	if (a.json)
		return cli_usage_error("gc", "--json: gc has no JSON form");
	if (!a.older)
		return cli_usage_error("gc", "--older-than is missing");
	char *end;
	double v = strtod(a.older, &end);
	double unit = !strcmp(end, "d") ? 86400e3 : !strcmp(end, "h") ? 3600e3 : !strcmp(end, "m") ? 60e3
		      : !strcmp(end, "s") ? 1e3 : -1;
	if (unit < 0 || !(v >= 0) || end == a.older)
		return cli_usage_error("gc", "--older-than: '%s' is not an age like 7d, 12h, 30m", a.older);
	uint64_t jobs = 0;
	rc = sl_gc(a.db, (int64_t)(v * unit), &jobs, msg, sizeof msg);
	if (rc < 0)
		return fail("gc", rc, msg);
	printf("cleaned the error rows and events of %llu finished jobs\n", (unsigned long long)jobs);
	return EXIT_OK;
}
