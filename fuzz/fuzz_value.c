/*
 * libFuzzer harness for value conversion (sl_value_convert, the public entry
 * of src/schema/schema_value.c). The first input byte picks a column (a
 * type, a format, bounds) from a fixed schema; the rest is the field. The
 * field lives in a heap block of exactly its size and the output buffer in
 * one of exactly the documented size, so ASan catches a read past the view
 * or a write past the buffer. Beyond not crashing, the harness checks what
 * must hold whatever the input:
 *
 *   - a failure is a VAL_* code with a NUL-terminated, non-empty message;
 *   - a success's text points into the field or into the output buffer,
 *     within what *used says was written;
 *   - canonical forms are fixed points: the stored text of a decimal, date,
 *     time or timestamp, converted again by the same type's ISO column (no
 *     format, no bounds), gives back the same text; an integer printed and
 *     converted again gives the same number; a boolean is 0 or 1;
 *   - text lengths are code points: a text column with length bounds
 *     accepts exactly the valid UTF-8 fields whose code point count
 *     (counted here, independently) is within them.
 *
 * A new type (or date directive) gets a row in `cols` below and, if it has
 * a canonical text, a row in `canon` at the same index.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/error.h"
#include "sluice/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* column i of `cols` and of `canon` have the same type; `canon` is the
   ISO / unbounded form its canonical text must convert back under */
static const char cols[] =
    "name: f\ntable: f\ncolumns:\n"
    "  - {name: t, type: text, min_length: 2, max_length: 5}\n"
    "  - {name: i, type: integer}\n"
    "  - {name: ib, type: integer, min: -1000, max: 1000}\n"
    "  - {name: d, type: decimal, precision: 18, scale: 3}\n"
    "  - {name: d0, type: decimal, precision: 38, scale: 0}\n"
    "  - {name: d38, type: decimal, precision: 38, scale: 12, min: -5, max: 1000}\n"
    "  - {name: b, type: boolean}\n"
    "  - {name: da, type: date}\n"
    "  - {name: db, type: date, format: '%d/%m/%Y'}\n"
    "  - {name: dc, type: date, format: '%d %b %y'}\n"
    "  - {name: dd, type: date, format: '%Y%m%d'}\n"
    "  - {name: ta, type: time}\n"
    "  - {name: tb, type: time, format: '%H%M'}\n"
    "  - {name: tc, type: time, format: '%H:%M:%S.%f'}\n"
    "  - {name: sa, type: timestamp}\n"
    "  - {name: sb, type: timestamp, format: '%d/%m/%Y %H:%M:%S %z'}\n"
    "  - {name: sc, type: timestamp, format: '%Y-%m-%dT%H:%M:%S.%f%z'}\n"
    "  - {name: e, type: enum, values: [GBP, EUR, \"\\u00e9t\\u00e9\"]}\n"
    "  - {name: f, type: float}\n"
    "  - {name: fs, type: float, allow_special: true, min: -1e6, max: 1e6}\n"
    "  - {name: dr, type: decimal, precision: 10, scale: 2, round: half_even}\n"
    "  - {name: by, type: boolean, true_values: [Yes, Y], false_values: [No, N]}\n"
    "  - {name: dl, type: date, format: ['%Y-%m-%d', '%d %B %Y', '%j/%y']}\n";
static const char canon[] = "name: c\ntable: c\ncolumns:\n"
                            "  - {name: t, type: text}\n"
                            "  - {name: i, type: integer}\n"
                            "  - {name: ib, type: integer}\n"
                            "  - {name: d, type: decimal, precision: 18, scale: 3}\n"
                            "  - {name: d0, type: decimal, precision: 38, scale: 0}\n"
                            "  - {name: d38, type: decimal, precision: 38, scale: 12}\n"
                            "  - {name: b, type: boolean}\n"
                            "  - {name: da, type: date}\n"
                            "  - {name: db, type: date}\n"
                            "  - {name: dc, type: date}\n"
                            "  - {name: dd, type: date}\n"
                            "  - {name: ta, type: time}\n"
                            "  - {name: tb, type: time}\n"
                            "  - {name: tc, type: time}\n"
                            "  - {name: sa, type: timestamp}\n"
                            "  - {name: sb, type: timestamp}\n"
                            "  - {name: sc, type: timestamp}\n"
                            "  - {name: e, type: enum, values: [GBP, EUR, \"\\u00e9t\\u00e9\"]}\n"
                            "  - {name: f, type: float}\n"
                            "  - {name: fs, type: float, allow_special: true}\n"
                            "  - {name: dr, type: decimal, precision: 10, scale: 2}\n"
                            "  - {name: by, type: boolean}\n"
                            "  - {name: dl, type: date}\n";

static sl_schema *s_cols, *s_canon;
static sl_validator *v_cols, *v_canon;

static sl_validator *load(const char *yaml, sl_schema **s)
{
	char err[512] = "";
	sl_validator *v = NULL;
	if (sl_schema_parse(yaml, strlen(yaml), "fuzz.yaml", s, err, sizeof err) ||
	    sl_validator_new(*s, &v)) {
		fprintf(stderr, "fuzz_value: the harness's schema does not load: %s\n", err);
		abort();
	}
	return v;
}

static void check(int cond, const char *what, const uint8_t *f, size_t n)
{
	if (cond)
		return;
	fprintf(stderr, "fuzz_value: %s; field (%zu bytes): \"", what, n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, f[i] >= 0x20 && f[i] < 0x7f ? "%c" : "\\x%02x", f[i]);
	fprintf(stderr, "\"\n");
	abort();
}

/* Code points of valid UTF-8 (RFC 3629), or -1: a second counter, written
   from the RFC's table, not the library's scanner. */
static long utf8_cps(const uint8_t *p, size_t n)
{
	long cps = 0;
	for (size_t i = 0; i < n; cps++) {
		uint8_t c = p[i];
		size_t len = c < 0x80         ? 1
		             : (c >> 5) == 6  ? 2
		             : (c >> 4) == 14 ? 3
		             : (c >> 3) == 30 ? 4
		                              : 0;
		if (!len || i + len > n)
			return -1;
		uint32_t cp = len == 1 ? c : c & (0x7f >> len);
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return -1;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		i += len;
	}
	return cps;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!v_cols) {
		v_cols = load(cols, &s_cols);
		v_canon = load(canon, &s_canon);
		if (s_cols->ncols != s_canon->ncols)
			abort();
	}
	if (size < 1)
		return 0;
	size_t col = data[0] % s_cols->ncols;
	const sl_column *c = &s_cols->cols[col];
	size_t n = size - 1;
	uint8_t *f = malloc(n ? n : 1);
	char *buf = malloc(n + 64);
	char msg[256];
	if (!f || !buf)
		abort();
	memcpy(f, data + 1, n);
	sl_str field = sl_str_make((const char *)f, n);
	sl_value v;
	size_t used = 99999;
	memset(msg, 'x', sizeof msg);
	int rc = sl_value_convert(v_cols, col, &field, &v, buf, &used, msg, sizeof msg);
	if (rc) {
		check(rc == SL_VAL_TYPE || rc == SL_VAL_RANGE || rc == SL_VAL_LENGTH ||
		          rc == SL_VAL_ENUM,
		      "a failure that is not a value code", f, n);
		check(memchr(msg, 0, sizeof msg) && msg[0], "a failure without a message", f, n);
	}
	long cps = utf8_cps(f, n);
	if (c->type == SL_TYPE_TEXT && n) {
		/* t: 2..5 code points of valid UTF-8 without NUL; anything else
		   is VAL_TYPE, a count outside the bounds VAL_LENGTH */
		bool text = cps >= 0 && !memchr(f, 0, n);
		int want = !text ? SL_VAL_TYPE : (cps >= 2 && cps <= 5) ? 0 : SL_VAL_LENGTH;
		check(rc == want, "a text judged otherwise than its code points say", f, n);
	}
	if (rc || n == 0)
		goto out;
	check(used <= n + 64, "*used beyond the output buffer", f, n);
	if (v.kind == SL_VALUE_TEXT) {
		const char *p = v.s.p;
		bool in_field = p >= (const char *)f && p + v.s.n <= (const char *)f + n;
		bool in_buf = p >= buf && p + v.s.n <= buf + used;
		check(in_field || in_buf, "a text value outside the field and the buffer", f, n);
		/* the canonical text is a fixed point of its type's ISO column */
		char *again = malloc(v.s.n + 64);
		uint8_t *copy = malloc(v.s.n ? v.s.n : 1);
		if (!again || !copy)
			abort();
		memcpy(copy, v.s.p, v.s.n);
		sl_str f2 = sl_str_make((const char *)copy, v.s.n);
		sl_value v2;
		size_t used2;
		int rc2 = sl_value_convert(v_canon, col, &f2, &v2, again, &used2, msg, sizeof msg);
		check(rc2 == 0, msg, f, n);
		check(v2.kind == SL_VALUE_TEXT && sl_str_eq(v.s, v2.s),
		      "the canonical text does not convert back to itself", f, n);
		if (c->type == SL_TYPE_DATE)
			check(v.s.n == 10, "a date that is not YYYY-MM-DD", f, n);
		free(again);
		free(copy);
	} else if (v.kind == SL_VALUE_INT) {
		if (c->type == SL_TYPE_BOOLEAN) {
			check(v.i == 0 || v.i == 1, "a boolean that is neither 0 nor 1", f, n);
		} else {
			char t[32];
			int tn = snprintf(t, sizeof t, "%lld", (long long)v.i);
			sl_str f2 = sl_str_make(t, (size_t)tn);
			sl_value v2;
			size_t used2;
			char again[32 + 64];
			check(sl_value_convert(v_canon, col, &f2, &v2, again, &used2, msg,
			                       sizeof msg) == 0 &&
			          v2.kind == SL_VALUE_INT && v2.i == v.i,
			      "an integer that does not convert back to itself", f, n);
			if (c->has_min)
				check(v.i >= c->min_i && v.i <= c->max_i,
				      "an integer out of bounds", f, n);
		}
	} else if (v.kind == SL_VALUE_REAL) {
		/* floats, and decimals of precision up to 15 (the double nearest the value) */
		check(c->type == SL_TYPE_FLOAT || (c->type == SL_TYPE_DECIMAL && c->precision <= 15),
		      "a REAL value for a column that is not stored as REAL", f, n);
		if (c->type == SL_TYPE_DECIMAL || !c->allow_special)
			check(isfinite(v.d), "an infinite or NaN value without allow_special", f, n);
		if (c->type == SL_TYPE_FLOAT && !isnan(v.d) && c->has_min)
			check(v.d >= c->min_f, "a float below its min", f, n);
		if (c->type == SL_TYPE_FLOAT && !isnan(v.d) && c->has_max)
			check(v.d <= c->max_f, "a float above its max", f, n);
	} else {
		check(0, "a non-empty field converted to NULL", f, n);
	}
out:
	free(f);
	free(buf);
	return 0;
}
