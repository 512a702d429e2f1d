/*
 * Header matching: which field of a file's records each schema column
 * reads, and what to tell the user when the header and the schema do not
 * agree. A declared column the header lacks is the commonest mistake on
 * real files (a typo, a different case, an export that renamed a column),
 * and loading it as NULL in every row gives a green job with empty data,
 * so it fails the job before anything loads, with the closest header name
 * as a hint. Also the white-space trimming of `trim: true`, which the
 * validator applies before any check.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "sluice/error.h"
#include "sluice/schema.h"

#define MAX_NAME_SHOWN 60

static unsigned char lower(char c)
{
	unsigned char u = (unsigned char)c;
	return u >= 'A' && u <= 'Z' ? (unsigned char)(u - 'A' + 'a') : u;
}

size_t sl_name_distance(const char *a, size_t an, const char *b, size_t bn, size_t cap)
{
	/* optimal string alignment (Levenshtein with adjacent transpositions,
	   the commonest typo): three rows of the classic table; names longer
	   than 128 bytes are not worth a suggestion */
	size_t r[3][129];
	size_t *prev2 = r[0], *prev = r[1], *cur = r[2];
	if (an > 128 || bn > 128)
		return cap;
	for (size_t j = 0; j <= bn; j++)
		prev[j] = j;
	for (size_t i = 1; i <= an; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= bn; j++) {
			size_t d = prev[j - 1] + (lower(a[i - 1]) != lower(b[j - 1]));
			if (prev[j] + 1 < d)
				d = prev[j] + 1;
			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
			    lower(a[i - 2]) == lower(b[j - 1]) && prev2[j - 2] + 1 < d)
				d = prev2[j - 2] + 1;
			cur[j] = d;
		}
		size_t *t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	return prev[bn] < cap ? prev[bn] : cap;
}

/* Length of the white space (Unicode White_Space, UTF-8) at p, or 0. */
static size_t space_at(const unsigned char *p, size_t n)
{
	if (n >= 1 && (p[0] == ' ' || (p[0] >= 0x09 && p[0] <= 0x0D)))
		return 1;
	if (n >= 2 && p[0] == 0xC2 && (p[1] == 0x85 || p[1] == 0xA0))
		return 2;
	if (n >= 3) {
		unsigned c = ((unsigned)p[0] << 16) | ((unsigned)p[1] << 8) | p[2];
		if (c == 0xE19A80 /* U+1680 */ ||
		    (c >= 0xE28080 && c <= 0xE2808A)                   /* U+2000..200A */
		    || c == 0xE280A8 || c == 0xE280A9 || c == 0xE280AF /* U+2028 2029 202F */
		    || c == 0xE2819F /* U+205F */ || c == 0xE38080 /* U+3000 */)
			return 3;
	}
	return 0;
}

/* Length of the white space that ends at p + n (looking back), or 0. */
static size_t space_before(const unsigned char *p, size_t n)
{
	for (size_t k = 1; k <= 3 && k <= n; k++)
		if (space_at(p + n - k, k) == k)
			return k;
	return 0;
}

sl_str sl_str_trim_space(sl_str v)
{
	const unsigned char *p = (const unsigned char *)v.p;
	size_t n = v.n, k;
	while (n && (k = space_at(p, n))) {
		p += k;
		n -= k;
	}
	while (n && (k = space_before(p, n)))
		n -= k;
	return sl_str_make((const char *)p, n);
}

/* --- messages ----------------------------------------------------------------- */

typedef struct out {
	char *p;
	size_t cap, o;
} out;

static void put(out *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *w, const char *fmt, ...)
{
	if (!w->p || w->o + 1 >= w->cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(w->p + w->o, w->cap - w->o, fmt, ap);
	va_end(ap);
	if (k > 0)
		w->o += (size_t)k;
	if (w->o >= w->cap)
		w->o = w->cap - 1;
}

/* A header name as shown in a message: at most 60 bytes, quoted. */
static void put_name(out *w, sl_str s)
{
	char t[MAX_NAME_SHOWN + 1];
	size_t n = s.n > MAX_NAME_SHOWN ? MAX_NAME_SHOWN : s.n;
	for (size_t k = 0; k < n; k++) /* one line per message and per warning */
		t[k] = (unsigned char)s.p[k] < 0x20 || s.p[k] == 0x7F ? '?' : s.p[k];
	put(w, "'%.*s%s'", (int)n, t, s.n > MAX_NAME_SHOWN ? "..." : "");
}

/* The header name closest to `want`: the same without case, else the
   smallest edit distance within about a third of the name. -1: none. */
static long closest(const char *want, const sl_str *header, size_t n)
{
	size_t wn = strlen(want), cap = wn / 3 + 1, best = cap;
	long at = -1;
	if (cap > 3)
		cap = best = 3 + 1;
	for (size_t j = 0; j < n; j++) {
		/* the same name with white space around (csv `trim: true` matches it) */
		sl_str t = sl_str_trim_space(header[j]);
		if (t.n && t.n != header[j].n && sl_name_distance(want, wn, t.p, t.n, 1) == 0)
			return (long)j;
	}
	for (size_t j = 0; j < n; j++) {
		if (!header[j].n)
			continue;
		size_t d = sl_name_distance(want, wn, header[j].p, header[j].n, best);
		if (d == 0)
			return (long)j; /* the same name in another case */
		if (d < best) {
			best = d;
			at = (long)j;
		}
	}
	return at;
}

static bool is_key(const sl_schema *s, size_t i)
{
	for (size_t k = 0; k < s->nkey; k++)
		if (s->key[k] == i)
			return true;
	return false;
}

static void add_ignored(sl_header_result *r, sl_str name)
{
	size_t o = strlen(r->ignored);
	if (o + name.n + 2 > sizeof r->ignored)
		return;
	for (size_t k = 0; k < name.n; k++) {
		unsigned char c = (unsigned char)name.p[k];
		r->ignored[o++] = c < 0x20 || c == 0x7F ? '?' : (char)c;
	}
	r->ignored[o++] = '\n';
	r->ignored[o] = 0;
	r->nignored++;
}

static void warn(sl_header_result *r, out *w, const char *what, size_t field, sl_str name,
                 size_t first)
{
	if (!r)
		return;
	r->nwarnings++;
	put(w, "%s", w->o ? "\n" : "");
	if (!name.n) {
		put(w, "%s %zu has an empty name: ignored", what, field + 1);
	} else {
		put(w, "%s %zu repeats the name ", what, field + 1);
		put_name(w, name);
		put(w, " of field %zu: ignored", first + 1);
	}
}

static int match(const sl_schema *s, const sl_str *h, size_t n, bool lenient, int *map,
                 sl_header_result *r, char *err, size_t errlen)
{
	out e = {err, errlen, 0};
	out wr = {r ? r->warnings : NULL, r ? sizeof r->warnings : 0, 0};
	size_t missing = 0;
	if (err && errlen)
		err[0] = 0;
	if (r)
		memset(r, 0, sizeof *r);

	for (size_t i = 0; i < s->ncols; i++) {
		sl_str src = sl_str_make(s->cols[i].source, strlen(s->cols[i].source));
		map[i] = -1;
		for (size_t j = 0; j < n; j++) {
			if (!sl_str_eq(h[j], src))
				continue;
			if (map[i] < 0) {
				map[i] = (int)j;
				continue;
			}
			if (!lenient) {
				put(&e, "the header has the column ");
				put_name(&e, src);
				put(&e, " twice (fields %d and %zu)", map[i] + 1, j + 1);
				return SL_FATAL_HEADER;
			}
		}
	}

	/* every column the header lacks, with a hint for each */
	for (size_t i = 0; i < s->ncols; i++) {
		const sl_column *c = &s->cols[i];
		if (map[i] >= 0 || (c->optional && !is_key(s, i)))
			continue;
		put(&e, "%s", missing++ ? ", " : "the header lacks the column(s) ");
		put_name(&e, sl_str_make(c->source, strlen(c->source)));
		long j = closest(c->source, h, n);
		if (j >= 0) {
			put(&e, " (did you mean ");
			put_name(&e, h[j]);
			put(&e, "?)");
		}
	}
	if (missing) {
		put(&e, "; the header has %zu name%s: ", n, n == 1 ? "" : "s");
		for (size_t j = 0; j < n && e.o + 1 < e.cap; j++) {
			put(&e, "%s", j ? ", " : "");
			put_name(&e, h[j]);
		}
		put(&e, " (a column the file may lack says `optional: true`)");
		return SL_FATAL_HEADER;
	}

	/* the header's other names: duplicates and empty ones warned about,
	   the rest ignored (or, with extra_columns: reject, fatal) */
	size_t extra = 0;
	for (size_t j = 0; j < n; j++) {
		bool used = false;
		for (size_t i = 0; i < s->ncols && !used; i++)
			used = map[i] == (int)j;
		if (used)
			continue;
		size_t first = j;
		for (size_t k = 0; k < j; k++) {
			if (sl_str_eq(h[k], h[j])) {
				first = k;
				break;
			}
		}
		if (!h[j].n || first != j) {
			warn(r, &wr, "header field", j, h[j], first);
			continue;
		}
		if (s->extra_reject) {
			put(&e, "%s",
			    extra++ ? ", "
			            : "the header has columns the schema does not read "
			              "(extra_columns: reject): ");
			put_name(&e, h[j]);
			continue;
		}
		if (r)
			add_ignored(r, h[j]);
	}
	return extra ? SL_FATAL_HEADER : 0;
}

int sl_schema_match_header(const sl_schema *s, const sl_str *header, size_t n, bool lenient,
                           int *map, sl_header_result *r, char *err, size_t errlen)
{
	if (!s->trim)
		return match(s, header, n, lenient, map, r, err, errlen);
	/* csv `trim: true`: header names are trimmed as the values are */
	sl_str *h = malloc((n ? n : 1) * sizeof *h);
	if (!h) {
		if (err && errlen)
			snprintf(err, errlen, "out of memory");
		return SL_NOMEM;
	}
	for (size_t j = 0; j < n; j++)
		h[j] = sl_str_trim_space(header[j]);
	int rc = match(s, h, n, lenient, map, r, err, errlen);
	free(h);
	return rc;
}

int sl_schema_map_header(const sl_schema *s, const sl_str *header, size_t n, int *map, char *err,
                         size_t errlen)
{
	return sl_schema_match_header(s, header, n, false, map, NULL, err, errlen);
}
