/*
 * `sluice csv check` and `sluice csv dump`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "cli.h"

static const char help_csv[] =
    "usage: sluice csv check FILE [options]\n"
    "       sluice csv dump FILE [options]\n"
    "\n"
    "'sluice csv check --help' and 'sluice csv dump --help' tell more.\n";

static const char help_check[] =
    "usage: sluice csv check FILE [dialect options] [--json] [--threads N] [--chunk-size SIZE]\n"
    "\n"
    "Check FILE in one sequential read: records, fields, empty lines, lenient\n"
    "warnings, and errors by code with their first positions. With --threads or\n"
    "--chunk-size, split it first and parse the chunks in parallel (same report).\n"
    "Exit 0 when no record has an error, 3 when some do, 4 when FILE cannot be read.\n"
    "\n"
    "  --json              one JSON object on stdout\n"
    "  --threads N         split, and parse the chunks on N threads\n"
    "  --chunk-size SIZE   about this many bytes per chunk (default 64M)\n"
    "\n";

static const char help_dump[] =
    "usage: sluice csv dump FILE|- [dialect options] [--chunk-size SIZE] [--window SIZE]\n"
    "\n"
    "Print each record as one JSON array of strings per line; the header (when\n"
    "there is one) first as {\"header\":[...]}; a record with an error as\n"
    "{\"error\":\"CODE\",\"record\":N,\"line\":L,\"offset\":B} in its place.\n"
    "Exit 0 when no record has an error, 3 when some do.\n"
    "\n"
    "  --chunk-size SIZE   split first and parse chunk by chunk (same output)\n"
    "  --window SIZE       read through a buffer of this size (same output)\n"
    "\n";

typedef struct csv_args {
	const char *file;
	sl_csv_dialect d;
	sl_csv_scanner scanner;
	bool json;
	uint64_t threads, chunk_size, window;
} csv_args;

/* 0 parsed, 1 help printed, EXIT_USAGE. */
static int parse_args(const char *cmd, const char *help, int argc, char **argv, csv_args *a)
{
	memset(a, 0, sizeof *a);
	sl_csv_dialect_init(&a->d);
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		int r = cli_dialect_opt(cmd, argc, argv, &i, &a->d, &a->scanner);
		if (r == 1)
			continue;
		if (r != 0)
			return r;
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			fputs(help, stdout);
			fputs(cli_dialect_help, stdout);
			return 1;
		} else if (!strcmp(s, "--json")) {
			a->json = true;
		} else if (!strcmp(s, "--threads") || !strcmp(s, "--chunk-size") ||
		           !strcmp(s, "--window")) {
			if (i + 1 >= argc)
				return cli_usage_error(cmd, "%s needs a value", s);
			const char *v = argv[++i];
			int bad = !strcmp(s, "--threads")  ? cli_parse_u64(v, &a->threads)
			          : !strcmp(s, "--window") ? cli_parse_size(v, &a->window)
			                                   : cli_parse_size(v, &a->chunk_size);
			if (bad ||
			    (!strcmp(s, "--threads") && (a->threads < 1 || a->threads > 1024)))
				return cli_usage_error(cmd, "%s: '%s' is not a valid value", s, v);
			if (!strcmp(s, "--chunk-size") && a->chunk_size == 0)
				return cli_usage_error(cmd, "--chunk-size must be at least 1 byte");
		} else if (s[0] == '-' && s[1]) {
			return cli_usage_error(cmd, "unknown option '%s'", s);
		} else if (a->file) {
			return cli_usage_error(cmd, "one FILE only ('%s' and '%s')", a->file, s);
		} else {
			a->file = s;
		}
	}
	if (!a->file)
		return cli_usage_error(cmd, "FILE is missing");
	const char *why;
	if (sl_csv_dialect_check(&a->d, &why) < 0)
		return cli_usage_error(cmd, "%s", why);
	return 0;
}

static void print_pos_list(const sl_csv_check_code *c)
{
	for (size_t f = 0; f < c->nfirst; f++)
		printf("%s{\"record\":%llu,\"line\":%llu,\"offset\":%llu}", f ? "," : "",
		       (unsigned long long)c->first[f].record, (unsigned long long)c->first[f].line,
		       (unsigned long long)c->first[f].offset);
}

static int do_check(int argc, char **argv)
{
	csv_args a;
	int rc = parse_args("csv check", help_check, argc, argv, &a);
	if (rc)
		return rc == 1 ? EXIT_OK : rc;
	sl_csv_check_result r;
	rc = sl_csv_check_file(a.file, &a.d, a.scanner, a.chunk_size, (int)a.threads, &r);
	if (rc < 0) {
		fprintf(stderr, "sluice csv check: %s: %s (%s)%s%s\n", a.file, sl_error_message(rc),
			sl__error_report(rc), rc == SL_IO_OPEN ? ": " : "",
			rc == SL_IO_OPEN ? strerror(errno) : "");
		return EXIT_FAILED;
	}
	double mbs = r.seconds > 0 ? (double)r.bytes / r.seconds / 1e6 : 0;
	if (a.json) {
		printf("{\"file\":");
		sl_json_cstr(stdout, a.file);
		printf(",\"bytes\":%llu,\"records\":%llu,\"fields\":%llu,\"rows_ok\":%llu,"
		       "\"errors\":%llu,\"empty_lines\":%llu,\"comment_lines\":%llu,\"lines\":%llu,"
		       "\"chunks\":%zu,\"threads\":%zu,\"scanner\":\"%s\",\"xxh3\":\"%016llx\","
		       "\"seconds\":%.6f,",
		       (unsigned long long)r.bytes, (unsigned long long)r.records,
		       (unsigned long long)r.fields, (unsigned long long)r.rows_ok,
		       (unsigned long long)r.errors, (unsigned long long)r.counts.empty_lines,
		       (unsigned long long)r.counts.comment_lines,
		       (unsigned long long)r.counts.lines, r.nchunks, r.threads,
		       sl_csv_scanner_name(sl_csv_scanner_resolve(a.scanner)),
		       (unsigned long long)r.hash, r.seconds);
		printf("\"warnings\":{\"too_few_fields\":%llu,\"too_many_fields\":%llu,"
		       "\"stray_quotes\":%llu},\"errors_by_code\":{",
		       (unsigned long long)r.counts.warn_too_few,
		       (unsigned long long)r.counts.warn_too_many,
		       (unsigned long long)r.counts.warn_stray_quote);
		bool first = true;
		for (size_t k = 0; k < r.ncodes; k++) {
			const sl_csv_check_code *c = &r.codes[k];
			if (!c->count)
				continue;
			printf("%s\"%s\":{\"count\":%llu,\"first\":[", first ? "" : ",",
			       sl__error_report(c->code), (unsigned long long)c->count);
			print_pos_list(c);
			printf("]}");
			first = false;
		}
		printf("}}\n");
	} else {
		printf("%s: %llu bytes, %llu records, %llu fields, %llu empty lines", a.file,
		       (unsigned long long)r.bytes, (unsigned long long)r.records,
		       (unsigned long long)r.fields, (unsigned long long)r.counts.empty_lines);
		if (r.counts.comment_lines)
			printf(", %llu comment lines", (unsigned long long)r.counts.comment_lines);
		printf("\n%llu records ok, %llu with errors; %zu chunks on %zu threads (%s), %.3f "
		       "s, %.0f MB/s\n",
		       (unsigned long long)r.rows_ok, (unsigned long long)r.errors, r.nchunks,
		       r.threads, sl_csv_scanner_name(sl_csv_scanner_resolve(a.scanner)), r.seconds,
		       mbs);
		if (r.counts.warn_too_few || r.counts.warn_too_many || r.counts.warn_stray_quote)
			printf(
			    "warnings (lenient, records kept): %llu with too few fields, %llu with "
			    "too many, %llu with stray quotes\n",
			    (unsigned long long)r.counts.warn_too_few,
			    (unsigned long long)r.counts.warn_too_many,
			    (unsigned long long)r.counts.warn_stray_quote);
		for (size_t k = 0; k < r.ncodes; k++) {
			const sl_csv_check_code *c = &r.codes[k];
			if (!c->count)
				continue;
			printf("  %-24s %10llu   %s\n", sl__error_report(c->code),
			       (unsigned long long)c->count, sl_error_message(c->code));
			for (size_t f = 0; f < c->nfirst; f++)
				printf("      record %llu, line %llu, byte %llu\n",
				       (unsigned long long)c->first[f].record,
				       (unsigned long long)c->first[f].line,
				       (unsigned long long)c->first[f].offset);
		}
	}
	return r.errors ? EXIT_PARTIAL : EXIT_OK;
}

static void dump_record(const sl_csv_record *rec, uint64_t *errors)
{
	if (rec->error) {
		printf("{\"error\":\"%s\",\"record\":%llu,\"line\":%llu,\"offset\":%llu}\n",
		       sl__error_report(rec->error), (unsigned long long)rec->record,
		       (unsigned long long)rec->line, (unsigned long long)rec->offset);
		(*errors)++;
		return;
	}
	fputs(rec->is_header ? "{\"header\":[" : "[", stdout);
	for (size_t i = 0; i < rec->nfields; i++) {
		if (i)
			putchar(',');
		sl_json_sv(stdout, rec->fields[i]);
	}
	fputs(rec->is_header ? "]}\n" : "]\n", stdout);
}

static ssize_t read_fd(void *ctx, char *buf, size_t cap)
{
	int fd = *(int *)ctx;
	ssize_t n;
	do
		n = read(fd, buf, cap);
	while (n < 0 && errno == EINTR);
	return n < 0 ? SL_IO_READ : n;
}

static int dump_reader(sl_csv_reader *rd, uint64_t *errors)
{
	sl_csv_record rec;
	int rc;
	while ((rc = sl_csv_reader_next(rd, &rec)) == 1)
		dump_record(&rec, errors);
	return rc;
}

static int do_dump(int argc, char **argv)
{
	csv_args a;
	int rc = parse_args("csv dump", help_dump, argc, argv, &a);
	if (rc)
		return rc == 1 ? EXIT_OK : rc;
	if (a.json)
		return cli_usage_error(
		    "csv dump", "--json: dump writes JSON lines always; there is no other form");
	uint64_t errors = 0;
	int fd = strcmp(a.file, "-") ? open(a.file, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0) {
		fprintf(stderr, "sluice csv dump: %s: %s\n", a.file, strerror(errno));
		return EXIT_FAILED;
	}
	static char obuf[1 << 16];
	setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
	if (a.chunk_size && fd != 0) {
		sl_csv_plan plan;
		rc = sl_csv_split(fd, &a.d, a.scanner, a.chunk_size, &plan);
		for (size_t i = 0; rc == 0 && i < plan.nchunks; i++) {
			sl_csv_reader *rd = NULL;
			sl_fd_range range;
			rc = sl_csv_chunk_reader_new(&plan, i, fd, &a.d, a.scanner, &range, &rd);
			if (rc == 0)
				rc = dump_reader(rd, &errors);
			sl_csv_reader_free(rd);
		}
		if (rc >= 0)
			sl_csv_plan_free(&plan);
	} else {
		sl_csv_reader *rd = NULL;
		rc = sl_csv_reader_new(&a.d, a.scanner, read_fd, &fd, (size_t)a.window, &rd);
		if (rc == 0)
			rc = dump_reader(rd, &errors);
		sl_csv_reader_free(rd);
	}
	if (fd > 0)
		close(fd);
	fflush(stdout);
	if (rc < 0) {
		fprintf(stderr, "sluice csv dump: %s: %s (%s)\n", a.file, sl_error_message(rc),
			sl__error_report(rc));
		return EXIT_FAILED;
	}
	return errors ? EXIT_PARTIAL : EXIT_OK;
}

int cmd_csv(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(help_csv, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (!strcmp(argv[1], "check"))
		return do_check(argc - 1, argv + 1);
	if (!strcmp(argv[1], "dump"))
		return do_dump(argc - 1, argv + 1);
	return cli_usage_error("csv", "unknown subcommand '%s'", argv[1]);
}
