/*
 * `sluice schema infer FILE`: a starter schema for a file (the work is
 * sl_schema_infer, src/schema/schema_infer.c). The YAML goes to stdout or to
 * -o FILE (written to FILE.tmp and renamed, so a failed run never leaves
 * half a schema); what was found goes to stderr, or as JSON with --json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "cli.h"
#include "sluice/infer.h"

static const char help_schema[] =
    "usage: sluice schema infer FILE [--rows N] [--key auto] [-o schema.yaml]\n"
    "                           [--sketch N] [--json] [--quiet] [dialect options]\n"
    "\n"
    "Write a starter schema for FILE: the dialect (delimiter , ; TAB | or ||, quote,\n"
    "escape, comment lines, header) sniffed from its first MiB, and per column the\n"
    "narrowest type that holds every value read, NULL markers, enums of small\n"
    "closed sets and candidate keys. The schema is checked against the rows read\n"
    "with the validators ingest uses: it loads them with zero rejects.\n"
    "\n"
    "  --rows N        read only the first N records (default: the whole file)\n"
    "  --key auto      declare the first candidate key (default: a comment proposes it)\n"
    "  -o FILE         write the schema to FILE instead of stdout\n"
    "  --sketch N      hashes kept in memory for the key checks (default 1048576,\n"
    "                  8 MiB; beyond it sorted runs go to a temporary file)\n"
    "  --json          a JSON summary on stderr instead of the text one\n"
    "  --quiet         no summary\n"
    "  dialect options (--delimiter, --quote, ...; see `sluice csv check --help`)\n"
    "                  given: the dialect is used as given, not sniffed\n"
    "\n"
    "Exit 0 when the schema loads every record read, 3 when some records will be\n"
    "rejected whatever the schema (structural CSV errors, values that are not\n"
    "UTF-8), 2 usage, 4 the file cannot be read.\n";

static int write_out(const char *path, const char *yaml, size_t len)
{
	if (!path) {
		if (fwrite(yaml, 1, len, stdout) != len || fflush(stdout) != 0) {
			fprintf(stderr, "sluice schema infer: cannot write the schema to stdout\n");
			return EXIT_FAILED;
		}
		return EXIT_OK;
	}
	size_t n = strlen(path) + 5;
	char *tmp = malloc(n);
	if (!tmp)
		return EXIT_FAILED;
	snprintf(tmp, n, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	int rc = EXIT_OK;
	if (!f || fwrite(yaml, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		perror(tmp);
		rc = EXIT_FAILED;
	}
	if (f && fclose(f) != 0 && rc == EXIT_OK) {
		perror(tmp);
		rc = EXIT_FAILED;
	}
	if (rc == EXIT_OK && rename(tmp, path) != 0) {
		perror(path);
		rc = EXIT_FAILED;
	}
	if (rc != EXIT_OK)
		unlink(tmp);
	free(tmp);
	return rc;
}

static int infer(int argc, char **argv)
{
	const char *file = NULL, *out = NULL;
	bool json = false, quiet = false;
	sl_infer_opts o = {0};
	sl_csv_scanner scanner = SL_CSV_SCAN_AUTO;
	sl_csv_dialect_init(&o.dialect);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t n;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(help_schema, stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "--rows") || !strcmp(a, "--sketch")) {
			if (!v || cli_parse_u64(v, &n) < 0 || n == 0)
				return cli_usage_error("schema infer",
				                       "%s needs a whole number above 0", a);
			if (!strcmp(a, "--rows"))
				o.max_rows = n;
			else
				o.sketch_entries = (size_t)n;
			i++;
		} else if (!strcmp(a, "--key")) {
			if (!v || (strcmp(v, "auto") && strcmp(v, "none")))
				return cli_usage_error("schema infer",
				                       "--key takes 'auto' or 'none'");
			o.key_auto = !strcmp(v, "auto");
			i++;
		} else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
			if (!v)
				return cli_usage_error("schema infer", "%s needs a file name", a);
			out = v;
			i++;
		} else if (!strcmp(a, "--json")) {
			json = true;
		} else if (!strcmp(a, "--quiet")) {
			quiet = true;
		} else if (a[0] == '-' && a[1]) {
			int r =
			    cli_dialect_opt("schema infer", argc, argv, &i, &o.dialect, &scanner);
			if (r == EXIT_USAGE)
				return r;
			if (r == 0)
				return cli_usage_error("schema infer", "unknown option '%s'", a);
			o.dialect_given = true;
		} else if (!file) {
			file = a;
		} else {
			return cli_usage_error("schema infer", "one FILE only ('%s')", a);
		}
	}
	if (!file)
		return cli_usage_error("schema infer", "FILE is missing");
	if (o.dialect_given) {
		const char *why;
		if (sl_csv_dialect_check(&o.dialect, &why) < 0)
			return cli_usage_error("schema infer", "%s", why);
	}
	sl_infer_result r;
	char err[512];
	double t0 = sl_now();
	int rc = sl_schema_infer(file, &o, &r, err, sizeof err);
	double secs = sl_now() - t0;
	if (rc < 0) {
		fprintf(stderr, "sluice schema infer: %s (%s)\n",
		        err[0] ? err : sl_error_message(rc), sl__error_report(rc));
		return rc == SL_CONFIG || rc == SL_LIMIT ? EXIT_USAGE : EXIT_FAILED;
	}
	int ex = write_out(out, r.yaml, r.len);
	if (ex == EXIT_OK && (r.csv_errors || r.rows_rejected))
		ex = EXIT_PARTIAL;
	if (json) {
		fprintf(stderr,
		        "{\"records\":%llu,\"whole_file\":%s,\"columns\":%zu,\"csv_errors\":%llu,"
		        "\"bad_values\":%llu,\"rows_rejected\":%llu,\"confirm_rounds\":%d,"
		        "\"key\":",
		        (unsigned long long)r.records, r.whole_file ? "true" : "false", r.ncols,
		        (unsigned long long)r.csv_errors, (unsigned long long)r.bad_values,
		        (unsigned long long)r.rows_rejected, r.confirm_rounds);
		if (r.key[0])
			sl_json_cstr(stderr, r.key);
		else
			fputs("null", stderr);
		fprintf(stderr, ",\"sketch_spilled\":%llu,\"duration_s\":%.3f}\n",
		        (unsigned long long)r.spilled, secs);
	} else if (!quiet) {
		fprintf(stderr, "%zu columns from %llu records (%s) in %.2f s%s%s%s\n", r.ncols,
		        (unsigned long long)r.records, r.whole_file ? "the whole file" : "a sample",
		        secs, r.key[0] ? "; candidate key " : "", r.key, "");
		if (r.csv_errors)
			fprintf(stderr,
			        "%llu records have a structural CSV error and will be rejected\n",
			        (unsigned long long)r.csv_errors);
		if (r.rows_rejected)
			fprintf(stderr,
			        "%llu rows hold values no type accepts and will be rejected\n",
			        (unsigned long long)r.rows_rejected);
		if (out && ex != EXIT_FAILED)
			fprintf(stderr, "wrote %s\n", out);
	}
	sl_infer_result_free(&r);
	return ex;
}

int cmd_schema(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(help_schema, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (!strcmp(argv[1], "infer"))
		return infer(argc - 1, argv + 1);
	return cli_usage_error("schema", "unknown subcommand '%s' (there is: infer)", argv[1]);
}
