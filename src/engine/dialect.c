/*
 * A job's effective dialect as text: how the job reads its file (the
 * schema's `csv:` with the command line's overrides), stored with the job
 * so that a resume reads the file the same way, and compared when the same
 * file is ingested again (a file loaded with `;` as delimiter is not the
 * same load as one read with `,`). One token per setting, bytes in hex:
 *
 *   delimiter=2c quote=22 escape=22 comment=none header=true
 *   skip_empty_lines=true lenient=false lenient_fields=false
 *   skip_initial_space=false utf8=false max_row=8388608
 *   null_padding=false null=["","4e41"]
 *
 * (a delimiter of several bytes has them all: `delimiter=7c7c` is "||";
 * null markers in hex, each quoted: "" and "NA" above). A new dialect
 * setting adds a token here; old jobs' texts lack it and keep the default.
 * The engine appends ` compression=gzip` (or zstd) for a compressed file
 * (ingest.c): how the bytes are decoded is part of how the file is read;
 * without the token the file is read as it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"
#include "source/source.h"

static void byte_tok(sl_buf *b, const char *name, int c)
{
	char t[48];
	if (c == SL_CSV_NONE)
		snprintf(t, sizeof t, "%s=none ", name);
	else
		snprintf(t, sizeof t, "%s=%02x ", name, (unsigned)c & 0xFF);
	sl_buf_append(b, t, strlen(t));
}

int sl__dialect_text(const sl_csv_dialect *d, bool null_padding, char *const *nulls, size_t nnulls,
                     char **out)
{
	sl_buf b;
	char t[160];
	int rc;
	*out = NULL;
	sl_buf_init(&b, 1u << 20);
	char delim[SL_CSV_MAX_DELIM];
	size_t nd = sl_csv_dialect_delimiter(d, delim);
	sl_buf_append(&b, "delimiter=", 10);
	for (size_t i = 0; i < nd; i++) {
		snprintf(t, sizeof t, "%02x", (unsigned)delim[i] & 0xFF);
		sl_buf_append(&b, t, 2);
	}
	sl_buf_append(&b, " ", 1);
	byte_tok(&b, "quote", d->quote);
	byte_tok(&b, "escape", d->escape);
	byte_tok(&b, "comment", d->comment);
	snprintf(t, sizeof t,
	         "header=%s skip_empty_lines=%s lenient=%s lenient_fields=%s skip_initial_space=%s "
	         "utf8=%s max_row=%zu null_padding=%s null=[",
	         d->header ? "true" : "false", d->skip_empty_lines ? "true" : "false",
	         d->lenient_quotes ? "true" : "false", d->lenient_fields ? "true" : "false",
	         d->skip_initial_space ? "true" : "false", d->validate_utf8 ? "true" : "false",
	         d->max_row_bytes, null_padding ? "true" : "false");
	sl_buf_append(&b, t, strlen(t));
	for (size_t i = 0; i < nnulls; i++) {
		sl_buf_append(&b, i ? ",\"" : "\"", i ? 2 : 1);
		for (const unsigned char *p = (const unsigned char *)nulls[i]; *p; p++) {
			snprintf(t, sizeof t, "%02x", *p);
			sl_buf_append(&b, t, 2);
		}
		sl_buf_append(&b, "\"", 1);
	}
	if ((rc = sl_buf_append(&b, "]", 1)) < 0 || (rc = sl_buf_append(&b, "", 1)) < 0) {
		sl_buf_free(&b);
		return rc == SL_LIMIT ? SL_LIMIT : SL_NOMEM;
	}
	*out = b.p;
	return 0;
}

static int tok_byte(const char *v, int *out)
{
	unsigned x;
	if (!strcmp(v, "none")) {
		*out = SL_CSV_NONE;
		return 0;
	}
	if (sscanf(v, "%2x", &x) != 1)
		return SL_INVAL;
	*out = (int)x;
	return 0;
}

/* "2c" or, for a delimiter of several bytes, "7c7c" */
static int tok_delimiter(const char *v, sl_csv_dialect *d)
{
	char bytes[SL_CSV_MAX_DELIM];
	size_t n = 0, len = strlen(v);
	if (len < 2 || len % 2 || len / 2 > SL_CSV_MAX_DELIM)
		return SL_INVAL;
	for (; n < len / 2; n++) {
		unsigned x;
		if (sscanf(v + 2 * n, "%2x", &x) != 1)
			return SL_INVAL;
		bytes[n] = (char)x;
	}
	return sl_csv_dialect_set_delimiter(d, bytes, n) < 0 ? SL_INVAL : 0;
}

static int unhex(const char *p, size_t n, char **out)
{
	char *s = malloc(n / 2 + 1);
	if (!s)
		return SL_NOMEM;
	for (size_t i = 0; i + 1 < n; i += 2) {
		unsigned x;
		if (sscanf(p + i, "%2x", &x) != 1) {
			free(s);
			return SL_INVAL;
		}
		s[i / 2] = (char)x;
	}
	s[n / 2] = 0;
	*out = s;
	return 0;
}

int sl__dialect_parse(const char *text, sl_csv_dialect *d, bool *null_padding, char ***nulls,
                      size_t *nnulls)
{
	const char *p = text;
	int rc = 0;
	*nulls = NULL;
	*nnulls = 0;
	while (*p && rc == 0) {
		while (*p == ' ')
			p++;
		const char *eq = strchr(p, '=');
		if (!eq)
			break;
		const char *end =
		    strncmp(eq + 1, "[", 1) ? strchr(eq + 1, ' ') : strchr(eq + 1, ']');
		if (!end)
			end = eq + 1 + strlen(eq + 1);
		char k[32], v[64];
		snprintf(k, sizeof k, "%.*s", (int)(eq - p), p);
		snprintf(v, sizeof v, "%.*s", (int)(end - eq - 1 > 63 ? 63 : end - eq - 1), eq + 1);
		int c;
		if (!strcmp(k, "delimiter"))
			rc = tok_delimiter(v, d);
		else if (!strcmp(k, "quote") && (rc = tok_byte(v, &c)) == 0)
			d->quote = c;
		else if (!strcmp(k, "escape") && (rc = tok_byte(v, &c)) == 0)
			d->escape = c;
		else if (!strcmp(k, "comment") && (rc = tok_byte(v, &c)) == 0)
			d->comment = c;
		else if (!strcmp(k, "header"))
			d->header = !strcmp(v, "true");
		else if (!strcmp(k, "skip_empty_lines"))
			d->skip_empty_lines = !strcmp(v, "true");
		else if (!strcmp(k, "lenient"))
			d->lenient_quotes = !strcmp(v, "true");
		else if (!strcmp(k, "lenient_fields"))
			d->lenient_fields = !strcmp(v, "true");
		else if (!strcmp(k, "skip_initial_space"))
			d->skip_initial_space = !strcmp(v, "true");
		else if (!strcmp(k, "utf8"))
			d->validate_utf8 = !strcmp(v, "true");
		else if (!strcmp(k, "max_row"))
			d->max_row_bytes = (size_t)strtoull(v, NULL, 10);
		else if (!strcmp(k, "null_padding"))
			*null_padding = !strcmp(v, "true");
		else if (!strcmp(k, "null")) {
			/* eq + 1 is '[', end is ']'; each marker is "hex" */
			const char *q = eq + 2;
			size_t cnt = 0;
			for (const char *r = q; r < end; r++)
				cnt += *r == '"';
			cnt /= 2;
			if (!(*nulls = calloc(cnt ? cnt : 1, sizeof **nulls)))
				return SL_NOMEM;
			while (rc == 0 && *nnulls < cnt) {
				const char *open = memchr(q, '"', (size_t)(end - q));
				const char *close =
				    open ? memchr(open + 1, '"', (size_t)(end - open - 1)) : NULL;
				if (!close)
					return SL_INVAL;
				rc =
				    unhex(open + 1, (size_t)(close - open - 1), &(*nulls)[*nnulls]);
				if (rc == 0)
					(*nnulls)++;
				q = close + 1;
			}
			if (*end)
				end++;
		}
		p = end;
	}
	return rc;
}

int sl__dialect_compression(const char *text)
{
	const char *t = text ? strstr(text, " compression=") : NULL;
	if (!t)
		return SL_COMPRESSION_NONE;
	t += 13;
	if (!strncmp(t, "gzip", 4))
		return SL_COMPRESSION_GZIP;
	if (!strncmp(t, "zstd", 4))
		return SL_COMPRESSION_ZSTD;
	return SL_COMPRESSION_NONE;
}

bool sl__dialect_same(const char *recorded, const char *current)
{
	sl_csv_dialect d;
	bool pad = false, same;
	char **n = NULL, *text = NULL;
	size_t nn = 0;
	const char *ct = strstr(current, " compression=");
	size_t clen = ct ? (size_t)(ct - current) : strlen(current);
	sl_csv_dialect_init(&d);
	same = sl__dialect_compression(recorded) == sl__dialect_compression(current) &&
	       sl__dialect_parse(recorded, &d, &pad, &n, &nn) == 0 &&
	       sl__dialect_text(&d, pad, n, nn, &text) == 0 && strlen(text) == clen &&
	       !strncmp(text, current, clen);
	for (size_t i = 0; i < nn; i++)
		free(n[i]);
	free(n);
	free(text);
	return same;
}
