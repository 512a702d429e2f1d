/*
 * Field validation and conversion: one CSV field of one schema column to its
 * storage form (sl_value), or a VAL_* code with a short message naming the
 * column.
 *
 * This runs once per field of every row (tens of millions of calls per
 * second across threads), so: no allocation per call, no strlen (fields are
 * views, not NUL-terminated), text values stay views into the input, and
 * messages are formatted only when a check fails. Numbers are parsed by
 * hand, decimals exactly in scaled 128-bit integers (never binary floating
 * point), dates by a small strptime-like parser of our own (strptime is
 * locale-dependent and accepts impossible values such as 31 February).
 *
 * A validator owns per-thread state: compiled patterns (glibc serializes
 * regexec on one regex_t, so sharing them would serialize the workers).
 * Simple patterns of the form ^[set]{m,n}$ skip the regex engine entirely.
 *
 * The decimal and date-format helpers with the sl__ prefix are also used by
 * the schema loader (schema_yaml.c) so both read values the same way.
 */
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "sluice/error.h"
#include "sluice/schema.h"

__extension__ typedef __int128 sl__i128;
__extension__ typedef unsigned __int128 sl__u128;

/* Shared with schema_yaml.c (declared there too; there is no private header). */
int sl__decimal_parse(const char *p, size_t n, int precision, int scale, sl__i128 *out);
size_t sl__decimal_format(sl__i128 v, int scale, char *buf);
const char *sl__format_check(sl_type t, const char *fmt);

/* --- per-thread column state ----------------------------------------------- */

/* A pattern simple enough to test without the regex engine:
   ^[set]{min,max}$ over ASCII bytes (max -1 = unbounded). */
struct simple_re {
	bool on;
	uint64_t set[4];
	size_t min, max;
};

struct vcol {
	const sl_column *c;
	bool has_re;
	regex_t re;
	struct simple_re fast;
	sl__i128 dmin, dmax;
	size_t *vlen; /* lengths of the enum values */
};

struct sl_validator {
	const sl_schema *s;
	struct vcol *cols;
	size_t *null_len;
	bool nulls_only_empty; /* the default: only "" is NULL */
};

/* --- small helpers ---------------------------------------------------------- */

static inline bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Writes the value quoted for a message: printable ASCII and valid UTF-8 as
   is, other bytes as \xNN, '"' and '\' escaped, cut after ~40 bytes. */
static void quote_value(char *out, size_t cap, const char *p, size_t n)
{
	size_t o = 0;
	const size_t limit = 40;
	if (cap < 16) {
		if (cap)
			out[0] = 0;
		return;
	}
	cap -= 8; /* room for `..."` and the NUL */
	out[o++] = '"';
	size_t i = 0;
	while (i < n && o + 4 < cap) {
		unsigned char c = (unsigned char)p[i];
		if (i >= limit)
			break;
		if (c >= 0x20 && c < 0x7f) {
			if (c == '"' || c == '\\')
				out[o++] = '\\';
			out[o++] = (char)c;
			i++;
			continue;
		}
		size_t len = 0;
		if (c >= 0xc2 && c <= 0xf4) {
			len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
			if (i + len > n)
				len = 0;
			for (size_t k = 1; k < len; k++)
				if (((unsigned char)p[i + k] & 0xc0) != 0x80)
					len = 0;
		}
		if (len) {
			if (o + len >= cap)
				break;
			memcpy(out + o, p + i, len);
			o += len;
			i += len;
		} else {
			o += (size_t)snprintf(out + o, cap + 8 - o, "\\x%02X", c);
			i++;
		}
	}
	if (i < n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = 0;
}

static int vfail(char *msg, size_t msglen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int vfail(char *msg, size_t msglen, int code, const char *fmt, ...)
{
	if (msg && msglen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* --- simple patterns ------------------------------------------------------- */

static bool parse_count(const char **pp, size_t *out)
{
	const char *p = *pp;
	size_t v = 0;
	if (!is_digit((unsigned char)*p))
		return false;
	while (is_digit((unsigned char)*p)) {
		v = v * 10 + (size_t)(*p - '0');
		if (v > 255) /* RE_DUP_MAX */
			return false;
		p++;
	}
	*pp = p;
	*out = v;
	return true;
}

/* Recognizes ^[...]{m,n}$, ^[...]+$, ^[...]*$, ^[...]{m}$, ^[...]{m,}$ with
   ASCII members and ranges only (no classes, negation, or special members),
   the common shape of identifier and number patterns. Anything else goes to
   regexec. */
static void simple_compile(const char *pat, struct simple_re *f)
{
	memset(f, 0, sizeof *f);
	const char *p = pat;
	if (*p++ != '^' || *p++ != '[')
		return;
	if (*p == '^' || *p == ']')
		return;
	while (*p && *p != ']') {
		unsigned char a = (unsigned char)*p, b = a;
		if (a >= 0x80 || a == '[' || a == '\\')
			return;
		if (p[1] == '-' && p[2] && p[2] != ']') {
			b = (unsigned char)p[2];
			if (b >= 0x80 || b == '[' || b == '\\' || b < a)
				return;
			p += 3;
		} else {
			p++;
		}
		for (unsigned c = a; c <= b; c++)
			f->set[c >> 6] |= (uint64_t)1 << (c & 63);
	}
	if (*p++ != ']')
		return;
	size_t lo, hi;
	if (*p == '+') {
		lo = 1, hi = SIZE_MAX;
		p++;
	} else if (*p == '*') {
		lo = 0, hi = SIZE_MAX;
		p++;
	} else if (*p == '{') {
		p++;
		if (!parse_count(&p, &lo))
			return;
		if (*p == ',') {
			p++;
			if (*p == '}')
				hi = SIZE_MAX;
			else if (!parse_count(&p, &hi) || hi < lo)
				return;
		} else {
			hi = lo;
		}
		if (*p++ != '}')
			return;
	} else {
		lo = hi = 1;
	}
	if (p[0] != '$' || p[1] != 0)
		return;
	f->min = lo;
	f->max = hi;
	f->on = true;
}

static bool simple_match(const struct simple_re *f, const char *p, size_t n)
{
	if (n < f->min || n > f->max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (!((f->set[c >> 6] >> (c & 63)) & 1))
			return false;
	}
	return true;
}

/* --- validator lifetime ---------------------------------------------------- */

int sl_validator_new(const sl_schema *s, sl_validator **out)
{
	int rc = SL_NOMEM;
	sl_validator *v = calloc(1, sizeof *v);
	*out = NULL;
	if (!v)
		goto out;
	v->s = s;
	v->cols = calloc(s->ncols ? s->ncols : 1, sizeof *v->cols);
	v->null_len = calloc(s->nnulls ? s->nnulls : 1, sizeof *v->null_len);
	if (!v->cols || !v->null_len)
		goto out;
	v->nulls_only_empty = s->nnulls == 1 && s->nulls[0][0] == 0;
	for (size_t i = 0; i < s->nnulls; i++)
		v->null_len[i] = strlen(s->nulls[i]);
	for (size_t i = 0; i < s->ncols; i++) {
		const sl_column *c = &s->cols[i];
		struct vcol *vc = &v->cols[i];
		vc->c = c;
		if (c->pattern) {
			simple_compile(c->pattern, &vc->fast);
			if (!vc->fast.on) {
				if (regcomp(&vc->re, c->pattern, REG_EXTENDED | REG_NOSUB) != 0) {
					/* the loader compiled it already: only memory can fail */
					rc = SL_NOMEM;
					goto out;
				}
				vc->has_re = true;
			}
		}
		if (c->nvalues) {
			vc->vlen = calloc(c->nvalues, sizeof *vc->vlen);
			if (!vc->vlen)
				goto out;
			for (size_t k = 0; k < c->nvalues; k++)
				vc->vlen[k] = strlen(c->values[k]);
		}
		if (c->type == SL_TYPE_DECIMAL) {
			if (c->has_min &&
			    sl__decimal_parse(c->min_d, strlen(c->min_d), c->precision, c->scale,
			                      &vc->dmin) != 0) {
				rc = SL_INVAL;
				goto out;
			}
			if (c->has_max &&
			    sl__decimal_parse(c->max_d, strlen(c->max_d), c->precision, c->scale,
			                      &vc->dmax) != 0) {
				rc = SL_INVAL;
				goto out;
			}
		}
	}
	*out = v;
	v = NULL;
	rc = 0;
out:
	sl_validator_free(v);
	return rc;
}

void sl_validator_free(sl_validator *v)
{
	if (!v)
		return;
	if (v->cols) {
		for (size_t i = 0; i < v->s->ncols; i++) {
			if (v->cols[i].has_re)
				regfree(&v->cols[i].re);
			free(v->cols[i].vlen);
		}
	}
	free(v->cols);
	free(v->null_len);
	free(v);
}

/* --- text ------------------------------------------------------------------ */

static int conv_text(struct vcol *vc, const sl_str *f, sl_value *out, char *msg, size_t msglen)
{
	const sl_column *c = vc->c;
	char q[64];
	size_t cps = 0;
	bool nul = false;
	size_t bad = sl_utf8_scan(f->p, f->n, true, &cps, &nul);
	if (SL_UNLIKELY(bad)) {
		if (nul)
			return vfail(msg, msglen, SL_VAL_TYPE,
			             "%s: contains a NUL byte (at byte %zu)", c->name, bad);
		return vfail(msg, msglen, SL_VAL_TYPE, "%s: is not valid UTF-8 (at byte %zu)",
		             c->name, bad);
	}
	if (SL_UNLIKELY((c->min_length >= 0 && (int64_t)cps < c->min_length) ||
	                (c->max_length >= 0 && (int64_t)cps > c->max_length))) {
		quote_value(q, sizeof q, f->p, f->n);
		if (c->max_length >= 0 && (int64_t)cps > c->max_length)
			return vfail(msg, msglen, SL_VAL_LENGTH,
			             "%s: %s has %zu characters, more than the maximum %lld",
			             c->name, q, cps, (long long)c->max_length);
		return vfail(msg, msglen, SL_VAL_LENGTH,
		             "%s: %s has %zu characters, fewer than the minimum %lld", c->name, q,
		             cps, (long long)c->min_length);
	}
	if (c->pattern) {
		bool ok;
		if (vc->fast.on) {
			ok = simple_match(&vc->fast, f->p, f->n);
		} else {
			/* REG_STARTEND: match the view in place, no NUL-terminated copy */
			regmatch_t m[1];
			m[0].rm_so = 0;
			m[0].rm_eo = (regoff_t)f->n;
			ok = regexec(&vc->re, f->n ? f->p : "", 1, m, REG_STARTEND) == 0;
		}
		if (SL_UNLIKELY(!ok)) {
			quote_value(q, sizeof q, f->p, f->n);
			return vfail(msg, msglen, SL_VAL_PATTERN, "%s: %s does not match %s",
			             c->name, q, c->pattern);
		}
	}
	if (c->nvalues) {
		size_t k;
		for (k = 0; k < c->nvalues; k++)
			if (vc->vlen[k] == f->n && memcmp(c->values[k], f->p, f->n) == 0)
				break;
		if (SL_UNLIKELY(k == c->nvalues)) {
			char list[160];
			size_t o = 0;
			list[0] = 0;
			for (k = 0; k < c->nvalues && o + 8 < sizeof list; k++) {
				int w = snprintf(list + o, sizeof list - o, "%s%s", k ? ", " : "",
				                 c->values[k]);
				if (w < 0 || (size_t)w >= sizeof list - o) {
					snprintf(list + o, sizeof list - o, ", ...");
					break;
				}
				o += (size_t)w;
			}
			quote_value(q, sizeof q, f->p, f->n);
			return vfail(msg, msglen, SL_VAL_ENUM, "%s: %s is not one of %s", c->name,
			             q, list);
		}
	}
	out->kind = SL_VALUE_TEXT;
	out->s = *f;
	return 0;
}

/* --- integers -------------------------------------------------------------- */

/* 0 ok; 1 not an integer; 2 does not fit. */
static int parse_int64(const char *p, size_t n, int64_t *out)
{
	size_t i = 0;
	bool neg = false;
	if (n && (p[0] == '+' || p[0] == '-')) {
		neg = p[0] == '-';
		i = 1;
	}
	if (i == n)
		return 1;
	uint64_t v = 0;
	const uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	bool over = false;
	for (; i < n; i++) {
		unsigned d = (unsigned char)p[i] - '0';
		if (d > 9)
			return 1;
		if (v > (lim - d) / 10)
			over = true; /* keep scanning: "999...9x" is not an integer at all */
		else
			v = v * 10 + d;
	}
	if (over)
		return 2;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int conv_integer(struct vcol *vc, const sl_str *f, sl_value *out, char *msg, size_t msglen)
{
	const sl_column *c = vc->c;
	int64_t x;
	int r = parse_int64(f->p, f->n, &x);
	if (SL_UNLIKELY(r)) {
		char q[64];
		quote_value(q, sizeof q, f->p, f->n);
		if (r == 2)
			return vfail(msg, msglen, SL_VAL_TYPE,
			             "%s: %s does not fit in a 64-bit integer", c->name, q);
		return vfail(msg, msglen, SL_VAL_TYPE, "%s: %s is not an integer", c->name, q);
	}
	if (SL_UNLIKELY(c->has_min && x < c->min_i))
		return vfail(msg, msglen, SL_VAL_RANGE, "%s: %lld is less than the minimum %lld",
		             c->name, (long long)x, (long long)c->min_i);
	if (SL_UNLIKELY(c->has_max && x > c->max_i))
		return vfail(msg, msglen, SL_VAL_RANGE, "%s: %lld is more than the maximum %lld",
		             c->name, (long long)x, (long long)c->max_i);
	out->kind = SL_VALUE_INT;
	out->i = x;
	return 0;
}

/* --- decimals -------------------------------------------------------------- */

/* Parses [+-]digits[.digits] (at least one digit) into an integer scaled by
   10^scale. 0 ok; 1 not a decimal; 2 more fractional digits than scale;
   3 more integer digits than precision - scale. */
int sl__decimal_parse(const char *p, size_t n, int precision, int scale, sl__i128 *out)
{
	size_t i = 0;
	bool neg = false;
	if (n && (p[0] == '+' || p[0] == '-')) {
		neg = p[0] == '-';
		i = 1;
	}
	sl__i128 v = 0;
	int idigits = 0, fdigits = 0;
	bool any = false, over = false;
	for (; i < n && is_digit((unsigned char)p[i]); i++) {
		any = true;
		if (v == 0 && p[i] == '0')
			continue; /* leading zeros do not count against the precision */
		if (++idigits > 38)
			over = true;
		else
			v = v * 10 + (p[i] - '0');
	}
	if (i < n && p[i] == '.') {
		i++;
		/* only while the integer part fits: a value refused for its
		   precision must not overflow v on the way (fuzz_value found
		   39 integer digits and a fraction doing that) */
		bool fits = !over && idigits <= precision - scale;
		for (; i < n && is_digit((unsigned char)p[i]); i++) {
			any = true;
			if (++fdigits <= scale && fits)
				v = v * 10 + (p[i] - '0');
		}
	}
	if (!any || i != n)
		return 1;
	if (fdigits > scale)
		return 2;
	if (over || idigits > precision - scale)
		return 3;
	for (int k = fdigits; k < scale; k++)
		v *= 10;
	*out = neg ? -v : v;
	return 0;
}

/* Canonical text: [-]int.frac with exactly `scale` fractional digits, no
   leading zeros, no sign on zero. At most 41 bytes plus NUL. */
size_t sl__decimal_format(sl__i128 v, int scale, char *buf)
{
	char tmp[48];
	size_t n = 0;
	bool neg = v < 0;
	sl__u128 u = neg ? (sl__u128)0 - (sl__u128)v : (sl__u128)v;
	do {
		tmp[n++] = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u);
	while (n < (size_t)scale + 1)
		tmp[n++] = '0';
	size_t o = 0;
	if (neg)
		buf[o++] = '-';
	while (n > (size_t)scale)
		buf[o++] = tmp[--n];
	if (scale > 0) {
		buf[o++] = '.';
		while (n)
			buf[o++] = tmp[--n];
	}
	buf[o] = 0;
	return o;
}

static int conv_decimal(struct vcol *vc, const sl_str *f, sl_value *out, char *buf, size_t *used,
                        char *msg, size_t msglen)
{
	const sl_column *c = vc->c;
	sl__i128 x;
	int r = sl__decimal_parse(f->p, f->n, c->precision, c->scale, &x);
	if (SL_UNLIKELY(r)) {
		char q[64];
		quote_value(q, sizeof q, f->p, f->n);
		if (r == 2)
			return vfail(msg, msglen, SL_VAL_TYPE,
			             "%s: %s has more than %d decimal places", c->name, q,
			             c->scale);
		if (r == 3)
			return vfail(msg, msglen, SL_VAL_RANGE, "%s: %s exceeds precision %d,%d",
			             c->name, q, c->precision, c->scale);
		return vfail(msg, msglen, SL_VAL_TYPE, "%s: %s is not a decimal number", c->name,
		             q);
	}
	if (SL_UNLIKELY((c->has_min && x < vc->dmin) || (c->has_max && x > vc->dmax))) {
		char t[48];
		sl__decimal_format(x, c->scale, t);
		if (c->has_min && x < vc->dmin)
			return vfail(msg, msglen, SL_VAL_RANGE,
			             "%s: %s is less than the minimum %s", c->name, t, c->min_d);
		return vfail(msg, msglen, SL_VAL_RANGE, "%s: %s is more than the maximum %s",
		             c->name, t, c->max_d);
	}
	size_t n = sl__decimal_format(x, c->scale, buf);
	*used = n;
	out->kind = SL_VALUE_TEXT;
	out->s = sl_str_make(buf, n);
	return 0;
}

/* --- booleans -------------------------------------------------------------- */

static int conv_boolean(struct vcol *vc, const sl_str *f, sl_value *out, char *msg, size_t msglen)
{
	static const struct {
		const char *w;
		size_t n;
		int v;
	} words[] = {{"true", 4, 1}, {"false", 5, 0}, {"t", 1, 1}, {"f", 1, 0}, {"yes", 3, 1},
	             {"no", 2, 0},   {"y", 1, 1},     {"n", 1, 0}, {"1", 1, 1}, {"0", 1, 0}};
	char low[6];
	if (f->n >= 1 && f->n <= 5) {
		for (size_t i = 0; i < f->n; i++) {
			char ch = f->p[i];
			low[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
		}
		for (size_t k = 0; k < SL_ARRAY_LEN(words); k++) {
			if (words[k].n == f->n && memcmp(words[k].w, low, f->n) == 0) {
				out->kind = SL_VALUE_INT;
				out->i = words[k].v;
				return 0;
			}
		}
	}
	char q[64];
	quote_value(q, sizeof q, f->p, f->n);
	return vfail(msg, msglen, SL_VAL_TYPE,
	             "%s: %s is not a boolean (true/false, yes/no, y/n, t/f, 1/0)", vc->c->name, q);
}

/* --- dates and times ------------------------------------------------------- */

struct dt {
	int y, mo, d, h, mi, s;
	int fdigits;
	char frac[9];
	bool has_tz;
	int tz; /* offset east of UTC, seconds */
};

static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                     "jul", "aug", "sep", "oct", "nov", "dec"};

/* Reads min..max digits. */
static bool digits(const char *p, size_t n, size_t *i, int min, int max, int *out)
{
	int v = 0, k = 0;
	while (k < max && *i < n && is_digit((unsigned char)p[*i])) {
		v = v * 10 + (p[*i] - '0');
		(*i)++;
		k++;
	}
	*out = v;
	return k >= min;
}

static bool parse_zone(const char *p, size_t n, size_t *i, struct dt *o)
{
	if (*i < n && p[*i] == 'Z') {
		(*i)++;
		o->has_tz = true;
		o->tz = 0;
		return true;
	}
	if (*i >= n || (p[*i] != '+' && p[*i] != '-'))
		return false;
	int sign = p[*i] == '-' ? -1 : 1;
	(*i)++;
	int hh, mm;
	if (!digits(p, n, i, 2, 2, &hh))
		return false;
	if (*i < n && p[*i] == ':')
		(*i)++;
	if (!digits(p, n, i, 2, 2, &mm))
		return false;
	if (hh > 23 || mm > 59)
		return false;
	o->has_tz = true;
	o->tz = sign * (hh * 3600 + mm * 60);
	return true;
}

static bool parse_frac(const char *p, size_t n, size_t *i, struct dt *o)
{
	int k = 0;
	while (k < 9 && *i < n && is_digit((unsigned char)p[*i]))
		o->frac[k++] = p[(*i)++];
	if (k == 0 || (*i < n && is_digit((unsigned char)p[*i])))
		return false;
	o->fdigits = k;
	return true;
}

/* Matches `fmt` against p[*i..n). strict: %m %d %H %M %S take exactly two
   digits (the ISO 8601 forms). */
static bool parse_fmt(const char *fmt, const char *p, size_t n, size_t *i, struct dt *o,
                      bool strict)
{
	int lo = strict ? 2 : 1;
	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			if (*i >= n || p[*i] != *f)
				return false;
			(*i)++;
			continue;
		}
		f++;
		switch (*f) {
		case 'Y':
			if (!digits(p, n, i, 4, 4, &o->y))
				return false;
			break;
		case 'y': {
			int yy;
			if (!digits(p, n, i, 2, 2, &yy))
				return false;
			o->y = yy < 70 ? 2000 + yy : 1900 + yy;
			break;
		}
		case 'm':
			if (!digits(p, n, i, lo, 2, &o->mo))
				return false;
			break;
		case 'd':
			if (!digits(p, n, i, lo, 2, &o->d))
				return false;
			break;
		case 'H':
			if (!digits(p, n, i, lo, 2, &o->h))
				return false;
			break;
		case 'M':
			if (!digits(p, n, i, lo, 2, &o->mi))
				return false;
			break;
		case 'S':
			if (!digits(p, n, i, lo, 2, &o->s))
				return false;
			break;
		case 'f':
			if (!parse_frac(p, n, i, o))
				return false;
			break;
		case 'b': {
			if (*i + 3 > n)
				return false;
			char m[3];
			for (int k = 0; k < 3; k++) {
				char ch = p[*i + (size_t)k];
				m[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
			}
			int k;
			for (k = 0; k < 12; k++)
				if (memcmp(months[k], m, 3) == 0)
					break;
			if (k == 12)
				return false;
			o->mo = k + 1;
			*i += 3;
			break;
		}
		case 'z':
			if (!parse_zone(p, n, i, o))
				return false;
			break;
		case '%':
			if (*i >= n || p[*i] != '%')
				return false;
			(*i)++;
			break;
		default:
			return false; /* the loader rejects such formats */
		}
	}
	return true;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

static bool valid_date(const struct dt *o)
{
	return o->y >= 1 && o->y <= 9999 && o->mo >= 1 && o->mo <= 12 && o->d >= 1 &&
	       o->d <= days_in_month(o->y, o->mo);
}

static bool valid_time(const struct dt *o)
{
	return o->h >= 0 && o->h <= 23 && o->mi >= 0 && o->mi <= 59 && o->s >= 0 && o->s <= 59;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back
   (H. Hinnant's algorithms, exact for every year we accept). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yy + (*m <= 2));
}

static inline char *put2(char *o, int v)
{
	o[0] = (char)('0' + v / 10);
	o[1] = (char)('0' + v % 10);
	return o + 2;
}

static char *put_date(char *o, const struct dt *t)
{
	o = put2(o, t->y / 100);
	o = put2(o, t->y % 100);
	*o++ = '-';
	o = put2(o, t->mo);
	*o++ = '-';
	return put2(o, t->d);
}

static char *put_time(char *o, const struct dt *t)
{
	o = put2(o, t->h);
	*o++ = ':';
	o = put2(o, t->mi);
	*o++ = ':';
	o = put2(o, t->s);
	if (t->fdigits) {
		*o++ = '.';
		memcpy(o, t->frac, (size_t)t->fdigits);
		o += t->fdigits;
	}
	return o;
}

static bool parse_iso(sl_type type, const char *p, size_t n, struct dt *o)
{
	size_t i = 0;
	if (type != SL_TYPE_TIME) {
		if (!parse_fmt("%Y-%m-%d", p, n, &i, o, true))
			return false;
		if (type == SL_TYPE_DATE)
			return i == n;
		if (i >= n || (p[i] != 'T' && p[i] != ' '))
			return false;
		i++;
	}
	if (!parse_fmt("%H:%M:%S", p, n, &i, o, true))
		return false;
	if (i < n && p[i] == '.') {
		i++;
		if (!parse_frac(p, n, &i, o))
			return false;
	}
	if (type == SL_TYPE_TIMESTAMP && i < n && !parse_zone(p, n, &i, o))
		return false;
	return i == n;
}

static int conv_datetime(struct vcol *vc, const sl_str *f, sl_value *out, char *buf, size_t *used,
                         char *msg, size_t msglen)
{
	const sl_column *c = vc->c;
	struct dt t = {1970, 1, 1, 0, 0, 0, 0, {0}, false, 0};
	bool ok;
	if (c->format) {
		size_t i = 0;
		ok = parse_fmt(c->format, f->p, f->n, &i, &t, false) && i == f->n;
	} else {
		ok = parse_iso(c->type, f->p, f->n, &t);
	}
	if (ok && c->type != SL_TYPE_TIME)
		ok = valid_date(&t);
	if (ok && c->type != SL_TYPE_DATE)
		ok = valid_time(&t);
	if (SL_UNLIKELY(!ok)) {
		static const char *const iso[] = {"YYYY-MM-DD", "HH:MM:SS[.f]",
		                                  "YYYY-MM-DDTHH:MM:SS[.f][Z|+HH:MM]"};
		int k = c->type == SL_TYPE_DATE ? 0 : c->type == SL_TYPE_TIME ? 1 : 2;
		const char *what = k == 0 ? "date" : k == 1 ? "time" : "timestamp";
		char q[64];
		quote_value(q, sizeof q, f->p, f->n);
		if (c->format)
			return vfail(msg, msglen, SL_VAL_TYPE,
			             "%s: %s is not a %s in the format %s", c->name, q, what,
			             c->format);
		return vfail(msg, msglen, SL_VAL_TYPE, "%s: %s is not a %s in ISO 8601 form (%s)",
		             c->name, q, what, iso[k]);
	}
	if (t.has_tz && c->type == SL_TYPE_TIMESTAMP && t.tz != 0) {
		int64_t secs =
		    days_from_civil(t.y, t.mo, t.d) * 86400 + t.h * 3600 + t.mi * 60 + t.s - t.tz;
		int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
		int64_t sod = secs - days * 86400;
		civil_from_days(days, &t.y, &t.mo, &t.d);
		t.h = (int)(sod / 3600);
		t.mi = (int)(sod / 60 % 60);
		t.s = (int)(sod % 60);
		if (t.y < 1 || t.y > 9999) {
			char q[64];
			quote_value(q, sizeof q, f->p, f->n);
			return vfail(msg, msglen, SL_VAL_RANGE,
			             "%s: %s is outside years 0001-9999 in UTC", c->name, q);
		}
	}
	char *o = buf;
	if (c->type != SL_TYPE_TIME)
		o = put_date(o, &t);
	if (c->type == SL_TYPE_TIMESTAMP)
		*o++ = 'T';
	if (c->type != SL_TYPE_DATE)
		o = put_time(o, &t);
	if (c->type == SL_TYPE_TIMESTAMP && t.has_tz)
		*o++ = 'Z';
	*used = (size_t)(o - buf);
	out->kind = SL_VALUE_TEXT;
	out->s = sl_str_make(buf, *used);
	return 0;
}

/* Checks a date/time format at load time: known directives, each part at
   most once, the parts the type needs present, none it cannot store. */
const char *sl__format_check(sl_type t, const char *fmt)
{
	int seen[128] = {0};
	for (const char *f = fmt; *f; f++) {
		if (*f != '%')
			continue;
		f++;
		unsigned char ch = (unsigned char)*f;
		if (ch == '%')
			continue;
		if (!ch)
			return "the format ends with a lone %";
		if (!strchr("YymdbHMSfz", ch) || ch >= 128)
			return "unknown directive in the format (allowed: %Y %y %m %d %b %H %M %S "
			       "%f "
			       "%z %%)";
		if (seen[ch]++)
			return "a directive appears twice in the format";
	}
	bool year = seen['Y'] || seen['y'], month = seen['m'] || seen['b'];
	if ((seen['Y'] && seen['y']) || (seen['m'] && seen['b']))
		return "the format gives the year or the month twice";
	bool dpart = year || month || seen['d'];
	bool tpart = seen['H'] || seen['M'] || seen['S'] || seen['f'] || seen['z'];
	switch (t) {
	case SL_TYPE_DATE:
		if (tpart)
			return "a date format cannot have time directives (%H %M %S %f %z)";
		if (!year || !month || !seen['d'])
			return "a date format needs a year (%Y or %y), a month (%m or %b) and a "
			       "day (%d)";
		break;
	case SL_TYPE_TIME:
		if (dpart || seen['z'])
			return "a time format cannot have date or zone directives";
		if (!seen['H'] || !seen['M'])
			return "a time format needs %H and %M";
		break;
	case SL_TYPE_TIMESTAMP:
		if (!year || !month || !seen['d'] || !seen['H'] || !seen['M'])
			return "a timestamp format needs a year, month, day, %H and %M";
		break;
	default:
		return "only date, time and timestamp columns take a format";
	}
	if (seen['f'] && !seen['S'])
		return "%f (fraction of a second) needs %S";
	return NULL;
}

/* --- the entry point ------------------------------------------------------- */

int sl_value_convert(sl_validator *v, size_t col, const sl_str *field, sl_value *out, char *out_buf,
                     size_t *used, char *msg, size_t msglen)
{
	*used = 0;
	if (SL_UNLIKELY(col >= v->s->ncols))
		return vfail(msg, msglen, SL_INVAL, "no column %zu in the schema", col);
	struct vcol *vc = &v->cols[col];
	const sl_column *c = vc->c;
	bool is_null = field == NULL;
	if (!is_null) {
		if (v->nulls_only_empty) {
			is_null = field->n == 0;
		} else {
			for (size_t k = 0; k < v->s->nnulls; k++) {
				if (v->null_len[k] == field->n &&
				    (field->n == 0 ||
				     memcmp(v->s->nulls[k], field->p, field->n) == 0)) {
					is_null = true;
					break;
				}
			}
		}
	}
	if (is_null) {
		if (c->required)
			return vfail(msg, msglen, SL_VAL_REQUIRED, "%s is required", c->name);
		out->kind = SL_VALUE_NULL;
		return 0;
	}
	switch (c->type) {
	case SL_TYPE_TEXT:
	case SL_TYPE_ENUM:
		return conv_text(vc, field, out, msg, msglen);
	case SL_TYPE_INTEGER:
		return conv_integer(vc, field, out, msg, msglen);
	case SL_TYPE_DECIMAL:
		return conv_decimal(vc, field, out, out_buf, used, msg, msglen);
	case SL_TYPE_BOOLEAN:
		return conv_boolean(vc, field, out, msg, msglen);
	case SL_TYPE_DATE:
	case SL_TYPE_TIME:
	case SL_TYPE_TIMESTAMP:
		return conv_datetime(vc, field, out, out_buf, used, msg, msglen);
	}
	return vfail(msg, msglen, SL_INTERNAL, "%s: unknown column type", c->name);
}
