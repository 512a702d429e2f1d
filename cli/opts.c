/*
 * Options shared by commands: the dialect, sizes and numbers.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

const char cli_dialect_help[] =
    "dialect options:\n"
    "  --delimiter C       field delimiter: 1 to 4 bytes ('||', ', '), or 'tab' / '\\t' /\n"
    "                      'space'; '\\t' in a longer one is a TAB (default ,)\n"
    "  --quote C           quote byte, or 'none' (default \")\n"
    "  --escape C          escape byte inside quotes; the quote itself (default)\n"
    "                      means doubled quotes; 'none' for no escaping\n"
    "  --comment C         skip lines that start with C\n"
    "  --no-header         the first record is data\n"
    "  --keep-empty-lines  an empty line is a record with one empty field\n"
    "  --lenient           keep stray quotes as data and records with more or fewer\n"
    "                      fields as they are (warnings, not errors); the header is\n"
    "                      one physical line\n"
    "  --skip-initial-space  spaces after a delimiter are not data\n"
    "  --utf8              reject records that are not valid UTF-8\n"
    "  --max-row SIZE      row limit for CSV_ROW_TOO_LONG (default 8M)\n"
    "  --scanner NAME      auto, scalar, generic, sse2 or avx2 (same results)\n";

int cli_parse_u64(const char *s, uint64_t *out)
{
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	uint64_t mul = 1;
	if (*end) {
		switch (tolower((unsigned char)*end)) {
		case 'k':
			mul = 1ull << 10;
			break;
		case 'm':
			mul = 1ull << 20;
			break;
		case 'g':
			mul = 1ull << 30;
			break;
		case 't':
			mul = 1ull << 40;
			break;
		case 'b':
			break;
		default:
			return -1;
		}
		end++;
		if (*end && strcasecmp(end, "b") && strcasecmp(end, "ib"))
			return -1;
	}
	if (v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

/* One byte from an option value: "x", "tab", "\t", "none" (when allowed). */
static int parse_byte(const char *v, bool allow_none, int *out)
{
	if (allow_none && !strcmp(v, "none")) {
		*out = SL_CSV_NONE;
		return 0;
	}
	if (!strcmp(v, "tab") || !strcmp(v, "\\t")) {
		*out = '\t';
		return 0;
	}
	if (!strcmp(v, "space")) {
		*out = ' ';
		return 0;
	}
	if (strlen(v) == 1) {
		*out = (unsigned char)v[0];
		return 0;
	}
	return -1;
}

int cli_parse_delimiter(const char *v, char *out, uint64_t *n)
{
	size_t k = 0;
	for (size_t i = 0; v[i]; i++) {
		if (k == SL_CSV_MAX_DELIM)
			return -1;
		if (v[i] == '\\' && v[i + 1] == 't') {
			out[k++] = '\t';
			i++;
		} else {
			out[k++] = v[i];
		}
	}
	*n = k;
	return k ? 0 : -1;
}

int cli_dialect_opt(const char *cmd, int argc, char **argv, int *i, sl_csv_dialect *d,
                    sl_csv_scanner *scanner)
{
	const char *a = argv[*i];
	const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
	int c;
	uint64_t n;

	if (!strcmp(a, "--no-header")) {
		d->header = false;
		return 1;
	}
	if (!strcmp(a, "--keep-empty-lines")) {
		d->skip_empty_lines = false;
		return 1;
	}
	if (!strcmp(a, "--lenient")) {
		d->lenient_quotes = true;
		d->lenient_fields = true;
		return 1;
	}
	if (!strcmp(a, "--skip-initial-space")) {
		d->skip_initial_space = true;
		return 1;
	}
	if (!strcmp(a, "--utf8")) {
		d->validate_utf8 = true;
		return 1;
	}
	bool takes = !strcmp(a, "--delimiter") || !strcmp(a, "--quote") || !strcmp(a, "--escape") ||
	             !strcmp(a, "--comment") || !strcmp(a, "--max-row") || !strcmp(a, "--scanner");
	if (!takes)
		return 0;
	if (!v)
		return cli_usage_error(cmd, "%s needs a value", a);
	(*i)++;
	if (!strcmp(a, "--max-row")) {
		if (cli_parse_size(v, &n) < 0)
			return cli_usage_error(cmd, "--max-row: '%s' is not a size", v);
		d->max_row_bytes = (size_t)n;
	} else if (!strcmp(a, "--scanner")) {
		if (sl_csv_scanner_parse(v, scanner) < 0)
			return cli_usage_error(
			    cmd, "--scanner: '%s' is not auto, scalar, generic, sse2 or avx2", v);
	} else {
		bool is_delim = !strcmp(a, "--delimiter");
		if (is_delim && parse_byte(v, false, &c) < 0) {
			char dl[SL_CSV_MAX_DELIM];
			if (cli_parse_delimiter(v, dl, &n) < 0)
				return cli_usage_error(cmd, "--delimiter: '%s' is not 1 to 4 bytes",
				                       v);
			sl_csv_dialect_set_delimiter(d, dl, (size_t)n);
			return 1;
		}
		if (parse_byte(v, !is_delim, &c) < 0)
			return cli_usage_error(cmd, "%s: '%s' is not a single byte%s", a, v,
			                       is_delim ? " (or 'tab')" : " (or 'none')");
		if (is_delim) {
			char one = (char)c;
			sl_csv_dialect_set_delimiter(d, &one, 1);
		} else if (!strcmp(a, "--quote")) {
			bool esc_follows = d->escape == d->quote;
			d->quote = c;
			if (esc_follows)
				d->escape = c; /* doubling follows the quote */
		} else if (!strcmp(a, "--escape")) {
			d->escape = c;
		} else {
			d->comment = c;
		}
	}
	return 1;
}

int cli_parse_seconds(const char *s, int64_t *ms)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno || !(v >= 0.01 && v <= 86400))
		return -1;
	*ms = (int64_t)(v * 1000 + 0.5);
	return 0;
}

/* "30d", "12h", "90m", "45s", "45" (seconds) -> milliseconds; 0 allowed. */
static int parse_duration(const char *s, int64_t *ms)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	double unit = 1000;
	if (!*s || errno || !(v >= 0) || end == s)
		return -1;
	if (*end == 'd')
		unit = 86400e3, end++;
	else if (*end == 'h')
		unit = 3600e3, end++;
	else if (*end == 'm')
		unit = 60e3, end++;
	else if (*end == 's')
		end++;
	if (*end || v * unit > 3650 * 86400e3)
		return -1;
	*ms = (int64_t)(v * unit + 0.5);
	return 0;
}

int cli_leader_opt(const char *cmd, const char *name, const char *v, sl_leader_opts *o)
{
	uint64_t n;
	int64_t ms;
	if (!strcmp(name, "max-attempts")) {
		if (cli_parse_u64(v, &n) || n < 1 || n > 1000)
			return cli_usage_error(cmd, "--max-attempts: '%s' is not 1..1000", v);
		o->max_attempts = (int)n;
	} else if (!strcmp(name, "retry-backoff")) {
		if (parse_duration(v, &ms) || ms > 3600 * 1000)
			return cli_usage_error(cmd, "--retry-backoff: '%s' is not 0..3600 seconds", v);
		o->backoff_ms = ms ? ms : -1; /* 0: none (the library's 0 is the default) */
	} else if (!strcmp(name, "retention")) {
		if (parse_duration(v, &ms))
			return cli_usage_error(cmd, "--retention: '%s' is not a duration like 30d, 12h or 0",
			                       v);
		o->retention_ms = ms ? ms : -1; /* 0: off, told apart from "not given" */
	} else {
		return 0;
	}
	return 1;
}

void cli_leader_defaults(sl_leader_opts *o)
{
	if (o->retention_ms == 0)
		o->retention_ms = CLI_RETENTION_MS;
	else if (o->retention_ms < 0)
		o->retention_ms = 0;
}
