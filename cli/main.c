/*
 * sluice: the command-line program. It dispatches to one command per file
 * (cmd_*.c); everything it does is in the library.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"

static const char usage[] =
	"usage: sluice COMMAND [ARGS]\n"
	"\n"
	"Load huge delimited files into databases, exactly once.\n"
	"\n"
	"commands:\n"
	"  ingest FILE --schema S   load FILE into a database table, exactly once\n"
	"  validate FILE --schema S the checks of ingest, loading nothing\n"
	"  jobs                     list jobs\n"
	"  status JOB [--chunks]    a job's status and counters\n"
	"  errors JOB               the rejected rows, with reason and position\n"
	"  resume JOB | retry JOB | rollback JOB | cancel JOB\n"
	"  gc --older-than 7d       remove error rows and events of old jobs\n"
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
	sl__error_report(SL_USAGE); /* exit status 2 is how USAGE shows */
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		sl__error_report(SL_USAGE);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	sl__error_channel(cmd);
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "--version")) {
		puts("sluice 0.1.0");
		return EXIT_OK;
	}
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{"csv", cmd_csv},         {"gen", cmd_gen},           {"codes", cmd_codes},
		{"ingest", cmd_ingest},   {"validate", cmd_validate}, {"resume", cmd_resume},
		{"retry", cmd_retry},     {"rollback", cmd_rollback}, {"cancel", cmd_cancel}, {"jobs", cmd_jobs},
		{"status", cmd_status},   {"errors", cmd_errors},     {"gc", cmd_gc},
		{"serve", cmd_serve},
	};
	/* A full disk or a file size limit must fail a write (and so a chunk's
	   transaction), not kill the process. */
	signal(SIGXFSZ, SIG_IGN);
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (!strcmp(cmd, cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "sluice: unknown command '%s'\n\n%s", cmd, usage);
	sl__error_report(SL_USAGE);
	return EXIT_USAGE;
}
