/*
 * Private to the command-line front end (cli/). The program is a thin layer:
 * it parses arguments, calls the library (include/sluice/) and prints.
 *
 * Exit codes, the same for every command:
 *   0  success (for checks: no record has an error)
 *   2  usage or configuration error (message on stderr)
 *   3  done, but some records have errors (partial success)
 *   4  failed (input unreadable, fatal error)
 */
#ifndef SLUICE_CLI_H
#define SLUICE_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include <stdio.h>

#include "sluice/csv.h"
#include "sluice/ingest.h"

enum { EXIT_OK = 0, EXIT_USAGE = 2, EXIT_PARTIAL = 3, EXIT_FAILED = 4 };

/* Commands: argv[0] is the command's own name ("gen", "csv", ...). */
int cmd_csv(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_codes(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_retry(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_jobs(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_errors(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_schema(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_refeed(int argc, char **argv);
int cmd_worker(int argc, char **argv);

/* job_print.c: one job as JSON (the field names of `ingest --json`), as a
   human summary, and the exit code its status means. */
void cli_job_json(FILE *f, const sl_job *j);
void cli_job_summary(FILE *f, const sl_job *j);
/* The job's file for a line of text: a set of several paths as its first
   and how many more (buf holds it then) */
const char *cli_job_file(const sl_job *j, char *buf, size_t n);
int cli_job_exit(const sl_job *j);
/* The summary's lines per reject code (codes), or its notes: ignored
   columns, short/long records, header warnings, same content, error. */
void cli_job_notes(FILE *f, const sl_job *j, bool codes);
/* A list kept one item per line, printed with `sep` between the items. */
void cli_print_list(FILE *f, const char *list, const char *sep);
/* cmd_jobs.c: one rejected row as `sluice errors` writes it: CSV (columns
   record,line,offset,chunk,column,code,message,raw) or one JSON object a line. */
void cli_reject_print(FILE *out, bool csv, uint32_t chunk, const sl_reject *r, const char *column);

/* Print "sluice: <formatted message>\n" on stderr and return EXIT_USAGE;
   `help` is the usage text of the command, pointed to after the message. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Is argv[*i] a dialect option (--delimiter C, --quote C, --escape C,
   --comment C, --no-header, --keep-empty-lines, --lenient, --utf8,
   --max-row SIZE, --scanner NAME)? If so apply it, advance *i past its value
   and return 1; 0 if it is not one; EXIT_USAGE (after printing why) if its
   value is bad. */
int cli_dialect_opt(const char *cmd, int argc, char **argv, int *i, sl_csv_dialect *d,
                    sl_csv_scanner *scanner);
extern const char cli_dialect_help[];

/* "64M", "1g", "4096", "2KiB" -> bytes. 0 ok, -1 bad. */
int cli_parse_size(const char *s, uint64_t *out);
/* A --delimiter value of 1 to SL_CSV_MAX_DELIM bytes (backslash-t is a TAB): 0, or -1. */
int cli_parse_delimiter(const char *v, char *out, uint64_t *n);
/* Seconds (a decimal, 0.01 to 86400) -> milliseconds. 0 ok, -1 bad. */
int cli_parse_seconds(const char *s, int64_t *ms);
/* Whole number, no sign, no junk. 0 ok, -1 bad. */
int cli_parse_u64(const char *s, uint64_t *out);
/* Is `name` (an option without its dashes, or a config key) one of the
   leader's settings: max-attempts N, retry-backoff SECONDS (0: none),
   retention DURATION (30d, 12h, 90m, 45s; 0: off)? Then apply v to *o
   and return 1; 0 when it is not one; EXIT_USAGE (after saying why) when
   v is bad. */
int cli_leader_opt(const char *cmd, const char *name, const char *v, sl_leader_opts *o);
/* After parsing, for `worker` and `serve`: retention not given is
   CLI_RETENTION_MS, given as 0 is off. */
#define CLI_RETENTION_MS (30LL * 86400 * 1000)
void cli_leader_defaults(sl_leader_opts *o);
#define CLI_LEADER_HELP                                                                            \
	"  --max-attempts N   attempts a chunk gets; the claim after the last fails it\n"          \
	"                     (ATTEMPTS) when each one's lease ran out (default 5)\n"              \
	"  --retry-backoff S  a chunk whose lease ran out again waits S, 2S, 4S ... seconds\n"      \
	"                     (with jitter) before it is claimed again (default 1; 0: none)\n"

#endif
