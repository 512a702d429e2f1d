/*
 * Field validation and conversion: one CSV field of one schema column to its
 * storage form (sl_value), or a VAL_* code with a short message naming the
 * column.
 *
 * This runs once per field of every row (tens of millions of calls per
 * second across threads), so: no allocation per call, no strlen (fields are
 * views, not NUL-terminated), text values stay views into the input, and
 * messages are formatted only when a check fails (a float of more than 127
 * characters is copied to the heap for strtod_l: the one exception). Numbers
 * are parsed by hand, decimals exactly in scaled 128-bit integers (binary
 * floating point only for the stored form of narrow ones, never to decide a
 * value), dates by a small strptime-like parser of our own (strptime is
 * locale-dependent and accepts impossible values such as 31 February).
 *
 * Patterns are PCRE2, compiled and JIT-compiled once by the schema loader
 * (the code is read-only and shared by the threads); a validator owns the
 * per-thread state: the match data, and the C locale floats are read in
 * (strtod_l: the process's locale must not change what a number is).
 * Simple patterns of the form ^[set]{m,n}$ skip the regex engine entirely.
 * Floats are doubles; decimals of precision <= 15 are stored as the double
 * nearest their exact value (REAL in SQLite), wider ones as canonical text.
 *
 * The decimal and date-format helpers with the sl__ prefix are also used by
 * the schema loader (schema_yaml.c) so both read values the same way.
 */
#include <locale.h>
#include <math.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "sluice/error.h"
#include "sluice/schema.h"
#include "schema/schema_int.h"

__extension__ typedef unsigned __int128 sl__u128;

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
	const pcre2_code *re; /* the schema's (shared), or own_re */
	pcre2_code *own_re;   /* compiled here when the schema came without one */
	bool jit;             /* re has JIT code: pcre2_jit_match */
	bool no_nan;          /* required or in the key: SQLite would store a NaN as NULL */
	struct simple_re fast;
	sl__i128 dmin, dmax;
	size_t *vlen; /* lengths of the enum values */
};

struct sl_validator {
	const sl_schema *s;
	locale_t c_locale; /* for strtod_l: the decimal point is '.', whatever the process's
	                      locale */
	struct vcol *cols;
	size_t *null_len;
	bool nulls_only_empty; /* the default: only "" is NULL */
	pcre2_match_data *md;  /* this thread's match data, for every pattern */
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

/* Appends the words w[0..n) joined by ", " to out at o (", ..." when they do
   not fit in cap); returns the new end. */
static size_t join_words(char *out, size_t cap, size_t o, char *const *w, size_t n)
{
	out[o] = 0;
	for (size_t k = 0; k < n && o + 8 < cap; k++) {
		int r = snprintf(out + o, cap - o, "%s%s", k ? ", " : "", w[k]);
		if (r < 0 || (size_t)r >= cap - o) {
			snprintf(out + o, cap - o, ", ...");
			return strlen(out);
		}
		o += (size_t)r;
	}
	return o;
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

/* --- PCRE2 patterns --------------------------------------------------------- */

/* Compiles a pattern the way every pattern is read: UTF-8 subjects matched
   by characters (PCRE2_UTF), Unicode classes ([[:alpha:]], \d, \w match
   letters and digits of any script: PCRE2_UCP), `$` only at the very end
   (PCRE2_DOLLAR_ENDONLY: "abc\n" does not match ^abc$), then JIT-compiled
   when the platform has JIT (matching falls back to the interpreter
   otherwise). Returns the code, or NULL with the reason and its offset. */
void *sl__pattern_compile(const char *pattern, char *why, size_t whylen, size_t *offset)
{
	/* {,n} is a bound in POSIX (and PCRE2 from 10.43) but literal text in
	   older PCRE2: refuse it rather than change what the pattern means */
	for (size_t i = 0; pattern[i]; i++) {
		if (pattern[i] == '\\' && pattern[i + 1]) {
			i++;
			continue;
		}
		if (pattern[i] == '{' && pattern[i + 1] == ',') {
			snprintf(why, whylen,
			         "write {0,n} for at most n ({,n} is ambiguous; \\{ for a literal "
			         "brace)");
			*offset = i;
			return NULL;
		}
	}
	int err = 0;
	PCRE2_SIZE off = 0;
	pcre2_code *re =
	    pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
	                  PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &err, &off, NULL);
	if (!re) {
		pcre2_get_error_message(err, (PCRE2_UCHAR *)why, whylen);
		*offset = off;
		return NULL;
	}
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* no JIT: the interpreter */
	return re;
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
	v->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (!v->c_locale)
		goto out;
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
		vc->no_nan = c->required;
		for (size_t k = 0; k < s->nkey; k++)
			vc->no_nan |= s->key[k] == i;
		if (c->pattern) {
			simple_compile(c->pattern, &vc->fast);
			if (!vc->fast.on) {
				vc->re = c->re;
				if (!vc->re) {
					/* a schema built by hand: compile our own */
					char why[128];
					size_t off;
					vc->own_re =
					    sl__pattern_compile(c->pattern, why, sizeof why, &off);
					if (!vc->own_re) {
						rc = SL_INVAL;
						goto out;
					}
					vc->re = vc->own_re;
				}
				size_t jitsize = 0;
				vc->jit =
				    pcre2_pattern_info(vc->re, PCRE2_INFO_JITSIZE, &jitsize) == 0 &&
				    jitsize > 0;
				if (!v->md && !(v->md = pcre2_match_data_create(1, NULL)))
					goto out;
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
			pcre2_code_free(v->cols[i].own_re);
			free(v->cols[i].vlen);
		}
	}
	free(v->cols);
	free(v->null_len);
	pcre2_match_data_free(v->md);
	if (v->c_locale)
		freelocale(v->c_locale);
	free(v);
}

/* --- text ------------------------------------------------------------------ */

static int conv_text(sl_validator *v, struct vcol *vc, const sl_str *f, sl_value *out, char *msg,
                     size_t msglen)
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
			/* the view in place (PCRE2 takes a length); its UTF-8 is checked
			   above, so PCRE2 need not check it again */
			PCRE2_SPTR subj = (PCRE2_SPTR)(f->n ? f->p : "");
			int r = vc->jit ? pcre2_jit_match(vc->re, subj, f->n, 0, 0, v->md, NULL)
			                : pcre2_match(vc->re, subj, f->n, 0, PCRE2_NO_UTF_CHECK,
			                              v->md, NULL);
			if (SL_UNLIKELY(r < 0 && r != PCRE2_ERROR_NOMATCH)) {
				/* a limit of the engine (backtracking, depth): say so */
				char why[120];
				pcre2_get_error_message(r, (PCRE2_UCHAR *)why, sizeof why);
				quote_value(q, sizeof q, f->p, f->n);
				return vfail(msg, msglen, SL_VAL_PATTERN,
				             "%s: %s could not be matched: %s", c->name, q, why);
			}
			ok = r >= 0;
		}
		if (SL_UNLIKELY(!ok)) {
			char qp[64]; /* the pattern escaped as the value is (control bytes, quotes) */
			quote_value(q, sizeof q, f->p, f->n);
			quote_value(qp, sizeof qp, c->pattern, strlen(c->pattern));
			return vfail(msg, msglen, SL_VAL_PATTERN, "%s: %s does not match %s",
			             c->name, q, qp);
		}
	}
	if (c->nvalues) {
		size_t k;
		for (k = 0; k < c->nvalues; k++)
			if (vc->vlen[k] == f->n && memcmp(c->values[k], f->p, f->n) == 0)
				break;
		if (SL_UNLIKELY(k == c->nvalues)) {
			char list[160];
			join_words(list, sizeof list, 0, c->values, c->nvalues);
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

/* Powers of ten that are exact doubles, for decimals stored as REAL. */
static const double pow10_d[SL_DECIMAL_REAL_DIGITS + 1] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

/* Parses [+-]digits[.digits][(e|E)[+-]digits] (at least one mantissa digit)
   into an integer scaled by 10^scale, exactly: the value's significant
   digits decide, so trailing zeros beyond the scale (1.230 at scale 2) and
   exponents (9.579434990882874e-4) are fine when the exact value fits.
   Digits beyond the scale are rejected, or rounded by `mode`.
   0 ok; 1 not a decimal; 2 more fractional digits than scale; 3 more integer
   digits than precision - scale. */
/* The common case, fast: [+-]digits[.digits] with at most `scale`
   fractional digits. Same codes; 1 and 2 only say "not of this simple
   form" (an exponent, trailing zeros or rounding may still make it one). */
static int decimal_parse_plain(const char *p, size_t n, int precision, int scale, sl__i128 *out)
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
		if (++idigits > precision - scale)
			over = true; /* final unless an exponent follows */
		else
			v = v * 10 + (p[i] - '0');
	}
	if (i < n && p[i] == '.') {
		for (i++; i < n && is_digit((unsigned char)p[i]); i++) {
			any = true;
			if (++fdigits > scale)
				return 2;
			v = v * 10 + (p[i] - '0');
		}
	}
	if (!any || i != n)
		return 1;
	if (over)
		return 3;
	for (int k = fdigits; k < scale; k++)
		v *= 10;
	*out = neg ? -v : v;
	return 0;
}

int sl__decimal_parse_round(const char *p, size_t n, int precision, int scale, sl_round mode,
                            sl__i128 *out)
{
	int r = decimal_parse_plain(p, n, precision, scale, out);
	if (SL_LIKELY(r == 0 || r == 3))
		return r;
	enum { CAP = 80 }; /* significant digits kept; precision is at most 38 */
	char d[CAP];
	int nd = 0;
	int64_t exp10 = 0;   /* value = digits * 10^exp10 */
	bool sticky = false; /* a nonzero fractional digit dropped beyond CAP */
	size_t i = 0;
	bool neg = false, any = false;
	if (n && (p[0] == '+' || p[0] == '-')) {
		neg = p[0] == '-';
		i = 1;
	}
	for (; i < n && is_digit((unsigned char)p[i]); i++) {
		any = true;
		if (nd == 0 && p[i] == '0')
			continue; /* leading zeros */
		if (nd == CAP)
			return 3; /* 80 integer digits: beyond any precision */
		d[nd++] = p[i];
	}
	if (i < n && p[i] == '.') {
		for (i++; i < n && is_digit((unsigned char)p[i]); i++) {
			any = true;
			if (nd == 0 && p[i] == '0') {
				exp10--;
				continue;
			}
			if (nd < CAP) {
				d[nd++] = p[i];
				exp10--;
			} else {
				sticky |= p[i] != '0';
			}
		}
	}
	if (!any)
		return 1;
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		bool eneg = false;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			eneg = p[i++] == '-';
		size_t e0 = i;
		int64_t e = 0;
		for (; i < n && is_digit((unsigned char)p[i]); i++)
			if (e < 100000) /* far beyond any scale or precision either way */
				e = e * 10 + (p[i] - '0');
		if (i == e0)
			return 1;
		exp10 += eneg ? -e : e;
	}
	if (i != n)
		return 1;
	while (nd > 0 && d[nd - 1] == '0') /* trailing zeros are not digits of the value */
		nd--, exp10++;
	if (nd == 0) {
		*out = 0;
		return 0;
	}
	int keep = nd;   /* digits kept */
	bool up = false; /* round the kept digits up by one unit */
	if (exp10 < -(int64_t)scale || sticky) {
		if (mode == SL_ROUND_EXACT)
			return 2;
		int64_t drop = -(int64_t)scale - exp10; /* digits beyond the scale */
		if (drop < 0)
			drop = 0;
		int64_t k = (int64_t)nd - drop;
		/* the first dropped digit decides, then whether any other is not 0;
		   k < 0: every digit lies below the first dropped place, which is 0 */
		int first = k >= 0 && k < nd ? d[k] - '0' : 0;
		bool rest = sticky;
		for (int64_t j = k + 1 > 0 ? k + 1 : 0; j < nd; j++)
			rest |= d[j] != '0';
		keep = k < 0 ? 0 : (int)k;
		int last = keep > 0 ? d[keep - 1] - '0' : 0;
		if (mode == SL_ROUND_HALF_UP)
			up = first >= 5;
		else
			up = first > 5 || (first == 5 && (rest || (last & 1)));
		exp10 = -(int64_t)scale;
	}
	/* integer digits: keep + exp10 (when positive) against precision - scale */
	int64_t idigits = (int64_t)keep + exp10;
	if (idigits > (int64_t)(precision - scale))
		return 3;
	sl__i128 v = 0;
	for (int j = 0; j < keep; j++)
		v = v * 10 + (d[j] - '0');
	for (int64_t j = exp10 + scale; j > 0; j--)
		v *= 10;
	if (up) {
		/* the carry may add a digit: 9.995 rounded at scale 2 in precision 3
		   (without it, the digit count above already bounds v) */
		v += 1;
		sl__i128 lim = 1;
		for (int j = 0; j < precision; j++)
			lim *= 10;
		if (v >= lim)
			return 3;
	}
	*out = neg ? -v : v;
	return 0;
}

int sl__decimal_parse(const char *p, size_t n, int precision, int scale, sl__i128 *out)
{
	return sl__decimal_parse_round(p, n, precision, scale, SL_ROUND_EXACT, out);
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
	int r = sl__decimal_parse_round(f->p, f->n, c->precision, c->scale, c->round, &x);
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
	if (c->precision <= SL_DECIMAL_REAL_DIGITS) {
		/* |x| < 10^15 < 2^53 and 10^scale (scale <= 15) are exact doubles, so
		   one IEEE division gives the double nearest the decimal, which
		   prints back as it (15 significant digits always round-trip) */
		out->kind = SL_VALUE_REAL;
		out->d = (double)(int64_t)x / pow10_d[c->scale];
		return 0;
	}
	size_t n = sl__decimal_format(x, c->scale, buf);
	*used = n;
	out->kind = SL_VALUE_TEXT;
	out->s = sl_str_make(buf, n);
	return 0;
}

/* --- floats ---------------------------------------------------------------- */

static bool word_is(const char *p, size_t n, const char *w)
{
	size_t k = strlen(w);
	if (n != k)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (ch != w[i])
			return false;
	}
	return true;
}

/* Reads [+-](digits[.digits]|.digits)[(e|E)[+-]digits], or with
   allow_special inf, infinity, nan (any case, signed), as the double nearest
   the exact value (strtod_l in the C locale is correctly rounded; our own
   grammar comes first so that strtod's extras, hex floats, leading spaces,
   nan(...), are not numbers here). 0 ok; 1 not a number; 2 beyond the range
   of a double; 3 inf/nan without allow_special. Underflow gives the nearest
   double (a subnormal or zero), which is the value. */
int sl__float_parse(const char *p, size_t n, locale_t loc, bool allow_special, double *out)
{
	size_t i = 0, nd = 0;
	bool neg = false;
	if (n && (p[0] == '+' || p[0] == '-')) {
		neg = p[0] == '-';
		i = 1;
	}
	if (i < n && !is_digit((unsigned char)p[i]) && p[i] != '.') {
		const char *w = p + i;
		size_t wn = n - i;
		if (word_is(w, wn, "inf") || word_is(w, wn, "infinity")) {
			if (!allow_special)
				return 3;
			*out = neg ? -HUGE_VAL : HUGE_VAL;
			return 0;
		}
		if (word_is(w, wn, "nan")) {
			if (!allow_special)
				return 3;
			*out = NAN;
			return 0;
		}
		return 1;
	}
	for (; i < n && is_digit((unsigned char)p[i]); i++)
		nd++;
	if (i < n && p[i] == '.')
		for (i++; i < n && is_digit((unsigned char)p[i]); i++)
			nd++;
	if (nd == 0)
		return 1;
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		size_t e0 = i;
		while (i < n && is_digit((unsigned char)p[i]))
			i++;
		if (i == e0)
			return 1;
	}
	if (i != n)
		return 1;
	/* strtod needs a NUL: numbers are short, a long one takes the slow road */
	char stack[128], *t = n < sizeof stack ? stack : malloc(n + 1);
	if (!t)
		return 1;
	memcpy(t, p, n);
	t[n] = 0;
	double d = strtod_l(t, NULL, loc);
	if (t != stack)
		free(t);
	if (isinf(d))
		return 2;
	*out = d;
	return 0;
}

static int conv_float(sl_validator *v, struct vcol *vc, const sl_str *f, sl_value *out, char *msg,
                      size_t msglen)
{
	const sl_column *c = vc->c;
	double d;
	int r = sl__float_parse(f->p, f->n, v->c_locale, c->allow_special, &d);
	if (SL_UNLIKELY(r)) {
		char q[64];
		quote_value(q, sizeof q, f->p, f->n);
		if (r == 2)
			return vfail(msg, msglen, SL_VAL_RANGE,
			             "%s: %s is beyond the range of a double", c->name, q);
		if (r == 3)
			return vfail(msg, msglen, SL_VAL_TYPE,
			             "%s: %s is not a finite number (allow_special: true accepts "
			             "inf and nan)",
			             c->name, q);
		return vfail(msg, msglen, SL_VAL_TYPE, "%s: %s is not a number", c->name, q);
	}
	if (SL_UNLIKELY((c->has_min && !(d >= c->min_f)) || (c->has_max && !(d <= c->max_f)))) {
		char q[64];
		quote_value(q, sizeof q, f->p, f->n);
		if (c->has_min && !(d >= c->min_f))
			return vfail(msg, msglen, SL_VAL_RANGE,
			             "%s: %s is less than the minimum %s", c->name, q, c->min_d);
		return vfail(msg, msglen, SL_VAL_RANGE, "%s: %s is more than the maximum %s",
		             c->name, q, c->max_d);
	}
	if (SL_UNLIKELY(vc->no_nan && isnan(d))) {
		char q[64];
		quote_value(q, sizeof q, f->p, f->n);
		return vfail(msg, msglen, SL_VAL_TYPE,
		             "%s: %s cannot be stored in a required or key column (SQLite has no "
		             "NaN: it would be NULL)",
		             c->name, q);
	}
	out->kind = SL_VALUE_REAL;
	out->d = d;
	return 0;
}

/* --- booleans -------------------------------------------------------------- */

/* A column's own spellings: exact matches, the value as written. */
static int conv_boolean_spelled(const sl_column *c, const sl_str *f, sl_value *out, char *msg,
                                size_t msglen)
{
	for (int side = 1; side >= 0; side--) {
		char *const *w = side ? c->true_values : c->false_values;
		size_t nw = side ? c->ntrue : c->nfalse;
		for (size_t k = 0; k < nw; k++) {
			if (strlen(w[k]) == f->n && memcmp(w[k], f->p, f->n) == 0) {
				out->kind = SL_VALUE_INT;
				out->i = side;
				return 0;
			}
		}
	}
	char q[64], list[160];
	size_t o = join_words(list, sizeof list, 0, c->true_values, c->ntrue);
	if (o + 12 < sizeof list) {
		memcpy(list + o, " / ", 4);
		join_words(list, sizeof list, o + 3, c->false_values, c->nfalse);
	}
	quote_value(q, sizeof q, f->p, f->n);
	return vfail(msg, msglen, SL_VAL_TYPE, "%s: %s is not a boolean (%s)", c->name, q, list);
}

static int conv_boolean(struct vcol *vc, const sl_str *f, sl_value *out, char *msg, size_t msglen)
{
	if (vc->c->true_values)
		return conv_boolean_spelled(vc->c, f, out, msg, msglen);
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
	int tz;     /* offset east of UTC, seconds */
	int yday;   /* %j: 1..366, 0 = not given */
	int wday;   /* %A %a: 0 = Sunday .. 6, -1 = not given */
	int pm;     /* %p: 0 AM, 1 PM, -1 = not given (then %I is not either) */
	bool h12;   /* the hour came from %I */
	bool epoch; /* the whole moment came from %s */
};

static const char *const months[] = {"january",   "february", "march",    "april",
                                     "may",       "june",     "july",     "august",
                                     "september", "october",  "november", "december"};
static const char *const weekdays[] = {"sunday",   "monday", "tuesday", "wednesday",
                                       "thursday", "friday", "saturday"};

/* Case-insensitive match of the ASCII word w (lower case) at p[*i]; with
   len3 only its first three letters. */
static bool match_word(const char *p, size_t n, size_t *i, const char *w, bool len3)
{
	size_t k = len3 ? 3 : strlen(w);
	if (*i + k > n)
		return false;
	for (size_t j = 0; j < k; j++) {
		char ch = p[*i + j];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (ch != w[j])
			return false;
	}
	*i += k;
	return true;
}

/* One of `names` (full, or the 3-letter abbreviation): its index, or -1. */
static int match_name(const char *p, size_t n, size_t *i, const char *const *names, int count,
                      bool abbr)
{
	for (int k = 0; k < count; k++)
		if (match_word(p, n, i, names[k], abbr))
			return k;
	return -1;
}

/* %s: [-]digits, seconds since 1970-01-01T00:00:00Z, years 0001-9999. */
static bool parse_epoch(const char *p, size_t n, size_t *i, struct dt *o);

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
	int hh, mm = 0;
	if (!digits(p, n, i, 2, 2, &hh))
		return false;
	/* ±HH:MM, ±HHMM, or ±HH alone (ISO 8601; PostgreSQL writes +01) */
	if (*i < n && p[*i] == ':') {
		(*i)++;
		if (!digits(p, n, i, 2, 2, &mm))
			return false;
	} else if (*i < n && is_digit((unsigned char)p[*i])) {
		if (!digits(p, n, i, 2, 2, &mm))
			return false;
	}
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
   digits (the ISO 8601 forms). Text outside directives must match exactly. */
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
		case 'e': /* day, space-padded as ls and date(1) write it */
			if (*i < n && p[*i] == ' ')
				(*i)++;
			/* fall through */
		case 'd':
			if (!digits(p, n, i, lo, 2, &o->d))
				return false;
			break;
		case 'j':
			if (!digits(p, n, i, 1, 3, &o->yday) || o->yday < 1)
				return false;
			break;
		case 'H':
			if (!digits(p, n, i, lo, 2, &o->h))
				return false;
			break;
		case 'I':
			if (!digits(p, n, i, 1, 2, &o->h) || o->h < 1 || o->h > 12)
				return false;
			o->h12 = true;
			break;
		case 'p':
			if (match_word(p, n, i, "am", false))
				o->pm = 0;
			else if (match_word(p, n, i, "pm", false))
				o->pm = 1;
			else
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
		case 'b':
		case 'h':
		case 'B': {
			int k = match_name(p, n, i, months, 12, *f != 'B');
			if (k < 0)
				return false;
			o->mo = k + 1;
			break;
		}
		case 'a':
		case 'A':
			if ((o->wday = match_name(p, n, i, weekdays, 7, *f == 'a')) < 0)
				return false;
			break;
		case 'z':
			if (!parse_zone(p, n, i, o))
				return false;
			break;
		case 'Z': /* only the names that say UTC: other abbreviations are ambiguous
		             (CST is three zones) and change with the date */
			if (match_word(p, n, i, "utc", false) ||
			    match_word(p, n, i, "gmt", false) || match_word(p, n, i, "z", false)) {
				o->has_tz = true;
				o->tz = 0;
			} else {
				return false;
			}
			break;
		case 's':
			if (!parse_epoch(p, n, i, o))
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

static bool parse_epoch(const char *p, size_t n, size_t *i, struct dt *o)
{
	bool neg = *i < n && p[*i] == '-';
	if (neg)
		(*i)++;
	int64_t v = 0;
	int k = 0;
	for (; *i < n && is_digit((unsigned char)p[*i]); (*i)++, k++) {
		if (k >= 12) /* beyond year 9999 */
			return false;
		v = v * 10 + (p[*i] - '0');
	}
	if (k == 0)
		return false;
	if (neg)
		v = -v;
	if (v < -62135596800LL || v > 253402300799LL) /* 0001-01-01 .. 9999-12-31 */
		return false;
	int64_t days = v >= 0 ? v / 86400 : -((-v + 86399) / 86400);
	int64_t sod = v - days * 86400;
	civil_from_days(days, &o->y, &o->mo, &o->d);
	o->h = (int)(sod / 3600);
	o->mi = (int)(sod / 60 % 60);
	o->s = (int)(sod % 60);
	o->has_tz = true;
	o->tz = 0;
	o->epoch = true;
	return true;
}

/* What the directives leave to compute, and the checks across them: the
   day of the year into month and day, the 12-hour clock into 24, and a
   weekday that must be the date's. */
static bool settle(struct dt *o)
{
	if (SL_LIKELY(!o->yday && !o->h12 && o->wday < 0))
		return true;
	if (o->yday) {
		if (o->yday > (is_leap(o->y) ? 366 : 365))
			return false;
		int d = o->yday, m = 1;
		while (d > days_in_month(o->y, m))
			d -= days_in_month(o->y, m++);
		o->mo = m;
		o->d = d;
	}
	if (o->h12)
		o->h = o->h % 12 + (o->pm == 1 ? 12 : 0);
	if (o->wday >= 0 && valid_date(o)) {
		int64_t z = days_from_civil(o->y, o->mo, o->d); /* 1970-01-01 was a Thursday */
		int w = (int)(((z % 7) + 7 + 4) % 7);
		if (w != o->wday)
			return false;
	}
	return true;
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

/* Reads one value with one format (NULL: ISO 8601) into t and checks it is
   a real moment. */
static bool read_moment(sl_type type, const char *fmt, const char *p, size_t n, struct dt *t)
{
	t->y = 1970;
	t->mo = t->d = 1;
	t->h = t->mi = t->s = t->fdigits = t->tz = t->yday = 0;
	t->wday = t->pm = -1;
	t->has_tz = t->h12 = t->epoch = false;
	size_t i = 0;
	bool ok = fmt ? parse_fmt(fmt, p, n, &i, t, false) && i == n && settle(t)
	              : parse_iso(type, p, n, t);
	if (ok && type != SL_TYPE_TIME)
		ok = valid_date(t);
	if (ok && type != SL_TYPE_DATE)
		ok = valid_time(t);
	return ok;
}

static int conv_datetime(struct vcol *vc, const sl_str *f, sl_value *out, char *buf, size_t *used,
                         char *msg, size_t msglen)
{
	const sl_column *c = vc->c;
	struct dt t;
	bool ok;
	if (!c->nformats) {
		ok = read_moment(c->type, c->format, f->p, f->n, &t);
	} else {
		/* the first format that reads the whole value as a valid moment wins */
		ok = false;
		for (size_t k = 0; k < c->nformats && !ok; k++)
			ok = read_moment(c->type, c->formats[k], f->p, f->n, &t);
	}
	if (SL_UNLIKELY(!ok)) {
		static const char *const iso[] = {"YYYY-MM-DD", "HH:MM:SS[.f]",
		                                  "YYYY-MM-DDTHH:MM:SS[.f][Z|+HH:MM]"};
		int k = c->type == SL_TYPE_DATE ? 0 : c->type == SL_TYPE_TIME ? 1 : 2;
		const char *what = k == 0 ? "date" : k == 1 ? "time" : "timestamp";
		char q[64];
		quote_value(q, sizeof q, f->p, f->n);
		if (c->nformats > 1) {
			char list[200];
			join_words(list, sizeof list, 0, c->formats, c->nformats);
			return vfail(msg, msglen, SL_VAL_TYPE,
			             "%s: %s is not a %s in any of the formats %s", c->name, q,
			             what, list);
		}
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

/* The shorthands strftime users write, spelled out (%F %T %D %R), and the
   GNU no-padding flag dropped (%-d: every number directive already takes 1
   or 2 digits). Returns a new string, or NULL without memory. */
char *sl__format_expand(const char *fmt)
{
	static const struct {
		char d;
		const char *full;
	} sh[] = {{'F', "%Y-%m-%d"}, {'T', "%H:%M:%S"}, {'D', "%m/%d/%y"}, {'R', "%H:%M"}};
	size_t n = strlen(fmt);
	char *out = malloc(n * 4 + 1), *o = out; /* %F (2 bytes) -> 8 bytes at most */
	if (!out)
		return NULL;
	for (const char *f = fmt; *f; f++) {
		if (*f != '%' || !f[1]) {
			*o++ = *f;
			continue;
		}
		char d = f[1];
		if (d == '-' && f[2] && strchr("dmHIMSjey", f[2])) {
			f++; /* %-d is %d */
			d = f[1];
		}
		size_t k;
		for (k = 0; k < SL_ARRAY_LEN(sh); k++)
			if (sh[k].d == d)
				break;
		if (k < SL_ARRAY_LEN(sh)) {
			size_t l = strlen(sh[k].full);
			memcpy(o, sh[k].full, l);
			o += l;
		} else {
			*o++ = '%';
			*o++ = d;
		}
		f++;
	}
	*o = 0;
	return out;
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
		if (ch >= 128 || !strchr("YymdebBhjAaIpHMSfzZs", ch))
			return "unknown directive in the format (allowed: %Y %y %m %d %e %j %B %b "
			       "%h %A %a %H %I %p %M %S %f %z %Z %s %%)";
		if (seen[ch]++)
			return "a directive appears twice in the format";
	}
	int nyear = seen['Y'] + seen['y'], nmonth = seen['m'] + seen['b'] + seen['B'] + seen['h'];
	int nday = seen['d'] + seen['e'];
	if (nyear > 1 || nmonth > 1 || nday > 1 || seen['A'] + seen['a'] > 1 ||
	    seen['H'] + seen['I'] > 1 || seen['z'] + seen['Z'] > 1)
		return "the format gives the same part twice (year, month, day, weekday, hour or "
		       "zone)";
	if (seen['j'] && (nmonth || nday))
		return "%j (day of the year) cannot go with a month or a day of the month";
	if (seen['I'] != seen['p'])
		return "%I (12-hour clock) and %p (AM/PM) go together";
	if (seen['s']) {
		for (const char *o = "YymdebBhjAaIpHMSzZ"; *o; o++)
			if (seen[(unsigned char)*o])
				return "%s (seconds since 1970, UTC) gives the whole moment: only "
				       "%f "
				       "may go with it";
		if (t != SL_TYPE_TIMESTAMP)
			return "%s (seconds since 1970) is for timestamp columns";
		return NULL;
	}
	bool year = nyear, date = year && ((nmonth && nday) || seen['j']);
	bool dpart = nyear || nmonth || nday || seen['j'] || seen['A'] || seen['a'];
	bool hour = seen['H'] || seen['I'];
	bool tpart = hour || seen['M'] || seen['S'] || seen['f'] || seen['z'] || seen['Z'];
	switch (t) {
	case SL_TYPE_DATE:
		if (tpart)
			return "a date format cannot have time or zone directives";
		if (!date)
			return "a date format needs a year (%Y or %y), a month (%m, %b or %B) and "
			       "a "
			       "day (%d or %e), or a year and %j";
		break;
	case SL_TYPE_TIME:
		if (dpart || seen['z'] || seen['Z'])
			return "a time format cannot have date or zone directives";
		if (!hour || !seen['M'])
			return "a time format needs an hour (%H, or %I with %p) and %M";
		break;
	case SL_TYPE_TIMESTAMP:
		if (!date || !hour || !seen['M'])
			return "a timestamp format needs a year, month and day (or %j), an hour "
			       "(%H, "
			       "or %I with %p) and %M";
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
	sl_str trimmed;
	if (field && c->trim) {
		trimmed = sl_str_trim_space(*field);
		field = &trimmed;
	}
	if (!is_null && c->has_nulls) {
		/* the column's own markers replace the dialect's */
		for (size_t k = 0; k < c->nnulls && !is_null; k++)
			is_null = sl_str_eq_cstr(*field, c->nulls[k]);
	} else if (!is_null) {
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
		return conv_text(v, vc, field, out, msg, msglen);
	case SL_TYPE_INTEGER:
		return conv_integer(vc, field, out, msg, msglen);
	case SL_TYPE_DECIMAL:
		return conv_decimal(vc, field, out, out_buf, used, msg, msglen);
	case SL_TYPE_BOOLEAN:
		return conv_boolean(vc, field, out, msg, msglen);
	case SL_TYPE_FLOAT:
		return conv_float(v, vc, field, out, msg, msglen);
	case SL_TYPE_DATE:
	case SL_TYPE_TIME:
	case SL_TYPE_TIMESTAMP:
		return conv_datetime(vc, field, out, out_buf, used, msg, msglen);
	}
	return vfail(msg, msglen, SL_INTERNAL, "%s: unknown column type", c->name);
}

sl_value_kind sl_column_storage(const sl_column *c)
{
	switch (c->type) {
	case SL_TYPE_INTEGER:
	case SL_TYPE_BOOLEAN:
		return SL_VALUE_INT;
	case SL_TYPE_FLOAT:
		return SL_VALUE_REAL;
	case SL_TYPE_DECIMAL:
		return c->precision <= SL_DECIMAL_REAL_DIGITS ? SL_VALUE_REAL : SL_VALUE_TEXT;
	default:
		return SL_VALUE_TEXT;
	}
}

size_t sl_decimal_real_format(const sl_column *c, double d, char *buf)
{
	/* |v| < 10^15: d * 10^scale is within 0.25 of the integer v it came
	   from (two roundings of 2^-53 each), so llround gives v back exactly */
	int sc = c->scale < 0 ? 0 : c->scale > 15 ? 15 : c->scale;
	return sl__decimal_format((sl__i128)llround(d * pow10_d[sc]), sc, buf);
}

int sl_value_cmp(const sl_value *a, const sl_value *b)
{
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	switch (a->kind) {
	case SL_VALUE_INT:
		return (a->i > b->i) - (a->i < b->i);
	case SL_VALUE_REAL: {
		int an = isnan(a->d) != 0, bn = isnan(b->d) != 0;
		if (an || bn)
			return an - bn;
	}
		return (a->d > b->d) - (a->d < b->d);
	case SL_VALUE_TEXT: {
		size_t n = a->s.n < b->s.n ? a->s.n : b->s.n;
		int c = n ? memcmp(a->s.p, b->s.p, n) : 0;
		return c ? c : (a->s.n > b->s.n) - (a->s.n < b->s.n);
	}
	default:
		return 0;
	}
}

/* The C locale for sl_double_format, made once (immutable afterwards, so
   threads may share it). */
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale_shared;

static void c_locale_init(void)
{
	c_locale_shared = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

size_t sl_double_format(double d, char *buf)
{
	pthread_once(&c_locale_once, c_locale_init);
	locale_t loc = c_locale_shared;
	if (!isfinite(d) || !loc) {
		/* without a locale, 17 digits always read back (in the C locale) */
		return (size_t)snprintf(buf, 32, "%.17g", d);
	}
	locale_t old = uselocale(loc);
	int n = 0;
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, 32, "%.*g", prec, d);
		if (strtod_l(buf, NULL, loc) == d)
			break;
	}
	uselocale(old);
	return (size_t)n;
}
