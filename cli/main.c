/*
 * sluice: the command-line program. It dispatches to one command per file
 * (cmd_*.c); everything it does is in the library.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"usage: sluice COMMAND [ARGS]\n"
	"\n"
	"Load huge delimited files into databases, exactly once.\n"
	"\n"
	"commands:\n"
	"  csv check FILE     check a CSV file in parallel: records, fields, errors by code\n"
	"  csv dump FILE      print each record as a JSON array (errors in their place)\n"
	"  gen cdr            write a deterministic sample file of call detail records\n"
	"  codes              list the error codes (--markdown for docs/errors.md)\n"
	"\n"
	"`sluice COMMAND --help` tells more. Exit codes: 0 ok, 2 usage, 3 some records\n"
	"have errors, 4 failed.\n";

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "sluice %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see 'sluice %s --help')\n", cmd);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "--version")) {
		puts("sluice 0.1.0");
		return EXIT_OK;
	}
	if (!strcmp(cmd, "csv"))
		return cmd_csv(argc - 1, argv + 1);
	if (!strcmp(cmd, "gen"))
		return cmd_gen(argc - 1, argv + 1);
	if (!strcmp(cmd, "codes"))
		return cmd_codes(argc - 1, argv + 1);
	fprintf(stderr, "sluice: unknown command '%s'\n\n%s", cmd, usage);
	return EXIT_USAGE;
}
