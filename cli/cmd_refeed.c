/*
 * `sluice refeed JOB [--schema FIXED.yaml]`: load a finished job's rejected
 * rows again, through a fixed schema, as a new job (sluice/refeed.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "cli.h"
#include "sluice/refeed.h"

static const char help_refeed[] =
    "usage: sluice refeed JOB [--schema FIXED.yaml] [--mode MODE] [--db PATH]\n"
    "                     [--threads N] [--chunk-size SIZE] [--json] [--quiet]\n"
    "\n"
    "Fix and refeed: load the rejected rows of finished job JOB again, their raw\n"
    "bytes in file order (after the header its file had), as a new job linked to\n"
    "JOB (refeed_of), through FIXED.yaml (default: JOB's schema as it is now) into\n"
    "the same table. The rows that load are marked resolved in JOB's error table\n"
    "(resolved_by) and JOB's rejects_open says how many are left; a second refeed\n"
    "of JOB takes only those. A refeed job can be refed in turn.\n"
    "Exit 0 every row loaded, 3 some were rejected again, 4 failed, 2 usage, no\n"
    "such job, or nothing to refeed (NO_OPEN_REJECTS).\n"
    "\n"
    "  --schema FIXED.yaml  the fixed schema (it must load the same table)\n"
    "  --mode MODE          the refeed job's load mode: append, replace (the table\n"
    "                       then holds the refed rows only) or atomic (all of them\n"
    "                       or none); default the schema's mode: (docs/ingest.md)\n"
    "  --db PATH            the SQLite database (default ./sluice.db)\n"
    "  --threads N          parsing and validating threads (default: all cores)\n"
    "  --chunk-size SIZE    about this many bytes per chunk (default 64M)\n"
    "  --json               one JSON object on stdout: the new job's fields and\n"
    "                       \"first\" (JOB's job_id, rows_rejected, rejects_open,\n"
    "                       rejects_resolved after the refeed)\n"
    "  --quiet              no summary\n";

int cmd_refeed(int argc, char **argv)
{
	const char *job = NULL, *schema = NULL, *db = NULL, *corr = NULL;
	bool json = false, quiet = false;
	sl_ingest_opts io = {0};
	sl_load_mode mode = SL_MODE_DEFAULT;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t n;
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			fputs(help_refeed, stdout);
			return EXIT_OK;
		} else if (!strcmp(s, "--json")) {
			json = true;
		} else if (!strcmp(s, "--quiet") || !strcmp(s, "-q")) {
			quiet = true;
		} else if (!strcmp(s, "--schema") || !strcmp(s, "--db") ||
		           !strcmp(s, "--threads") || !strcmp(s, "--chunk-size") ||
		           !strcmp(s, "--correlation-id") || !strcmp(s, "--mode")) {
			if (!v)
				return cli_usage_error("refeed", "%s needs a value", s);
			i++;
			if (!strcmp(s, "--schema"))
				schema = v;
			else if (!strcmp(s, "--db"))
				db = v;
			else if (!strcmp(s, "--correlation-id"))
				corr = v;
			else if (!strcmp(s, "--mode")) {
				if (!*v || sl_load_mode_parse(v, &mode) < 0)
					return cli_usage_error(
					    "refeed",
					    "--mode: '%s' is not append, replace or atomic", v);
			} else if (!strcmp(s, "--threads")) {
				if (cli_parse_u64(v, &n) || n < 1 || n > 256)
					return cli_usage_error("refeed",
					                       "--threads: '%s' is not 1..256", v);
				io.threads = (int)n;
			} else {
				if (cli_parse_size(v, &n) || n < 1)
					return cli_usage_error(
					    "refeed", "--chunk-size: '%s' is not a size", v);
				io.chunk_size = n;
			}
		} else if (s[0] == '-' && s[1]) {
			return cli_usage_error("refeed", "unknown option '%s'", s);
		} else if (job) {
			return cli_usage_error("refeed", "one JOB only");
		} else {
			job = s;
		}
	}
	if (!job)
		return cli_usage_error("refeed", "JOB is missing");
	/* a reader never creates a database: no database, no job */
	/* (a server's database, postgres://, is there or not: opening it says) */
	if (!(db && strstr(db, "://")) && access(db ? db : "sluice.db", F_OK) != 0) {
		fprintf(stderr,
		        "sluice refeed: no database %s; --db names the one 'sluice ingest' wrote\n",
		        db ? db : "sluice.db");
		sl__error_report(SL_NOT_FOUND);
		return EXIT_USAGE;
	}
	char msg[1024] = "";
	sl_job nj;
	sl_refeed_opts ro = {
	    .db = db, .job_id = job, .schema_path = schema, .correlation_id = corr, .mode = mode};
	int rc = sl_refeed_prepare(&ro, &nj, msg, sizeof msg);
	if (rc < 0) {
		fprintf(stderr, "sluice refeed: %s (%s)\n", msg[0] ? msg : sl_error_message(rc),
		        sl__error_report(rc));
		return rc == SL_NOT_FOUND || rc == SL_CONFLICT || rc == SL_CONFIG ||
		               rc == SL_NO_OPEN_REJECTS
		           ? EXIT_USAGE
		           : EXIT_FAILED;
	}
	sl_ingest_result r;
	io.db = db;
	io.job_id = nj.id;
	io.new_job = true; /* the same rows as an earlier refeed's are still to load */
	io.correlation_id = corr;
	rc = sl_ingest(&io, &r);
	sl_job_clear(&nj);
	if (rc < 0) {
		fprintf(stderr, "sluice refeed: %s (%s)\n",
		        r.message[0] ? r.message : sl_error_message(rc), sl__error_report(rc));
		sl_job_clear(&r.job);
		return EXIT_FAILED;
	}
	sl_job first = {0};
	int lr = sl_job_load(db, job, &first, NULL, NULL, msg, sizeof msg);
	if (json) {
		fputc('{', stdout);
		sl_job_json_fields(stdout, &r.job, sl_now_ms());
		if (lr == 0) {
			uint64_t res = first.rejects_resolved < first.rows_rejected
			                   ? first.rejects_resolved
			                   : first.rows_rejected;
			printf(",\"first\":{\"job_id\":\"%s\",\"rows_rejected\":%llu,\"rejects_"
			       "open\":%llu,"
			       "\"rejects_resolved\":%llu}",
			       first.id, (unsigned long long)first.rows_rejected,
			       (unsigned long long)(first.rows_rejected - res),
			       (unsigned long long)res);
		}
		fputs("}\n", stdout);
	} else if (!quiet) {
		cli_job_summary(stdout, &r.job);
		if (lr == 0)
			printf(
			    "  job %s: %llu rejected rows, %llu loaded by refeeds, %llu still "
			    "open\n",
			    first.id, (unsigned long long)first.rows_rejected,
			    (unsigned long long)(first.rejects_resolved < first.rows_rejected
			                             ? first.rejects_resolved
			                             : first.rows_rejected),
			    (unsigned long long)(first.rows_rejected > first.rejects_resolved
			                             ? first.rows_rejected - first.rejects_resolved
			                             : 0));
		if (r.job.rows_rejected)
			printf("  rejects  sluice errors %s%s%s\n", r.job.id, db ? " --db " : "",
			       db ? db : "");
	}
	int ex = cli_job_exit(&r.job);
	sl_job_clear(&r.job);
	sl_job_clear(&first);
	return ex;
}
