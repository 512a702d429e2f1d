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
#include "sluice/serve.h" /* SLUICE_VERSION */

/* Every command, once: the dispatch, the top-level help and `sluice help
   --commands` (from which scripts/gen-docs.sh makes the man page and the
   bash completion) all read this table, so no command can be left out of
   one of them. */
static const struct command {
	const char *name, *synopsis, *summary;
	int (*fn)(int, char **);
} cmds[] = {
    {"ingest", "ingest FILE --schema S", "load FILE into a database table, exactly once",
     cmd_ingest},
    {"watch", "watch DIR --schema S", "load each file dropped into DIR once it is complete",
     cmd_watch},
    {"validate", "validate FILE --schema S", "the checks of ingest, loading nothing", cmd_validate},
    {"jobs", "jobs", "list jobs", cmd_jobs},
    {"status", "status JOB [--chunks]", "a job's status and counters", cmd_status},
    {"errors", "errors JOB", "the rejected rows, with reason and position", cmd_errors},
    {"resume", "resume JOB", "continue an unfinished job", cmd_resume},
    {"retry", "retry JOB", "run a job's failed chunks again", cmd_retry},
    {"rollback", "rollback JOB", "remove the rows a finished job loaded", cmd_rollback},
    {"refeed", "refeed JOB [--schema FIXED]",
     "load a job's rejected rows again through a fixed schema", cmd_refeed},
    {"cancel", "cancel JOB", "stop a job after the chunk it commits", cmd_cancel},
    {"gc", "gc --older-than 7d", "remove error rows and events of old jobs", cmd_gc},
    {"worker", "worker [--db PATH] [--threads N]",
     "claim and run queued chunks of any job, beside other workers and ingests", cmd_worker},
    {"serve", "serve --schemas D --data-dir D", "run the HTTP API, the dashboard and the runners",
     cmd_serve},
    {"csv", "csv check|dump FILE", "check a CSV file in parallel, or print its records as JSON",
     cmd_csv},
    {"schema", "schema infer FILE", "write a starter schema for FILE (types, NULLs, keys)",
     cmd_schema},
    {"gen", "gen cdr", "write a deterministic sample file of call detail records", cmd_gen},
    {"codes", "codes", "list the error codes (--markdown for docs/errors.md)", cmd_codes},
    {"help", "help [--commands]", "this help; --commands: the command names, one a line", NULL},
};

static void usage(FILE *f)
{
	fputs("usage: sluice COMMAND [ARGS]\n"
	      "\n"
	      "Load huge delimited files into databases, exactly once.\n"
	      "\n"
	      "commands:\n",
	      f);
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		fprintf(f, "  %-32s %s\n", cmds[i].synopsis, cmds[i].summary);
	fputs("\n"
	      "`sluice COMMAND --help` tells more. Exit codes: 0 ok, 2 usage, 3 some records\n"
	      "have errors, 4 failed.\n",
	      f);
}

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
		usage(stderr);
		sl__error_report(SL_USAGE);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	sl__error_channel(cmd);
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") ||
	    (!strcmp(cmd, "help") && (argc == 2 || !strcmp(argv[2], "--help")))) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "help")) {
		if (argc == 3 && !strcmp(argv[2], "--commands")) {
			for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
				puts(cmds[i].name);
			return EXIT_OK;
		}
		return cli_usage_error("help", "unknown argument '%s'", argv[2]);
	}
	if (!strcmp(cmd, "--version")) {
		puts("sluice " SLUICE_VERSION);
		return EXIT_OK;
	}
	/* A full disk or a file size limit must fail a write (and so a chunk's
	   transaction), not kill the process. */
	signal(SIGXFSZ, SIG_IGN);
	sl_trace("start %s", cmd);
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (cmds[i].fn && !strcmp(cmd, cmds[i].name)) {
			int st = cmds[i].fn(argc - 1, argv + 1);
			sl_trace("exit %d", st);
			return st;
		}
	fprintf(stderr, "sluice: unknown command '%s'\n\n", cmd);
	usage(stderr);
	sl__error_report(SL_USAGE);
	return EXIT_USAGE;
}
