/*
 * `sluice ingest`, `validate`, `resume`, `retry`, `rollback`.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "cli.h"

static const char help_ingest[] =
	"usage: sluice ingest FILE... --schema S [--db PATH] [--threads N] [--chunk-size SIZE]\n"
	"                     [--max-errors N] [--max-error-ratio R] [--mode M] [--new]\n"
	"                     [--strict-source] [--compression none|auto|gzip|zstd]\n"
	"                     [--from-program CMD] [--s3-endpoint URL] [--spool DIR]\n"
	"                     [--json] [--quiet] [--progress] [--lease-ttl S] [dialect options]\n"
	"                     [--max-attempts N] [--retry-backoff S]\n"
	"\n"
	"Load FILE into the schema's table in an SQLite database (default ./sluice.db):\n"
	"good rows exactly once, rejected rows into sluice_rejects with their reason and\n"
	"position. Running it again continues the unfinished job for the same file,\n"
	"schema, dialect and table (also while another process runs it: they share its\n"
	"chunks, as `sluice worker`s do); a file whose content a finished job loaded\n"
	"already is not loaded again: that job is reported and its exit status given.\n"
	"Exit 0 Succeeded, 3 PartiallySucceeded, 4 Failed, 2 usage.\n"
	"\n"
	"  --db PATH            the SQLite database (created when missing)\n"
	"  --threads N          parsing and validating threads (default: all cores)\n"
	"  --chunk-size SIZE    about this many bytes per chunk (default 64M)\n"
	"  --max-errors N       fail the job when more rows than N are rejected\n"
	"  --max-error-ratio R  fail the job when more than R (0..1) of the rows are rejected\n"
	"  --mode M             append (default), replace (the file's rows replace the\n"
	"                       table's when the job finishes) or atomic (all its good\n"
	"                       rows appear together when it finishes, or none); over\n"
	"                       the schema's mode:, and kept by the job for a resume\n"
	"  --new                start a new job whatever exists (an unfinished job for the\n"
	"                       file, or a finished load of the same content)\n"
	"  --json               one JSON object on stdout\n"
	"  --strict-source      fail the job (IO_CHANGED) when FILE grows while it runs;\n"
	"                       without it the job loads FILE as planned and warns\n"
	"  --quiet              no progress bar, no summary\n"
	"  --progress           the progress bar even when stderr is not a terminal\n"
	"  --compression C      how FILE is compressed: auto (default: gzip and zstd by their\n"
	"                       magic bytes, not the name), none, gzip or zstd; a resume\n"
	"                       decodes as the job was planned\n"
	"  --s3-endpoint URL    the S3 endpoint for FILE = s3://bucket/key (default\n"
	"                       AWS_ENDPOINT_URL, else AWS's); credentials from AWS_ACCESS_KEY_ID,\n"
	"                       AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION\n"
	"  --from-program CMD   instead of FILE: the standard output of 'sh -c CMD'\n"
	"  --spool DIR          keep a copy of a stream in DIR/JOB.stream: the job's file,\n"
	"                       so that it can be resumed\n"
	"\n"
	"FILE may be - (standard input) or a FIFO: a stream is read once, kept in a spool\n"
	"next to the database while the job runs, and cannot be resumed after a kill\n"
	"unless --spool kept a copy.\n"
	"Several FILEs, or one quoted glob ('in/*.csv.gz', expanded by sluice), are one\n"
	"job: the files in name order, each decoded on its own, every header the first's;\n"
	"each reject names its file. A resume refuses when the set of files changed.\n"
	"  --lease-ttl S        seconds a claimed chunk stays this run's without a renewal\n"
	"                       (default 30; `sluice worker`s may share the job)\n"
	CLI_LEADER_HELP
	"\n"
	"The dialect options override the schema's csv: for this run (the job records\n"
	"what it used): --delimiter --quote --escape --comment --no-header\n"
	"--keep-empty-lines --lenient --utf8 --max-row, and\n"
	"  --null TEXT          a field equal to TEXT is NULL (repeat it; replaces csv null:)\n"
	"  --null-padding       missing trailing fields of a short record are NULL\n";

static const char help_validate[] =
	"usage: sluice validate FILE --schema S [--threads N] [--chunk-size SIZE] [--json]\n"
	"                       [--errors-out FILE] [--compression C] [dialect options as for\n"
	"                       ingest]\n"
	"\n"
	"The checks of `sluice ingest` (header, structure, types, ranges, patterns...)\n"
	"without loading anything or opening a database, and the rows that fail: the\n"
	"first 20 per code on stdout, every one with --errors-out FILE (CSV with the\n"
	"columns of 'sluice errors', or JSON lines when FILE ends in .jsonl).\n"
	"Duplicate keys are not looked for: that needs the database.\n"
	"Exit 0 when every row is valid, 3 when some are not, 4 when FILE cannot be\n"
	"read or its header does not match, 2 for a usage or schema error.\n";

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

#define MAX_CLI_NULLS    64
#define MAX_DIALECT_OPTS 32

typedef struct args {
	const char *file, *schema, *db, *job, *errors_out;
	/* every FILE given (several: one job of them all; docs/ingest.md) */
	char **files;
	size_t nfiles;
	sl_ingest_opts o;
	bool json, quiet, progress;
	/* dialect options, replayed over the schema's csv: once it is loaded */
	int dopt[MAX_DIALECT_OPTS];
	int ndopt;
	char *nulls[MAX_CLI_NULLS];
	sl_csv_dialect d;
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
		} else if (!want_job && !strcmp(s, "--null-padding")) {
			a->o.null_padding = true;
		} else if (!want_job && (!strcmp(s, "--null") || !strcmp(s, "--errors-out"))) {
			if (!v)
				return cli_usage_error(cmd, "%s needs a value", s);
			i++;
			if (!strcmp(s, "--errors-out")) {
				a->errors_out = v;
			} else {
				if (a->o.nnulls >= MAX_CLI_NULLS)
					return cli_usage_error(cmd, "--null: at most %d",
					                       MAX_CLI_NULLS);
				a->nulls[a->o.nnulls++] = (char *)v;
				a->o.has_nulls = true;
			}
		} else if (!strcmp(s, "--strict-source")) {
			a->o.strict_source = true;
		} else if (!want_job && !strcmp(s, "--spool")) {
			if (!v || !*v)
				return cli_usage_error(cmd, "--spool needs a directory");
			i++;
			a->o.spool_dir = v;
		} else if (!want_job && !strcmp(s, "--from-program")) {
			if (!v || !*v)
				return cli_usage_error(cmd, "--from-program needs a command");
			i++;
			a->o.program = v;
		} else if (!want_job && !strcmp(s, "--compression")) {
			if (!v || (strcmp(v, "auto") && strcmp(v, "none") && strcmp(v, "gzip") &&
			           strcmp(v, "zstd")))
				return cli_usage_error(cmd, "--compression: '%s' is not none, auto, gzip or zstd",
				                       v ? v : "");
			i++;
			a->o.compression = v;
		} else if (!strcmp(s, "--s3-endpoint")) {
			if (!v || strncmp(v, "http", 4) != 0)
				return cli_usage_error(
				    cmd, "--s3-endpoint: expected http://HOST[:PORT] or https://...");
			i++;
			a->o.s3_endpoint = v;
		} else if (!strcmp(s, "--progress")) {
			a->progress = true;
		} else if (!strcmp(s, "--schema") || !strcmp(s, "--db") || !strcmp(s, "--threads") ||
			   !strcmp(s, "--chunk-size") || !strcmp(s, "--max-errors") ||
			   !strcmp(s, "--max-error-ratio") || !strcmp(s, "--correlation-id") ||
			   !strcmp(s, "--lease-ttl") || !strcmp(s, "--max-attempts") ||
			   !strcmp(s, "--retry-backoff") || (!want_job && !strcmp(s, "--mode"))) {
			if (!v)
				return cli_usage_error(cmd, "%s needs a value", s);
			i++;
			int lr = cli_leader_opt(cmd, s + 2, v, &a->o.leader);
			if (lr > 1)
				return lr;
			if (lr == 1) {
				continue;
			} else if (!strcmp(s, "--schema")) {
				a->schema = v;
			} else if (!strcmp(s, "--db")) {
				a->db = v;
			} else if (!strcmp(s, "--correlation-id")) {
				a->o.correlation_id = v;
			} else if (!strcmp(s, "--mode")) {
				if (sl_load_mode_parse(v, &a->o.mode) < 0 || !*v)
					return cli_usage_error(cmd, "--mode: '%s' is not append, replace or atomic", v);
			} else if (!strcmp(s, "--lease-ttl")) {
				if (cli_parse_seconds(v, &a->o.lease_ttl_ms))
					return cli_usage_error(cmd, "--lease-ttl: '%s' is not 0.01..86400 seconds", v);
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
			/* a dialect option? checked on a scratch dialect now, applied
			   over the schema's later (its csv: is not read yet) */
			sl_csv_dialect scratch;
			sl_csv_scanner sc = SL_CSV_SCAN_AUTO;
			int at = i, r = 0;
			sl_csv_dialect_init(&scratch);
			if (!want_job && strcmp(s, "--scanner"))
				r = cli_dialect_opt(cmd, argc, argv, &i, &scratch, &sc);
			if (r == EXIT_USAGE)
				return r;
			if (r == 0)
			return cli_usage_error(cmd, "unknown option '%s'", s);
			if (a->ndopt >= MAX_DIALECT_OPTS)
				return cli_usage_error(cmd, "too many dialect options");
			a->dopt[a->ndopt++] = at;
		} else if (want_job && a->job != NULL) {
			return cli_usage_error(cmd, "one JOB only");
		} else if (want_job) {
			a->job = s;
		} else {
			if (!a->files && !(a->files = calloc((size_t)argc, sizeof *a->files)))
				return cli_usage_error(cmd, "out of memory");
			a->files[a->nfiles++] = (char *)s;
			a->file = a->files[0];
		}
	}
	if (want_job && !a->job)
		return cli_usage_error(cmd, "JOB is missing");
	if (!want_job && !a->file && !a->o.program)
		return cli_usage_error(cmd, "FILE is missing");
	if (!want_job && a->file && a->o.program)
		return cli_usage_error(cmd, "FILE or --from-program, not both");
	if (!want_job && !a->schema)
		return cli_usage_error(cmd, "--schema is missing");
	return 0;
}

/* validate: the failing rows, as they are found (file order) */
#define SHOW_PER_CODE 20
typedef struct shown {
	FILE *out; /* --errors-out, or NULL */
	bool out_csv;
	bool text; /* the first rows per code on stdout */
	uint64_t per_code[SL_ERROR_COUNT];
	uint64_t hidden;
} shown;

static int show_reject(void *ctx, uint32_t chunk, const sl_reject *r, const char *column)
{
	shown *s = ctx;
	if (s->out)
		cli_reject_print(s->out, s->out_csv, chunk, r, column);
	int k = sl_error_index(r->code);
	if (!s->text || k < 0)
		return 0;
	if (s->per_code[k]++ >= SHOW_PER_CODE) {
		s->hidden++;
		return 0;
	}
	size_t n = r->raw.n > 120 ? 120 : r->raw.n;
	/* a job of several files: the file the line is in */
	if (r->file.n)
		printf("%.*s: ", (int)r->file.n, r->file.p);
	printf("line %llu (record %llu) %s%s%s: %.*s\n    %.*s%s\n", (unsigned long long)r->line,
	       (unsigned long long)r->record, sl__error_report(r->code), column ? " " : "",
	       column ? column : "", (int)r->message.n, r->message.p, (int)n, r->raw.p,
	       n < r->raw.n ? "..." : "");
	return 0;
}

/* The schema's csv: with the command line's dialect options on top. */
static int apply_dialect(const char *cmd, args *a, int argc, char **argv)
{
	sl_schema *sc = NULL;
	char err[512] = "";
	if (sl_schema_load(a->schema, &sc, err, sizeof err) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return EXIT_USAGE; /* a missing or unreadable schema is a configuration error */
	}
	a->d = sc->dialect;
	sl_schema_free(sc);
	for (int k = 0; k < a->ndopt; k++) {
		int i = a->dopt[k];
		sl_csv_scanner scanner = SL_CSV_SCAN_AUTO;
		if (cli_dialect_opt(cmd, argc, argv, &i, &a->d, &scanner) != 1)
			return EXIT_USAGE;
	}
	const char *why;
	if (sl_csv_dialect_check(&a->d, &why))
		return cli_usage_error(cmd, "the dialect: %s", why);
	if (a->ndopt)
		a->o.dialect = &a->d;
	a->o.nulls = a->nulls;
	return 0;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n >= t && !strcmp(s + n - t, tail);
}

static void validate_json(const sl_ingest_result *r)
{
	const sl_job *j = &r->job;
	fputs("{\"file\":", stdout);
	sl_json_cstr(stdout, j->file ? j->file : "");
	printf(",\"status\":\"%s\",\"rows_read\":%llu,\"rows_valid\":%llu,\"rows_rejected\":%llu,"
	       "\"records_padded\":%llu,\"records_truncated\":%llu,\"rejects_by_code\":",
	       j->status == SL_JOB_FAILED ? "Failed"
	       : j->rows_rejected         ? "Invalid"
	                                  : "Valid",
	       (unsigned long long)j->rows_read, (unsigned long long)j->rows_loaded,
	       (unsigned long long)j->rows_rejected, (unsigned long long)j->records_padded,
	       (unsigned long long)j->records_truncated);
	sl_job_json_codes(stdout, j);
	fputs(",\"ignored_columns\":", stdout);
	sl_job_json_list(stdout, j->ignored_columns, '\n');
	fputs(",\"error\":", stdout);
	if (j->error_code) {
		printf("{\"code\":\"%s\",\"message\":", sl__error_report(j->error_code));
		sl_json_cstr(stdout, j->error_message ? j->error_message : "");
		fputs("}", stdout);
	} else {
		fputs("null", stdout);
	}
	printf(",\"duration_s\":%.3f}\n", r->duration_s);
}

static void validate_summary(const sl_ingest_result *r, const shown *s)
{
	const sl_job *j = &r->job;
	if (s->hidden)
		printf("... and %llu more (all of them: --errors-out FILE)\n",
		       (unsigned long long)s->hidden);
	printf("%s: %llu rows, %llu valid, %llu invalid\n", j->file ? j->file : "-",
	       (unsigned long long)j->rows_read, (unsigned long long)j->rows_loaded,
	       (unsigned long long)j->rows_rejected);
	cli_job_notes(stdout, j, true);
	cli_job_notes(stdout, j, false);
}

static int run(const char *cmd, args *a, bool dry, int argc, char **argv)
{
	sl_ingest_result r;
	shown sh = {0};
	int rc;
	bar b = {(isatty(2) && !a->quiet && !a->json) || a->progress, 0, false, false, 0};
	if (!a->job && (rc = apply_dialect(cmd, a, argc, argv)) != 0)
		return rc;
	a->o.file = a->file;
	/* several files, or a glob the shell left alone (no file has that
	   name): one job of them all, expanded by sluice (glob(3)) */
	struct stat gs;
	if (a->nfiles > 1 ||
	    (a->nfiles == 1 && strpbrk(a->file, "*?[") && stat(a->file, &gs) != 0)) {
		a->o.files = a->files;
		a->o.nfiles = a->nfiles;
	}
	a->o.schema_path = a->schema;
	a->o.db = a->db;
	a->o.job_id = a->job;
	a->o.dry_run = dry;
	a->o.progress = show_progress;
	a->o.progress_ctx = &b;
	if (dry) {
		sh.text = !a->json && !a->quiet;
		if (a->errors_out) {
			if (!(sh.out = fopen(a->errors_out, "w"))) {
				fprintf(stderr, "sluice: %s: %s\n", a->errors_out, strerror(errno));
				return EXIT_USAGE;
			}
			sh.out_csv = !ends_with(a->errors_out, ".jsonl") &&
			             !ends_with(a->errors_out, ".json");
			if (sh.out_csv)
				fputs(a->o.nfiles ? SL_REJECT_CSV_HEADER_FILES : SL_REJECT_CSV_HEADER,
				      sh.out);
		}
		a->o.reject = show_reject;
		a->o.reject_ctx = &sh;
	}
	rc = sl_ingest(&a->o, &r);
	if (b.on && isatty(2))
		fputc('\n', stderr);
	if (sh.out && fclose(sh.out) != 0 && rc >= 0) {
		fprintf(stderr, "sluice: %s: %s\n", a->errors_out, strerror(errno));
		sl_job_clear(&r.job);
		return EXIT_FAILED;
	}
	if (rc < 0) {
		fprintf(stderr, "sluice: %s (%s)\n", r.message[0] ? r.message : sl_error_message(rc),
			sl__error_report(rc));
		sl_job_clear(&r.job);
		return rc == SL_CONFIG || rc == SL_INVAL || rc == SL_NOT_FOUND ? EXIT_USAGE
		                                                               : EXIT_FAILED;
	}
	if (r.job.warnings && !a->quiet) {
		fputs("sluice: warning: ", stderr);
		cli_print_list(stderr, r.job.warnings, "\nsluice: warning: ");
		fputc('\n', stderr);
	}
	if (dry) {
		if (a->json)
			validate_json(&r);
		else if (!a->quiet)
			validate_summary(&r, &sh);
	} else if (a->json) {
		fputc('{', stdout);
		sl_job_json_fields(stdout, &r.job, sl_now_ms());
		printf(",\"already_loaded\":%s}\n", r.already_loaded ? "true" : "false");
	} else if (!a->quiet) {
		bool retry = r.job.status == SL_JOB_FAILED || r.job.status == SL_JOB_CANCELLED;
		if (r.already_loaded)
			printf(
			    "%s was loaded already by job %s (%s): nothing loaded; %s%s%s--new loads "
			    "it again\n",
			    a->file ? a->file : "the file",
			    r.job.same_as[0] ? r.job.same_as : r.job.id,
			    sl_job_status_name(r.job.status), retry ? "'sluice retry " : "",
			    retry ? r.job.id : "", retry ? "' runs what it did not finish, " : "");
		cli_job_summary(stdout, &r.job);
		if (r.job.rows_rejected)
			printf("  rejects  sluice errors %s%s%s\n", r.job.id, a->db ? " --db " : "",
			       a->db ? a->db : "");
	}
	int ex = dry ? (r.job.status == SL_JOB_FAILED ? EXIT_FAILED
	                : r.job.rows_rejected         ? EXIT_PARTIAL
	                                              : EXIT_OK)
	             : cli_job_exit(&r.job);
	sl_job_clear(&r.job);
	return ex;
}

int cmd_ingest(int argc, char **argv)
{
	args a;
	int rc = parse("ingest", help_ingest, argc, argv, &a, false);
	rc = rc ? (rc == 1 ? EXIT_OK : rc) : run("ingest", &a, false, argc, argv);
	free(a.files);
	return rc;
}

int cmd_validate(int argc, char **argv)
{
	args a;
	int rc = parse("validate", help_validate, argc, argv, &a, false);
	rc = rc ? (rc == 1 ? EXIT_OK : rc) : run("validate", &a, true, argc, argv);
	free(a.files);
	return rc;
}

int cmd_resume(int argc, char **argv)
{
	args a;
	char help[512];
	snprintf(help, sizeof help, help_job, "resume",
		 "Continue an unfinished job: finished chunks are skipped, the rest run.");
	int rc = parse("resume", help, argc, argv, &a, true);
	return rc ? (rc == 1 ? EXIT_OK : rc) : run(argv[0], &a, false, argc, argv);
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
	return run(argv[0], &a, false, argc, argv);
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
		return rc == SL_NOT_FOUND || rc == SL_CONFLICT ? EXIT_USAGE : EXIT_FAILED;
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
		fprintf(stderr, "sluice cancel: %s (%s)\n", msg[0] ? msg : sl_error_message(rc),
			sl__error_report(rc));
		return rc == SL_NOT_FOUND || rc == SL_CONFLICT ? EXIT_USAGE : EXIT_FAILED;
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
