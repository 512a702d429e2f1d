/*
 * Schemas from YAML: parse with libfyaml, check everything a user can get
 * wrong, and build the immutable sl_schema. Also the type names (header
 * matching is in schema_header.c).
 *
 * Every error is "PATH:LINE:COL: what is wrong" at the YAML node at fault, so
 * a user can go straight to it. libfyaml (0.7) gives marks only for scalar
 * tokens, so the position of a mapping or sequence is derived from its first
 * scalar, moved back onto the opening '[', '{' or '-' when that is on the
 * same line; an empty collection or a missing value reports its key.
 *
 * The checks are strict on purpose: names are interpolated into SQL, and a
 * schema that loads is a promise about every row of a 10 GB file, so a typo
 * must fail here rather than be silently ignored (unknown keys are errors,
 * quoted numbers are not numbers, `yes` is not a boolean).
 */
#include <errno.h>
#include <libfyaml.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <locale.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "base/base.h"
#include "sluice/error.h"
#include "sluice/schema.h"
#include "schema/schema_int.h"


#define MAX_SCHEMA_BYTES (4u << 20) /* a schema is a few KB; refuse anything absurd */

static const char *const type_names[] = {"text", "integer",   "decimal", "boolean", "date",
                                         "time", "timestamp", "enum",    "float"};
#define TYPE_LIST "text, integer, float, decimal, boolean, date, time, timestamp, enum"

const char *sl_load_mode_name(sl_load_mode m)
{
	switch (m) {
	case SL_MODE_REPLACE:
		return "replace";
	case SL_MODE_ATOMIC:
		return "atomic";
	default:
		return "append";
	}
}

int sl_load_mode_parse(const char *name, sl_load_mode *out)
{
	if (!name || !*name || !strcmp(name, "append"))
		*out = SL_MODE_APPEND;
	else if (!strcmp(name, "replace"))
		*out = SL_MODE_REPLACE;
	else if (!strcmp(name, "atomic"))
		*out = SL_MODE_ATOMIC;
	else
		return SL_INVAL;
	return 0;
}

const char *sl_type_name(sl_type t)
{
	return (unsigned)t < SL_ARRAY_LEN(type_names) ? type_names[t] : "unknown";
}

/* --- columns ---------------------------------------------------------------- */

enum {
	C_NAME,
	C_SOURCE,
	C_TYPE,
	C_REQUIRED,
	C_INDEX,
	C_DESCRIPTION,
	C_MIN_LENGTH,
	C_MAX_LENGTH,
	C_PATTERN,
	C_ENUM,
	C_VALUES,
	C_MIN,
	C_MAX,
	C_PRECISION,
	C_SCALE,
	C_FORMAT,
	C_OPTIONAL,
	C_NULL,
	C_TRIM,
	C_ALLOW_SPECIAL,
	C_ROUND,
	C_TRUE_VALUES,
	C_FALSE_VALUES,
	C_COUNT
};
static const char *const column_keys[C_COUNT] = {
    "name",        "source",        "type",       "required",    "index",
    "description", "min_length",    "max_length", "pattern",     "enum",
    "values",      "min",           "max",        "precision",   "scale",
    "format",      "optional",      "null",       "trim",        "allow_special",
    "round",       "true_values",   "false_values"};

/* Which types each key applies to (bit per sl_type). */
#define T(t) (1u << SL_TYPE_##t)
static const unsigned key_types[C_COUNT] = {
    [C_MIN_LENGTH] = T(TEXT) | T(ENUM),
    [C_MAX_LENGTH] = T(TEXT) | T(ENUM),
    [C_PATTERN] = T(TEXT) | T(ENUM),
    [C_ENUM] = T(TEXT),
    [C_VALUES] = T(ENUM),
    [C_MIN] = T(INTEGER) | T(DECIMAL) | T(FLOAT),
    [C_MAX] = T(INTEGER) | T(DECIMAL) | T(FLOAT),
    [C_ALLOW_SPECIAL] = T(FLOAT),
    [C_ROUND] = T(DECIMAL),
    [C_TRUE_VALUES] = T(BOOLEAN),
    [C_FALSE_VALUES] = T(BOOLEAN),
    [C_PRECISION] = T(DECIMAL),
    [C_SCALE] = T(DECIMAL),
    [C_FORMAT] = T(DATE) | T(TIME) | T(TIMESTAMP),
};
#undef T

static const char *types_list(unsigned mask, char *buf, size_t cap)
{
	size_t o = 0;
	buf[0] = 0;
	for (unsigned t = 0; t < SL_ARRAY_LEN(type_names) && o < cap; t++)
		if (mask & (1u << t))
			o += (size_t)snprintf(buf + o, cap - o, "%s%s", o ? ", " : "",
			                      type_names[t]);
	return buf;
}

/* A decimal bound: a YAML number or a string, stored canonically. */
static int get_decimal_bound(struct ctx *x, struct fy_node *key, struct fy_node *n,
                             const sl_column *c, const char *what, char **out, sl__i128 *v)
{
	const char *t;
	size_t len;
	int rc = sl__yaml_get_text(x, key, n, what, &t, &len);
	if (rc)
		return rc;
	switch (sl__decimal_parse(t, len, c->precision, c->scale, v)) {
	case 0:
		break;
	case 2:
		return sl__yaml_fail(x, n, key, "%s %.40s has more decimal places than the scale %d", what,
		            t, c->scale);
	case 3:
		return sl__yaml_fail(x, n, key, "%s %.40s exceeds the precision %d,%d", what, t,
		            c->precision, c->scale);
	default:
		return sl__yaml_fail(x, n, key, "%s must be a decimal number like 12.50, not \"%.40s\"",
		            what, t);
	}
	char buf[64];
	sl__decimal_format(*v, c->scale, buf);
	if (!(*out = strdup(buf)))
		return SL_NOMEM;
	return 0;
}

/* A float bound: a finite number (YAML number or string), kept as written
   for messages. */
static int get_float_bound(struct ctx *x, struct fy_node *key, struct fy_node *n, const char *what,
                           char **text, double *out)
{
	const char *t;
	size_t len;
	int rc = sl__yaml_get_text(x, key, n, what, &t, &len);
	if (rc)
		return rc;
	locale_t loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (!loc)
		return SL_NOMEM;
	int r = sl__float_parse(t, len, loc, false, out);
	freelocale(loc);
	if (r)
		return sl__yaml_fail(x, n, key, "%s must be a finite number like 0.5 or 1e-3, not \"%.40s\"",
		            what, t);
	if (!(*text = strdup(t)))
		return SL_NOMEM;
	return 0;
}

static int parse_column(struct ctx *x, struct fy_node *n, size_t idx, sl_column *c)
{
	struct fy_node *k[C_COUNT], *v[C_COUNT];
	char where[48];
	int rc;
	snprintf(where, sizeof where, "columns[%zu]", idx);
	c->min_length = c->max_length = -1;
	if ((rc = sl__yaml_read_map(x, n, NULL, where, column_keys, C_COUNT, k, v)))
		return rc;
	struct pos p = sl__yaml_node_pos(x, n);
	c->yaml_line = p.line + 1;
	c->yaml_col = p.col + 1;

	if (!k[C_NAME])
		return sl__yaml_fail(x, n, NULL, "%s has no name", where);
	if ((rc = sl__yaml_get_ident(x, k[C_NAME], v[C_NAME], "column name", &c->name)))
		return rc;
	if (k[C_SOURCE]) {
		if ((rc = sl__yaml_dup_text(x, k[C_SOURCE], v[C_SOURCE], "source", &c->source)))
			return rc;
		if (!c->source[0])
			return sl__yaml_fail(x, v[C_SOURCE], k[C_SOURCE], "source is empty");
	} else if (!(c->source = strdup(c->name))) {
		return SL_NOMEM;
	}
	if (!k[C_TYPE])
		return sl__yaml_fail(x, n, NULL, "column '%s' has no type (one of: " TYPE_LIST ")", c->name);
	const char *tn;
	if ((rc = sl__yaml_get_text(x, k[C_TYPE], v[C_TYPE], "type", &tn, NULL)))
		return rc;
	size_t t;
	for (t = 0; t < SL_ARRAY_LEN(type_names); t++)
		if (strcmp(tn, type_names[t]) == 0)
			break;
	if (t == SL_ARRAY_LEN(type_names))
		return sl__yaml_fail(x, v[C_TYPE], k[C_TYPE], "unknown type '%.40s' (one of: " TYPE_LIST ")",
		            tn);
	c->type = (sl_type)t;

	for (size_t i = 0; i < C_COUNT; i++) {
		char buf[96];
		if (k[i] && key_types[i] && !(key_types[i] & (1u << c->type)))
			return sl__yaml_fail(x, k[i], NULL, "'%s' does not apply to %s columns (only to %s)",
			            column_keys[i], type_names[c->type],
			            types_list(key_types[i], buf, sizeof buf));
	}
	if (k[C_REQUIRED] &&
	    (rc = sl__yaml_get_bool(x, k[C_REQUIRED], v[C_REQUIRED], "required", &c->required)))
		return rc;
	if (k[C_INDEX] && (rc = sl__yaml_get_bool(x, k[C_INDEX], v[C_INDEX], "index", &c->index)))
		return rc;
	if (k[C_OPTIONAL] &&
	    (rc = sl__yaml_get_bool(x, k[C_OPTIONAL], v[C_OPTIONAL], "optional", &c->optional)))
		return rc;
	if (c->optional && c->required)
		return sl__yaml_fail(x, k[C_OPTIONAL], NULL,
		            "column '%s' is both optional (the file may lack it) and required "
		            "(never NULL): choose one",
		            c->name);
	c->trim = x->s->trim; /* the csv default, unless the column says */
	if (k[C_TRIM] && (rc = sl__yaml_get_bool(x, k[C_TRIM], v[C_TRIM], "trim", &c->trim)))
		return rc;
	if (k[C_NULL]) {
		if ((rc =
		         sl__yaml_get_strings(x, k[C_NULL], v[C_NULL], "null", true, &c->nulls, &c->nnulls)))
			return rc;
		c->has_nulls = true;
	}
	if (k[C_DESCRIPTION]) {
		const char *d;
		if ((rc = sl__yaml_get_text(x, k[C_DESCRIPTION], v[C_DESCRIPTION], "description", &d, NULL)))
			return rc;
	}

	/* text */
	if (k[C_MIN_LENGTH]) {
		if ((rc = sl__yaml_get_int(x, k[C_MIN_LENGTH], v[C_MIN_LENGTH], "min_length",
		                  &c->min_length)))
			return rc;
		if (c->min_length < 0)
			return sl__yaml_fail(x, v[C_MIN_LENGTH], NULL, "min_length must be 0 or more");
	}
	if (k[C_MAX_LENGTH]) {
		if ((rc = sl__yaml_get_int(x, k[C_MAX_LENGTH], v[C_MAX_LENGTH], "max_length",
		                  &c->max_length)))
			return rc;
		if (c->max_length < 0)
			return sl__yaml_fail(x, v[C_MAX_LENGTH], NULL, "max_length must be 0 or more");
		if (c->min_length > c->max_length)
			return sl__yaml_fail(x, v[C_MAX_LENGTH], NULL,
			            "min_length (%lld) is greater than max_length (%lld)",
			            (long long)c->min_length, (long long)c->max_length);
	}
	if (k[C_PATTERN]) {
		if ((rc = sl__yaml_dup_text(x, k[C_PATTERN], v[C_PATTERN], "pattern", &c->pattern)))
			return rc;
		char why[128];
		size_t off = 0;
		if (!(c->re = sl__pattern_compile(c->pattern, why, sizeof why, &off)))
			return sl__yaml_fail(
			    x, v[C_PATTERN], NULL,
			    "pattern does not compile (PCRE2): %s, at byte %zu of the pattern", why,
			    off);
	}
	int vi = c->type == SL_TYPE_ENUM ? C_VALUES : C_ENUM;
	if (c->type == SL_TYPE_ENUM && !k[C_VALUES])
		return sl__yaml_fail(x, n, NULL, "enum column '%s' needs values: [...]", c->name);
	if (k[vi]) {
		if ((rc = sl__yaml_get_strings(x, k[vi], v[vi], column_keys[vi], false, &c->values,
		                      &c->nvalues)))
			return rc;
		if (c->nvalues == 0)
			return sl__yaml_fail(x, v[vi], k[vi], "%s has no values", column_keys[vi]);
		void *it = NULL;
		struct fy_node *item;
		for (size_t i = 0; (item = fy_node_sequence_iterate(v[vi], &it)); i++)
			for (size_t j = 0; j < i; j++)
				if (strcmp(c->values[i], c->values[j]) == 0)
					return sl__yaml_fail(x, item, NULL, "value '%.40s' is listed twice",
					            c->values[i]);
	}

	/* decimal: precision and scale first, the bounds depend on them */
	if (c->type == SL_TYPE_DECIMAL) {
		int64_t pr = 0, sc = 0;
		if (!k[C_PRECISION])
			return sl__yaml_fail(x, n, NULL, "decimal column '%s' needs a precision (1 to 38)",
			            c->name);
		if ((rc = sl__yaml_get_int(x, k[C_PRECISION], v[C_PRECISION], "precision", &pr)))
			return rc;
		if (pr < 1 || pr > 38)
			return sl__yaml_fail(x, v[C_PRECISION], NULL, "precision must be 1 to 38, not %lld",
			            (long long)pr);
		if (k[C_SCALE] && (rc = sl__yaml_get_int(x, k[C_SCALE], v[C_SCALE], "scale", &sc)))
			return rc;
		if (sc < 0 || sc > pr)
			return sl__yaml_fail(x, v[C_SCALE], NULL,
			            "scale must be 0 to the precision (%lld), not %lld",
			            (long long)pr, (long long)sc);
		c->precision = (int)pr;
		c->scale = (int)sc;
		if (k[C_ROUND]) {
			static const char *const modes[] = {"exact", "half_even", "half_up"};
			const char *m;
			if ((rc = sl__yaml_get_text(x, k[C_ROUND], v[C_ROUND], "round", &m, NULL)))
				return rc;
			size_t r;
			for (r = 0; r < SL_ARRAY_LEN(modes); r++)
				if (strcmp(m, modes[r]) == 0)
					break;
			if (r == SL_ARRAY_LEN(modes))
				return sl__yaml_fail(
				    x, v[C_ROUND], k[C_ROUND],
				    "round must be exact, half_even or half_up, not '%.40s'", m);
			c->round = (sl_round)r;
		}
		sl__i128 lo = 0, hi = 0;
		if (k[C_MIN]) {
			if ((rc = get_decimal_bound(x, k[C_MIN], v[C_MIN], c, "min", &c->min_d,
			                            &lo)))
				return rc;
			c->has_min = true;
		}
		if (k[C_MAX]) {
			if ((rc = get_decimal_bound(x, k[C_MAX], v[C_MAX], c, "max", &c->max_d,
			                            &hi)))
				return rc;
			c->has_max = true;
		}
		if (c->has_min && c->has_max && lo > hi)
			return sl__yaml_fail(x, v[C_MAX], NULL, "min (%s) is greater than max (%s)",
			            c->min_d, c->max_d);
	}
	if (c->type == SL_TYPE_INTEGER) {
		if (k[C_MIN]) {
			if ((rc = sl__yaml_get_int(x, k[C_MIN], v[C_MIN], "min", &c->min_i)))
				return rc;
			c->has_min = true;
		}
		if (k[C_MAX]) {
			if ((rc = sl__yaml_get_int(x, k[C_MAX], v[C_MAX], "max", &c->max_i)))
				return rc;
			c->has_max = true;
		}
		if (c->has_min && c->has_max && c->min_i > c->max_i)
			return sl__yaml_fail(x, v[C_MAX], NULL, "min (%lld) is greater than max (%lld)",
			            (long long)c->min_i, (long long)c->max_i);
	}
	if (c->type == SL_TYPE_BOOLEAN && (k[C_TRUE_VALUES] || k[C_FALSE_VALUES])) {
		if (!k[C_TRUE_VALUES] || !k[C_FALSE_VALUES])
			return sl__yaml_fail(x, k[C_TRUE_VALUES] ? k[C_TRUE_VALUES] : k[C_FALSE_VALUES],
			            NULL,
			            "true_values and false_values go together (each replaces the "
			            "default spellings)");
		if ((rc = sl__yaml_get_strings(x, k[C_TRUE_VALUES], v[C_TRUE_VALUES], "true_values", true,
		                      &c->true_values, &c->ntrue)) ||
		    (rc = sl__yaml_get_strings(x, k[C_FALSE_VALUES], v[C_FALSE_VALUES], "false_values", true,
		                      &c->false_values, &c->nfalse)))
			return rc;
		if (!c->ntrue || !c->nfalse)
			return sl__yaml_fail(x, c->ntrue ? v[C_FALSE_VALUES] : v[C_TRUE_VALUES],
			            c->ntrue ? k[C_FALSE_VALUES] : k[C_TRUE_VALUES],
			            "the list of spellings is empty");
		for (size_t i = 0; i < c->ntrue; i++) {
			if (!c->true_values[i][0])
				return sl__yaml_fail(x, v[C_TRUE_VALUES], NULL,
				            "an empty spelling cannot be a boolean (it is NULL)");
			for (size_t j = 0; j < c->nfalse; j++)
				if (strcmp(c->true_values[i], c->false_values[j]) == 0)
					return sl__yaml_fail(x, v[C_FALSE_VALUES], NULL,
					            "'%.40s' is both a true and a false value",
					            c->false_values[j]);
		}
		for (size_t j = 0; j < c->nfalse; j++)
			if (!c->false_values[j][0])
				return sl__yaml_fail(x, v[C_FALSE_VALUES], NULL,
				            "an empty spelling cannot be a boolean (it is NULL)");
	}
	if (c->type == SL_TYPE_FLOAT) {
		if (k[C_ALLOW_SPECIAL] && (rc = sl__yaml_get_bool(x, k[C_ALLOW_SPECIAL], v[C_ALLOW_SPECIAL],
		                                         "allow_special", &c->allow_special)))
			return rc;
		if (k[C_MIN]) {
			if ((rc = get_float_bound(x, k[C_MIN], v[C_MIN], "min", &c->min_d,
			                          &c->min_f)))
				return rc;
			c->has_min = true;
		}
		if (k[C_MAX]) {
			if ((rc = get_float_bound(x, k[C_MAX], v[C_MAX], "max", &c->max_d,
			                          &c->max_f)))
				return rc;
			c->has_max = true;
		}
		if (c->has_min && c->has_max && c->min_f > c->max_f)
			return sl__yaml_fail(x, v[C_MAX], NULL, "min (%s) is greater than max (%s)",
			            c->min_d, c->max_d);
	}
	if (k[C_FORMAT]) {
		/* one format, or a list tried in order */
		if ((rc = sl__yaml_get_strings(x, k[C_FORMAT], v[C_FORMAT], "format", true, &c->formats,
		                      &c->nformats)))
			return rc;
		if (c->nformats == 0)
			return sl__yaml_fail(x, v[C_FORMAT], k[C_FORMAT], "format has no formats");
		bool list = fy_node_get_type(v[C_FORMAT]) == FYNT_SEQUENCE;
		for (size_t i = 0; i < c->nformats; i++) {
			/* checked spelled out (%F is %Y-%m-%d), named as written */
			char *full = sl__format_expand(c->formats[i]);
			if (!full)
				return SL_NOMEM;
			const char *why = sl__format_check(c->type, full);
			if (why) {
				free(full);
				return sl__yaml_fail(x,
				            list
				                ? fy_node_sequence_get_by_index(v[C_FORMAT], (int)i)
				                : v[C_FORMAT],
				            NULL, "format '%.40s': %s", c->formats[i], why);
			}
			free(c->formats[i]);
			c->formats[i] = full;
			for (size_t j = 0; j < i; j++)
				if (strcmp(c->formats[i], c->formats[j]) == 0)
					return sl__yaml_fail(
					    x, fy_node_sequence_get_by_index(v[C_FORMAT], (int)i),
					    NULL, "format '%.40s' is listed twice", c->formats[i]);
		}
		if (!(c->format = strdup(c->formats[0])))
			return SL_NOMEM;
	}
	return 0;
}

/* --- csv options ------------------------------------------------------------ */

enum {
	K_DELIMITER,
	K_QUOTE,
	K_ESCAPE,
	K_COMMENT,
	K_HEADER,
	K_NULL,
	K_LENIENT,
	K_UTF8,
	K_KEEP_EMPTY,
	K_MAX_ROW,
	K_NULL_PADDING,
	K_TRIM,
	K_SKIP_INITIAL_SPACE,
	K_COUNT
};
static const char *const csv_keys[K_COUNT] = {
    "delimiter", "quote",        "escape", "comment",           "header",
    "null",      "lenient",      "utf8",   "keep_empty_lines",  "max_row",
    "null_padding", "trim",      "skip_initial_space"};

/* One byte, or one of the words: tab (delimiter), none (quote, escape, comment). */
static int get_byte(struct ctx *x, struct fy_node *key, struct fy_node *n, const char *what,
                    bool none_ok, int *out)
{
	const char *t;
	size_t len;
	int rc = sl__yaml_get_text(x, key, n, what, &t, &len);
	if (rc)
		return rc;
	if (len == 1)
		*out = (unsigned char)t[0];
	else if (strcmp(t, "tab") == 0 || strcmp(t, "\\t") == 0)
		*out = '\t';
	else if (none_ok && strcmp(t, "none") == 0)
		*out = SL_CSV_NONE;
	else
		return sl__yaml_fail(x, n, key, "%s must be one byte%s, not \"%.40s\"", what,
		            none_ok ? ", \"tab\" or \"none\"" : " or \"tab\"", t);
	return 0;
}

static int parse_csv(struct ctx *x, struct fy_node *key, struct fy_node *n)
{
	sl_schema *s = x->s;
	struct fy_node *k[K_COUNT], *v[K_COUNT];
	int rc, b;
	if ((rc = sl__yaml_read_map(x, n, key, "csv", csv_keys, K_COUNT, k, v)))
		return rc;
	if (k[K_DELIMITER]) {
		/* 1 to 4 bytes ("||", ", "), or "tab" */
		const char *t;
		size_t len;
		if ((rc = sl__yaml_get_text(x, k[K_DELIMITER], v[K_DELIMITER], "delimiter", &t, &len)))
			return rc;
		if (strcmp(t, "tab") == 0 || strcmp(t, "\\t") == 0)
			t = "\t", len = 1;
		if (sl_csv_dialect_set_delimiter(&s->dialect, t, len) < 0)
			return sl__yaml_fail(x, v[K_DELIMITER], k[K_DELIMITER],
			            "delimiter must be 1 to 4 bytes or \"tab\", not \"%.40s\"", t);
	}
	if (k[K_QUOTE]) {
		if ((rc = get_byte(x, k[K_QUOTE], v[K_QUOTE], "quote", true, &b)))
			return rc;
		s->dialect.quote = b;
		s->dialect.escape = b; /* doubled quotes unless `escape` says otherwise */
	}
	if (k[K_ESCAPE]) {
		if ((rc = get_byte(x, k[K_ESCAPE], v[K_ESCAPE], "escape", true, &b)))
			return rc;
		s->dialect.escape = b;
	}
	if (k[K_COMMENT]) {
		if ((rc = get_byte(x, k[K_COMMENT], v[K_COMMENT], "comment", true, &b)))
			return rc;
		s->dialect.comment = b;
	}
	if (k[K_HEADER] &&
	    (rc = sl__yaml_get_bool(x, k[K_HEADER], v[K_HEADER], "header", &s->dialect.header)))
		return rc;
	if (k[K_LENIENT] &&
	    (rc = sl__yaml_get_bool(x, k[K_LENIENT], v[K_LENIENT], "lenient", &s->dialect.lenient_quotes)))
		return rc;
	s->dialect.lenient_fields = s->dialect.lenient_quotes; /* lenient: both, as --lenient */
	if (k[K_UTF8] &&
	    (rc = sl__yaml_get_bool(x, k[K_UTF8], v[K_UTF8], "utf8", &s->dialect.validate_utf8)))
		return rc;
	if (k[K_NULL_PADDING] && (rc = sl__yaml_get_bool(x, k[K_NULL_PADDING], v[K_NULL_PADDING],
	                                        "null_padding", &s->null_padding)))
		return rc;
	if (k[K_TRIM] && (rc = sl__yaml_get_bool(x, k[K_TRIM], v[K_TRIM], "trim", &s->trim)))
		return rc;
	if (k[K_SKIP_INITIAL_SPACE] &&
	    (rc = sl__yaml_get_bool(x, k[K_SKIP_INITIAL_SPACE], v[K_SKIP_INITIAL_SPACE],
	                   "skip_initial_space", &s->dialect.skip_initial_space)))
		return rc;
	if (k[K_KEEP_EMPTY]) {
		bool keep = false;
		if ((rc = sl__yaml_get_bool(x, k[K_KEEP_EMPTY], v[K_KEEP_EMPTY], "keep_empty_lines", &keep)))
			return rc;
		s->dialect.skip_empty_lines = !keep;
	}
	if (k[K_MAX_ROW]) {
		int64_t m;
		if ((rc = sl__yaml_get_int(x, k[K_MAX_ROW], v[K_MAX_ROW], "max_row", &m)))
			return rc;
		if (m < 64 || m > ((int64_t)1 << 31))
			return sl__yaml_fail(x, v[K_MAX_ROW], NULL,
			            "max_row must be between 64 and 2147483648 bytes");
		s->dialect.max_row_bytes = (size_t)m;
	}
	if (k[K_NULL]) {
		for (size_t i = 0; i < s->nnulls; i++)
			free(s->nulls[i]);
		free(s->nulls);
		s->nulls = NULL;
		s->nnulls = 0;
		if ((rc =
		         sl__yaml_get_strings(x, k[K_NULL], v[K_NULL], "null", true, &s->nulls, &s->nnulls)))
			return rc;
	}
	const char *why;
	if (sl_csv_dialect_check(&s->dialect, &why))
		return sl__yaml_fail(x, n, key, "csv: %s", why);
	return 0;
}

/* --- the document ----------------------------------------------------------- */

enum {
	S_NAME,
	S_TABLE,
	S_DESCRIPTION,
	S_KEY,
	S_ON_DUPLICATE,
	S_CSV,
	S_COLUMNS,
	S_LIMITS,
	S_EXTRA,
	S_MODE,
	S_DISTRIBUTION,
	S_COUNT
};
static const char *const top_keys[S_COUNT] = {"name",    "table",        "description",
                                              "key",     "on_duplicate", "csv",
                                              "columns", "limits",       "extra_columns",
                                              "mode",    "distribution"};

static int parse_limits(struct ctx *x, struct fy_node *key, struct fy_node *n)
{
	static const char *const keys[] = {"max_errors", "max_error_ratio"};
	struct fy_node *k[2], *v[2];
	int rc;
	if ((rc = sl__yaml_read_map(x, n, key, "limits", keys, 2, k, v)))
		return rc;
	if (k[0]) {
		int64_t m;
		if ((rc = sl__yaml_get_int(x, k[0], v[0], "max_errors", &m)))
			return rc;
		if (m < 0)
			return sl__yaml_fail(x, v[0], NULL, "max_errors must be 0 or more");
		x->s->max_errors = (uint64_t)m;
		x->s->has_max_errors = true;
	}
	if (k[1]) {
		double r = 0;
		if ((rc = sl__yaml_get_number(x, k[1], v[1], "max_error_ratio", &r)))
			return rc;
		if (!(r >= 0 && r <= 1))
			return sl__yaml_fail(x, v[1], NULL, "max_error_ratio must be between 0 and 1");
		x->s->max_error_ratio = r;
		x->s->has_max_error_ratio = true;
	}
	return 0;
}

static int parse_key(struct ctx *x, struct fy_node *key, struct fy_node *n)
{
	sl_schema *s = x->s;
	char **names = NULL;
	size_t count = 0;
	int rc = sl__yaml_get_strings(x, key, n, "key", true, &names, &count);
	if (rc)
		goto out;
	if (count == 0) {
		rc = sl__yaml_fail(x, n, key, "key is an empty list (leave `key` out for no key)");
		goto out;
	}
	if (!(s->key = calloc(count, sizeof *s->key))) {
		rc = SL_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		struct fy_node *item = n;
		if (fy_node_get_type(n) == FYNT_SEQUENCE)
			item = fy_node_sequence_get_by_index(n, (int)i);
		size_t c;
		for (c = 0; c < s->ncols; c++)
			if (strcmp(s->cols[c].name, names[i]) == 0)
				break;
		if (c == s->ncols) {
			rc = sl__yaml_fail(x, item, key, "key names unknown column '%.60s'", names[i]);
			goto out;
		}
		for (size_t j = 0; j < i; j++) {
			if (s->key[j] == c) {
				rc = sl__yaml_fail(x, item, key, "key lists column '%s' twice", names[i]);
				goto out;
			}
		}
		s->key[i] = c;
		s->nkey = i + 1;
	}
out:
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return rc;
}

static int parse_doc(struct ctx *x, struct fy_node *root)
{
	sl_schema *s = x->s;
	struct fy_node *k[S_COUNT], *v[S_COUNT];
	int rc;
	if ((rc = sl__yaml_no_aliases(x, root)))
		return rc;
	if ((rc = sl__yaml_read_map(x, root, NULL, "the schema", top_keys, S_COUNT, k, v)))
		return rc;
	if (!k[S_NAME])
		return sl__yaml_fail(x, root, NULL, "the schema has no name");
	if ((rc = sl__yaml_dup_text(x, k[S_NAME], v[S_NAME], "name", &s->name)))
		return rc;
	if (!s->name[0] || strlen(s->name) > MAX_IDENT ||
	    strspn(s->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.") !=
	        strlen(s->name))
		return sl__yaml_fail(x, v[S_NAME], k[S_NAME],
		            "name must be 1 to 63 letters, digits, '_', '-' or '.'");
	if (k[S_TABLE]) {
		if ((rc = sl__yaml_get_ident(x, k[S_TABLE], v[S_TABLE], "table", &s->table)))
			return rc;
	} else {
		if (sl__yaml_ident_problem(s->name))
			return sl__yaml_fail(x, root, NULL,
			            "the schema needs a table: (its name '%s' is not an SQL "
			            "identifier)",
			            s->name);
		if (!(s->table = strdup(s->name)))
			return SL_NOMEM;
	}
	if (k[S_DESCRIPTION]) {
		const char *d;
		if ((rc = sl__yaml_get_text(x, k[S_DESCRIPTION], v[S_DESCRIPTION], "description", &d, NULL)))
			return rc;
	}
	if (k[S_CSV] && (rc = parse_csv(x, k[S_CSV], v[S_CSV])))
		return rc;
	if (k[S_LIMITS] && (rc = parse_limits(x, k[S_LIMITS], v[S_LIMITS])))
		return rc;
	if (k[S_EXTRA]) {
		const char *t;
		if ((rc = sl__yaml_get_text(x, k[S_EXTRA], v[S_EXTRA], "extra_columns", &t, NULL)))
			return rc;
		if (strcmp(t, "reject") == 0)
			s->extra_reject = true;
		else if (strcmp(t, "ignore") == 0)
			s->extra_reject = false;
		else
			return sl__yaml_fail(x, v[S_EXTRA], NULL,
			            "extra_columns must be reject or ignore, not '%.40s'", t);
	}

	/* columns */
	struct fy_node *cols = v[S_COLUMNS];
	if (!k[S_COLUMNS])
		return sl__yaml_fail(x, root, NULL, "the schema has no columns");
	if (!cols || fy_node_get_type(cols) != FYNT_SEQUENCE)
		return sl__yaml_fail(x, cols, k[S_COLUMNS], "columns must be a list, not %s", sl__yaml_kind_of(cols));
	int nc = fy_node_sequence_item_count(cols);
	if (nc <= 0)
		return sl__yaml_fail(x, cols, k[S_COLUMNS], "columns is empty");
	if (!(s->cols = calloc((size_t)nc, sizeof *s->cols)))
		return SL_NOMEM;
	void *it = NULL;
	struct fy_node *cn;
	while ((cn = fy_node_sequence_iterate(cols, &it))) {
		size_t i = s->ncols++;
		if ((rc = parse_column(x, cn, i, &s->cols[i])))
			return rc;
		for (size_t j = 0; j < i; j++) {
			if (strcasecmp(s->cols[j].name, s->cols[i].name) == 0)
				return sl__yaml_fail(x, fy_node_mapping_lookup_by_string(cn, "name", 4), cn,
				            "duplicate column name '%s' (first at line %d; names "
				            "are compared without case, as SQL does)",
				            s->cols[i].name, s->cols[j].yaml_line);
			if (strcmp(s->cols[j].source, s->cols[i].source) == 0)
				return sl__yaml_fail(
				    x, cn, NULL,
				    "columns '%s' and '%s' read the same file column '%.60s'",
				    s->cols[j].name, s->cols[i].name, s->cols[i].source);
		}
	}

	if (k[S_KEY] && (rc = parse_key(x, k[S_KEY], v[S_KEY])))
		return rc;
	for (size_t i = 0; i < s->nkey; i++)
		if (s->cols[s->key[i]].optional)
			return sl__yaml_fail(x, v[S_KEY], k[S_KEY],
			            "key column '%s' cannot be optional (a row without its key "
			            "cannot be loaded once)",
			            s->cols[s->key[i]].name);
	if (k[S_ON_DUPLICATE]) {
		const char *t;
		if ((rc = sl__yaml_get_text(x, k[S_ON_DUPLICATE], v[S_ON_DUPLICATE], "on_duplicate", &t,
		                   NULL)))
			return rc;
		if (strcmp(t, "reject") == 0)
			s->on_duplicate = SL_DUP_REJECT;
		else if (strcmp(t, "ignore") == 0)
			s->on_duplicate = SL_DUP_IGNORE;
		else if (strcmp(t, "update") == 0)
			s->on_duplicate = SL_DUP_UPDATE;
		else
			return sl__yaml_fail(x, v[S_ON_DUPLICATE], NULL,
			            "on_duplicate must be reject, ignore or update, not '%.40s'",
			            t);
		if (s->nkey == 0 && s->on_duplicate != SL_DUP_REJECT)
			return sl__yaml_fail(x, v[S_ON_DUPLICATE], NULL,
			            "on_duplicate: %s needs a key (there is no `key:`)", t);
	}
	if (k[S_MODE]) {
		const char *t;
		if ((rc = sl__yaml_get_text(x, k[S_MODE], v[S_MODE], "mode", &t, NULL)))
			return rc;
		if (!*t || sl_load_mode_parse(t, &s->mode) < 0)
			return sl__yaml_fail(x, v[S_MODE], NULL,
			                     "mode must be append, replace or atomic, not '%.40s'", t);
	}
	/* after the key, which it is checked against */
	if (k[S_DISTRIBUTION] &&
	    (rc = sl__yaml_parse_distribution(x, k[S_DISTRIBUTION], v[S_DISTRIBUTION])))
		return rc;
	return 0;
}

int sl_schema_parse(const char *yaml, size_t len, const char *path, sl_schema **out, char *err,
                    size_t errlen)
{
	int rc = SL_NOMEM;
	struct fy_diag *diag = NULL;
	struct fy_document *doc = NULL;
	sl_schema *s = NULL;
	struct ctx x = {path ? path : "<schema>", yaml, len, err, errlen, NULL};
	*out = NULL;
	if (err && errlen)
		err[0] = 0;

	if (!(s = calloc(1, sizeof *s)))
		goto out;
	x.s = s;
	sl_csv_dialect_init(&s->dialect);
	if (!(s->path = strdup(x.path)) || !(s->nulls = calloc(1, sizeof *s->nulls)) ||
	    !(s->nulls[0] = strdup("")))
		goto out;
	s->nnulls = 1;
	s->hash = XXH3_64bits(yaml, len);

	/* A schema is UTF-8 text (YAML's own rule, bar the UTF-16/32 forms
	   nobody writes by hand). Checked before libfyaml sees it: libfyaml 0.7
	   loops forever on an invalid byte in a directive ("%\xff"), which
	   fuzz_schema found. */
	bool nul = false;
	size_t bad = sl_utf8_scan(yaml, len, true, NULL, &nul);
	if (bad) {
		size_t line = 1, col = 1;
		for (size_t i = 0; i + 1 < bad; i++, col++)
			if (yaml[i] == '\n' || (yaml[i] == '\r' && yaml[i + 1] != '\n'))
				line++, col = 0;
		rc = SL_CONFIG;
		sl__yaml_set_err(err, errlen, "%s:%zu:%zu: the schema is not UTF-8 text (%s at byte %zu)",
		        x.path, line, col, nul ? "a NUL byte" : "an invalid UTF-8 sequence",
		        bad - 1);
		goto out;
	}

	struct fy_diag_cfg dcfg;
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	if (!(diag = fy_diag_create(&dcfg)))
		goto out;
	fy_diag_set_collect_errors(diag, true); /* into our message, never to stderr */
	struct fy_parse_cfg pcfg;
	memset(&pcfg, 0, sizeof pcfg);
	pcfg.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG;
	pcfg.diag = diag;
	doc = fy_document_build_from_string(&pcfg, yaml, len);
	if (!doc || fy_diag_got_error(diag)) {
		void *it = NULL;
		struct fy_diag_error *e;
		rc = SL_CONFIG;
		while ((e = fy_diag_errors_iterate(diag, &it))) {
			if (e->type < FYET_ERROR)
				continue;
			/* diagnostics count lines and columns from 1 already */
			sl__yaml_set_err(err, errlen, "%s:%d:%d: invalid YAML: %s", x.path, e->line,
			        e->column, e->msg);
			goto out;
		}
		/* no diagnostic: libfyaml builds no document from empty input */
		sl__yaml_set_err(err, errlen, "%s:1:1: %s", x.path,
		        doc ? "invalid YAML" : "the schema is empty (no YAML document)");
		goto out;
	}
	struct fy_node *root = fy_document_root(doc);
	if (!root || sl__yaml_is_null(root)) {
		rc = SL_CONFIG;
		sl__yaml_set_err(err, errlen, "%s:1:1: the schema is empty", x.path);
		goto out;
	}
	if ((rc = parse_doc(&x, root)))
		goto out;
	*out = s;
	s = NULL;
out:
	if (rc == SL_NOMEM && err && errlen && !err[0])
		sl__yaml_set_err(err, errlen, "%s: out of memory", x.path);
	if (doc)
		fy_document_destroy(doc);
	if (diag)
		fy_diag_destroy(diag);
	sl_schema_free(s);
	return rc;
}

int sl_schema_load(const char *path, sl_schema **out, char *err, size_t errlen)
{
	int rc = SL_IO_OPEN;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "rb");
	*out = NULL;
	if (!f) {
		sl__yaml_set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		goto out;
	}
	if (!(buf = malloc(MAX_SCHEMA_BYTES + 1))) {
		rc = SL_NOMEM;
		sl__yaml_set_err(err, errlen, "%s: out of memory", path);
		goto out;
	}
	len = fread(buf, 1, MAX_SCHEMA_BYTES + 1, f);
	if (ferror(f)) {
		sl__yaml_set_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if (len > MAX_SCHEMA_BYTES) {
		rc = SL_CONFIG;
		sl__yaml_set_err(err, errlen, "%s:1:1: the schema is larger than 4 MiB", path);
		goto out;
	}
	rc = sl_schema_parse(buf, len, path, out, err, errlen);
out:
	if (f)
		fclose(f);
	free(buf);
	return rc;
}

void sl_schema_free(sl_schema *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ncols; i++) {
		sl_column *c = &s->cols[i];
		free(c->name);
		free(c->source);
		free(c->pattern);
		pcre2_code_free((pcre2_code *)c->re);
		free(c->min_d);
		free(c->max_d);
		free(c->format);
		for (size_t k = 0; k < c->nformats; k++)
			free(c->formats[k]);
		free(c->formats);
		for (size_t k = 0; k < c->ntrue; k++)
			free(c->true_values[k]);
		free(c->true_values);
		for (size_t k = 0; k < c->nfalse; k++)
			free(c->false_values[k]);
		free(c->false_values);
		for (size_t k = 0; k < c->nvalues; k++)
			free(c->values[k]);
		free(c->values);
		for (size_t k = 0; k < c->nnulls; k++)
			free(c->nulls[k]);
		free(c->nulls);
	}
	/* a column that failed half-way is counted in ncols, so nothing leaks */
	free(s->cols);
	free(s->key);
	for (size_t i = 0; i < s->nnulls; i++)
		free(s->nulls[i]);
	free(s->nulls);
	free(s->path);
	free(s->name);
	free(s->table);
	free(s);
}
