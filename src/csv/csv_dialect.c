/*
 * Dialects: defaults, validation, and the names of the scanners.
 */
#include <string.h>

#include "csv/csv_int.h"

void sl_csv_dialect_init(sl_csv_dialect *d)
{
	memset(d, 0, sizeof *d);
	d->delimiter = ',';
	d->delimiter_len = 1;
	d->quote = '"';
	d->escape = '"';
	d->comment = SL_CSV_NONE;
	d->header = true;
	d->skip_empty_lines = true;
	d->max_row_bytes = SL_CSV_DEFAULT_MAX_ROW;
}

static bool is_byte(int c)
{
	return c >= 0 && c <= 255;
}

int sl_csv_dialect_set_delimiter(sl_csv_dialect *d, const char *s, size_t n)
{
	if (n < 1 || n > SL_CSV_MAX_DELIM)
		return SL_CONFIG;
	d->delimiter = (unsigned char)s[0];
	d->delimiter_len = (unsigned char)n;
	memset(d->delimiter_tail, 0, sizeof d->delimiter_tail);
	memcpy(d->delimiter_tail, s + 1, n - 1);
	return 0;
}

size_t sl_csv_dialect_delimiter(const sl_csv_dialect *d, char *out)
{
	size_t n = d->delimiter_len > 1 ? d->delimiter_len : 1;
	out[0] = (char)d->delimiter;
	memcpy(out + 1, d->delimiter_tail, n - 1);
	return n;
}

/* Does the delimiter contain byte c? */
static bool in_delim(const sl_csv_dialect *d, int c)
{
	char b[SL_CSV_MAX_DELIM];
	size_t n = sl_csv_dialect_delimiter(d, b);
	return c != SL_CSV_NONE && memchr(b, c, n) != NULL;
}

int sl_csv_dialect_check(const sl_csv_dialect *d, const char **why)
{
	const char *w = NULL;
	int dl = d->delimiter;
	if (d->delimiter_len > SL_CSV_MAX_DELIM)
		w = "the delimiter is at most 4 bytes";
	else if (in_delim(d, '\r') || in_delim(d, '\n'))
		w = "the delimiter cannot be a line break";
	else if (d->skip_initial_space && dl == ' ')
		w = "skip_initial_space cannot go with a delimiter that starts with a space";
	else if (d->skip_initial_space && d->quote == ' ')
		w = "skip_initial_space cannot go with a space as the quote";
	else if (d->quote != SL_CSV_NONE && !is_byte(d->quote))
		w = "the quote must be one byte";
	else if (d->quote == '\r' || d->quote == '\n' || in_delim(d, d->quote))
		w = "the quote cannot be a line break or the delimiter";
	else if (d->escape != SL_CSV_NONE && !is_byte(d->escape))
		w = "the escape must be one byte";
	else if (d->escape != SL_CSV_NONE && d->escape != d->quote &&
	         (d->escape == '\r' || d->escape == '\n' || in_delim(d, d->escape)))
		w = "the escape cannot be a line break or the delimiter";
	else if (d->escape != SL_CSV_NONE && d->escape != d->quote && d->quote == SL_CSV_NONE)
		w = "an escape byte needs a quote byte";
	else if (d->comment != SL_CSV_NONE && !is_byte(d->comment))
		w = "the comment marker must be one byte";
	else if (d->comment != SL_CSV_NONE && (d->comment == '\r' || d->comment == '\n' ||
	                                       d->comment == dl || d->comment == d->quote))
		w = "the comment marker cannot be a line break, the delimiter or the quote";
	else if (d->max_row_bytes < 64 || d->max_row_bytes > ((size_t)1 << 31))
		w = "the row limit must be between 64 bytes and 2 GiB";
	if (why)
		*why = w;
	return w ? SL_CONFIG : 0;
}

static const char *const scanner_names[] = {"auto", "scalar", "generic", "sse2", "avx2"};

const char *sl_csv_scanner_name(sl_csv_scanner s)
{
	return (unsigned)s < SL_ARRAY_LEN(scanner_names) ? scanner_names[s] : "?";
}

int sl_csv_scanner_parse(const char *name, sl_csv_scanner *out)
{
	for (size_t i = 0; i < SL_ARRAY_LEN(scanner_names); i++) {
		if (strcmp(name, scanner_names[i]) == 0) {
			*out = (sl_csv_scanner)i;
			return 0;
		}
	}
	return SL_INVAL;
}

sl_csv_scanner sl_csv_scanner_resolve(sl_csv_scanner s)
{
	const sl_cpu *cpu = sl_cpu_get();
	(void)cpu;
	switch (s) {
	case SL_CSV_SCAN_SCALAR:
	case SL_CSV_SCAN_GENERIC:
		return s;
#if defined(SLUICE_X86)
	case SL_CSV_SCAN_SSE2:
		return cpu->sse2 ? s : SL_CSV_SCAN_GENERIC;
	case SL_CSV_SCAN_AVX2:
	case SL_CSV_SCAN_AUTO:
		if (cpu->avx2 && cpu->pclmul && cpu->bmi1 && cpu->popcnt)
			return SL_CSV_SCAN_AVX2;
		return cpu->sse2 ? SL_CSV_SCAN_SSE2 : SL_CSV_SCAN_GENERIC;
#endif
	default:
		return SL_CSV_SCAN_GENERIC;
	}
}
