/*
 * `sluice gen`: writes deterministic test data. The only generator is `cdr`
 * (call detail records, src/gen/gen_cdr.c, docs/gen.md). The data goes to
 * stdout or to -o FILE; stdout carries nothing but the data, so the command
 * can be piped straight into another one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"
#include "sluice/error.h"
#include "sluice/gen.h"

static const char gen_help[] =
    "usage: sluice gen cdr --rows N [options]\n"
    "\n"
    "Write a CSV file of telecom call detail records (docs/gen.md). The same\n"
    "options always give the same bytes.\n"
    "\n"
    "  --rows N          data rows to write (the header is not counted)\n"
    "  --error-rate R    share of rows, 0..1, that get one defect (default 0)\n"
    "  --quoted-rate R   share of valid rows, 0..1, whose recipient is quoted and\n"
    "                    holds a comma and a line break (default 0.01)\n"
    "  --seed S          seed of the generator (default 42)\n"
    "  --crlf            CRLF line endings instead of LF\n"
    "  --bom             start with a UTF-8 byte-order mark\n"
    "  --manifest FILE   write one line per bad row to FILE:\n"
    "                    <record>TAB<line>TAB<DEFECT>\n"
    "  -o FILE           write the data to FILE instead of stdout\n"
    "  -h, --help        show this help\n";

/* 1 MiB of stdio buffer: the generator writes 32 KiB blocks, and fewer, larger
   writes matter when it streams half a gigabyte into a pipe. Static, because
   when the data goes to stdout the buffer stays attached to it until exit. */
#define OUT_BUFFER (1u << 20)
static char data_buffer[OUT_BUFFER];

static bool is_help(const char *a)
{
	return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

/* Is argv[*i] the option `name`, written "--name VALUE" or "--name=VALUE"?
   Then *val is its value (NULL when it is missing) and *i is past it. */
static bool opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(name);
	if (strncmp(a, name, n) != 0)
		return false;
	if (a[n] == '=') {
		*val = a + n + 1;
		return true;
	}
	if (a[n] != '\0')
		return false;
	*val = *i + 1 < argc ? argv[++*i] : NULL;
	return true;
}

static int parse_rate(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	/* !(v >= 0 && v <= 1) also rejects NaN */
	if (end == s || *end != '\0' || errno != 0 || !(v >= 0.0 && v <= 1.0))
		return -1;
	*out = v;
	return 0;
}

int cmd_gen(int argc, char **argv)
{
	sl_gen_cdr_opts o;
	sl_gen_cdr_stats st;
	const char *out_path = NULL, *manifest_path = NULL;
	FILE *data = NULL, *manifest = NULL;
	bool have_rows = false;
	int rc = EXIT_OK;

	if (argc < 2)
		return cli_usage_error("gen", "gen: which generator? (only 'cdr' is known)");
	if (is_help(argv[1])) {
		fputs(gen_help, stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "cdr") != 0)
		return cli_usage_error("gen", "gen: unknown generator '%s' (only 'cdr' is known)",
		                       argv[1]);

	sl_gen_cdr_defaults(&o);
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = NULL;
		if (is_help(a)) {
			fputs(gen_help, stdout);
			return EXIT_OK;
		} else if (strcmp(a, "--crlf") == 0) {
			o.crlf = true;
		} else if (strcmp(a, "--bom") == 0) {
			o.bom = true;
		} else if (opt_value(argc, argv, &i, "--rows", &v)) {
			if (!v || cli_parse_u64(v, &o.rows) != 0)
				return cli_usage_error("gen", "gen: --rows needs a whole number");
			have_rows = true;
		} else if (opt_value(argc, argv, &i, "--seed", &v)) {
			if (!v || cli_parse_u64(v, &o.seed) != 0)
				return cli_usage_error("gen", "gen: --seed needs a whole number");
		} else if (opt_value(argc, argv, &i, "--error-rate", &v)) {
			if (!v || parse_rate(v, &o.error_rate) != 0)
				return cli_usage_error(
				    "gen", "gen: --error-rate needs a number from 0 to 1");
		} else if (opt_value(argc, argv, &i, "--quoted-rate", &v)) {
			if (!v || parse_rate(v, &o.quoted_rate) != 0)
				return cli_usage_error(
				    "gen", "gen: --quoted-rate needs a number from 0 to 1");
		} else if (opt_value(argc, argv, &i, "--manifest", &v)) {
			if (!v || !*v)
				return cli_usage_error("gen", "gen: --manifest needs a file name");
			manifest_path = v;
		} else if (opt_value(argc, argv, &i, "-o", &v) ||
		           opt_value(argc, argv, &i, "--output", &v)) {
			if (!v || !*v)
				return cli_usage_error("gen", "gen: -o needs a file name");
			out_path = v;
		} else {
			return cli_usage_error("gen", "gen: unknown option '%s'", a);
		}
	}
	if (!have_rows)
		return cli_usage_error("gen", "gen cdr: --rows N is required");

	if (out_path && strcmp(out_path, "-") != 0) {
		data = fopen(out_path, "wb");
		if (!data) {
			fprintf(stderr, "sluice: gen: cannot create %s: %s\n", out_path,
			        strerror(errno));
			rc = EXIT_FAILED;
			goto out;
		}
	} else {
		out_path = NULL;
		data = stdout;
	}
	/* before any output to it, as setvbuf requires */
	setvbuf(data, data_buffer, _IOFBF, sizeof data_buffer);

	if (manifest_path) {
		manifest = fopen(manifest_path, "w");
		if (!manifest) {
			fprintf(stderr, "sluice: gen: cannot create %s: %s\n", manifest_path,
			        strerror(errno));
			rc = EXIT_FAILED;
			goto out;
		}
	}

	int err = sl_gen_cdr(data, manifest, &o, &st);
	if (err != 0) {
		/* name the file that failed: the manifest, or the data */
		const char *what = manifest && ferror(manifest) ? manifest_path
		                   : out_path                   ? out_path
		                                                : "stdout";
		fprintf(stderr, "sluice: gen: %s: %s (%s)\n", what, sl_error_message(err),
		        sl__error_report(err));
		rc = EXIT_FAILED;
		goto out;
	}
	if (manifest) {
		int e = fclose(manifest);
		manifest = NULL;
		if (e != 0) {
			fprintf(stderr, "sluice: gen: cannot write %s: %s (%s)\n", manifest_path,
			        strerror(errno), sl__error_report(SL_IO_WRITE));
			rc = EXIT_FAILED;
			goto out;
		}
	}
	if (out_path) {
		int e = fclose(data);
		data = NULL;
		if (e != 0) {
			fprintf(stderr, "sluice: gen: cannot write %s: %s (%s)\n", out_path,
			        strerror(errno), sl__error_report(SL_IO_WRITE));
			rc = EXIT_FAILED;
			goto out;
		}
		fprintf(stderr, "wrote %llu rows (%llu bytes, %llu bad) to %s\n",
		        (unsigned long long)st.rows, (unsigned long long)st.bytes,
		        (unsigned long long)st.bad_rows, out_path);
	}

out:
	if (manifest)
		fclose(manifest);
	if (data && data != stdout)
		fclose(data);
	return rc;
}
