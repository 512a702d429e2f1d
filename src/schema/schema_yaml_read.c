/*
 * Reading a schema's YAML nodes: the parse context, the position of a node
 * (libfyaml marks only scalar tokens), the first error with PATH:LINE:COL,
 * and the typed readers the grammar (schema_yaml.c) is written with: text,
 * booleans, integers, numbers, lists of strings, mappings with a fixed set
 * of keys, no aliases, and SQL identifiers. Strict on purpose: quoted
 * numbers are not numbers and `yes` is not a boolean.
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

/* --- context and messages -------------------------------------------------- */



/* Moves a collection's position back onto its opener on the same line. */
static struct pos back_to(const struct ctx *x, struct pos p, char opener)
{
	size_t i = p.off;
	int col = p.col;
	if (!p.ok || i > x->len)
		return p;
	while (i > 0 && col > 0 && (x->text[i - 1] == ' ' || x->text[i - 1] == '\t')) {
		i--;
		col--;
	}
	if (i > 0 && col > 0 && x->text[i - 1] == opener) {
		p.off = i - 1;
		p.col = col - 1;
	}
	return p;
}

struct pos sl__yaml_node_pos(const struct ctx *x, struct fy_node *n)
{
	struct pos p = {false, 0, 0, 0};
	if (!n)
		return p;
	switch (fy_node_get_type(n)) {
	case FYNT_SCALAR: {
		struct fy_token *t = fy_node_get_scalar_token(n);
		const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
		if (!m)
			return p;
		p = (struct pos){true, m->input_pos, m->line, m->column};
		enum fy_node_style st = fy_node_get_style(n);
		/* the token starts after the opening quote: report the quote */
		if (st == FYNS_SINGLE_QUOTED)
			p = back_to(x, p, '\'');
		else if (st == FYNS_DOUBLE_QUOTED)
			p = back_to(x, p, '"');
		else if (st == FYNS_ALIAS)
			p = back_to(x, p, '*');
		return p;
	}
	case FYNT_SEQUENCE: {
		void *it = NULL;
		p = sl__yaml_node_pos(x, fy_node_sequence_iterate(n, &it));
		return back_to(x, p, fy_node_get_style(n) == FYNS_FLOW ? '[' : '-');
	}
	case FYNT_MAPPING: {
		void *it = NULL;
		struct fy_node_pair *pr = fy_node_mapping_iterate(n, &it);
		p = sl__yaml_node_pos(x, pr ? fy_node_pair_key(pr) : NULL);
		if (fy_node_get_style(n) == FYNS_FLOW)
			p = back_to(x, p, '{');
		return p;
	}
	}
	return p;
}


/* Records the first error only: later ones are usually consequences. */
int sl__yaml_fail(struct ctx *x, struct fy_node *n, struct fy_node *fallback, const char *fmt, ...)
{
	if (!x->err || !x->errlen || x->err[0])
		return SL_CONFIG;
	struct pos p = sl__yaml_node_pos(x, n);
	if (!p.ok) {
		p = sl__yaml_node_pos(x, fallback);
		/* an empty [] or {} has no token: find it after its key's colon */
		if (p.ok && n && fy_node_get_type(n) != FYNT_SCALAR) {
			size_t i = p.off;
			int col = p.col;
			while (i < x->len && x->text[i] != ':' && x->text[i] != '\n')
				i++, col++;
			if (i < x->len && x->text[i] == ':') {
				for (i++, col++; i < x->len && x->text[i] == ' '; i++)
					col++;
				if (i < x->len && (x->text[i] == '[' || x->text[i] == '{'))
					p.off = i, p.col = col;
			}
		}
	}
	if (!p.ok)
		p = (struct pos){true, 0, 0, 0};
	int w = snprintf(x->err, x->errlen, "%s:%d:%d: ", x->path, p.line + 1, p.col + 1);
	if (w >= 0 && (size_t)w < x->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(x->err + w, x->errlen - (size_t)w, fmt, ap);
		va_end(ap);
	}
	return SL_CONFIG;
}


void sl__yaml_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* --- reading scalars -------------------------------------------------------- */

static bool is_plain(struct fy_node *n)
{
	return n && fy_node_get_type(n) == FYNT_SCALAR && fy_node_get_style(n) == FYNS_PLAIN;
}

static bool plain_is(struct fy_node *n, const char *const *words)
{
	size_t len;
	const char *t;
	if (!is_plain(n) || !(t = fy_node_get_scalar(n, &len)))
		return false;
	for (; *words; words++)
		if (strlen(*words) == len && memcmp(*words, t, len) == 0)
			return true;
	return false;
}

/* A YAML null: no value at all, or plain ~ / null / empty. */
bool sl__yaml_is_null(struct fy_node *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	return !n || plain_is(n, nulls);
}

const char *sl__yaml_kind_of(struct fy_node *n)
{
	if (sl__yaml_is_null(n))
		return "nothing (a YAML null)";
	switch (fy_node_get_type(n)) {
	case FYNT_SEQUENCE:
		return "a list";
	case FYNT_MAPPING:
		return "a mapping";
	default:
		return "a scalar";
	}
}

/* Any non-null scalar, as a NUL-terminated view owned by the document. */
int sl__yaml_get_text(struct ctx *x, struct fy_node *key, struct fy_node *n, const char *what,
                    const char **out, size_t *lenp)
{
	size_t len;
	const char *t;
	if (sl__yaml_is_null(n) || fy_node_get_type(n) != FYNT_SCALAR)
		return sl__yaml_fail(x, n, key, "%s must be a string, not %s", what, sl__yaml_kind_of(n));
	if (!(t = fy_node_get_scalar0(n)) || !fy_node_get_scalar(n, &len))
		return SL_NOMEM;
	if (memchr(t, 0, len))
		return sl__yaml_fail(x, n, key, "%s contains a NUL character", what);
	*out = t;
	if (lenp)
		*lenp = len;
	return 0;
}

int sl__yaml_dup_text(struct ctx *x, struct fy_node *key, struct fy_node *n, const char *what,
                    char **out)
{
	const char *t;
	int rc = sl__yaml_get_text(x, key, n, what, &t, NULL);
	if (rc)
		return rc;
	if (!(*out = strdup(t)))
		return SL_NOMEM;
	return 0;
}

int sl__yaml_get_bool(struct ctx *x, struct fy_node *key, struct fy_node *n, const char *what,
                    bool *out)
{
	static const char *const t[] = {"true", "True", "TRUE", NULL};
	static const char *const f[] = {"false", "False", "FALSE", NULL};
	if (plain_is(n, t))
		*out = true;
	else if (plain_is(n, f))
		*out = false;
	else
		return sl__yaml_fail(x, n, key, "%s must be true or false", what);
	return 0;
}

/* A plain integer scalar that fits int64. */
int sl__yaml_get_int(struct ctx *x, struct fy_node *key, struct fy_node *n, const char *what,
                   int64_t *out)
{
	size_t len;
	const char *t = is_plain(n) && !sl__yaml_is_null(n) ? fy_node_get_scalar(n, &len) : NULL;
	if (!t)
		return sl__yaml_fail(x, n, key, "%s must be an integer, not %s", what,
		            is_plain(n)                               ? sl__yaml_kind_of(n)
		            : n && fy_node_get_type(n) == FYNT_SCALAR ? "a quoted string"
		                                                      : sl__yaml_kind_of(n));
	size_t i = (len && (t[0] == '-' || t[0] == '+')) ? 1 : 0;
	bool neg = len && t[0] == '-';
	if (i == len)
		return sl__yaml_fail(x, n, key, "%s must be an integer", what);
	uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		unsigned d = (unsigned char)t[i] - '0';
		if (d > 9)
			return sl__yaml_fail(x, n, key, "%s must be an integer, not \"%.*s\"", what,
			            (int)(len > 40 ? 40 : len), t);
		if (v > (lim - d) / 10)
			return sl__yaml_fail(x, n, key, "%s does not fit in a 64-bit integer", what);
		v = v * 10 + d;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* A plain number (digits with an optional fraction), as a double: only
   max_error_ratio uses it, where binary floating point is harmless. */
int sl__yaml_get_number(struct ctx *x, struct fy_node *key, struct fy_node *n, const char *what,
                      double *out)
{
	size_t len;
	const char *t = is_plain(n) && !sl__yaml_is_null(n) ? fy_node_get_scalar0(n) : NULL;
	if (!t || !fy_node_get_scalar(n, &len))
		return sl__yaml_fail(x, n, key, "%s must be a number, not %s", what,
		            n && fy_node_get_type(n) == FYNT_SCALAR && !sl__yaml_is_null(n)
		                ? "a quoted string"
		                : sl__yaml_kind_of(n));
	size_t i = 0, nd = 0;
	while (i < len && t[i] >= '0' && t[i] <= '9')
		i++, nd++;
	if (i < len && t[i] == '.')
		for (i++; i < len && t[i] >= '0' && t[i] <= '9'; i++)
			nd++;
	if (i != len || nd == 0)
		return sl__yaml_fail(x, n, key, "%s must be a number like 0.05, not \"%.*s\"", what,
		            (int)(len > 40 ? 40 : len), t);
	*out = strtod(t, NULL);
	return 0;
}

/* A list of strings (or one string, read as a list of one). */
int sl__yaml_get_strings(struct ctx *x, struct fy_node *key, struct fy_node *n, const char *what,
                       bool allow_scalar, char ***out, size_t *count)
{
	int rc = 0;
	if (n && allow_scalar && fy_node_get_type(n) == FYNT_SCALAR && !sl__yaml_is_null(n)) {
		if (!(*out = calloc(1, sizeof **out)))
			return SL_NOMEM;
		*count = 1;
		return sl__yaml_dup_text(x, key, n, what, &(*out)[0]);
	}
	if (!n || fy_node_get_type(n) != FYNT_SEQUENCE)
		return sl__yaml_fail(x, n, key, "%s must be a list of strings, not %s", what, sl__yaml_kind_of(n));
	int cnt = fy_node_sequence_item_count(n);
	if (!(*out = calloc(cnt > 0 ? (size_t)cnt : 1, sizeof **out)))
		return SL_NOMEM;
	void *it = NULL;
	struct fy_node *item;
	*count = 0;
	while ((item = fy_node_sequence_iterate(n, &it))) {
		if ((rc = sl__yaml_dup_text(x, n, item, what, &(*out)[*count])))
			return rc;
		(*count)++;
	}
	return 0;
}

/* --- mappings with a fixed set of keys -------------------------------------- */

/* Fills vals[i] / keys[i] for each allowed key present; an unknown key is an
   error that lists the allowed ones. */
int sl__yaml_read_map(struct ctx *x, struct fy_node *map, struct fy_node *fallback, const char *where,
                    const char *const *allowed, size_t nallowed, struct fy_node **keys,
                    struct fy_node **vals)
{
	for (size_t i = 0; i < nallowed; i++)
		keys[i] = vals[i] = NULL;
	if (!map || fy_node_get_type(map) != FYNT_MAPPING)
		return sl__yaml_fail(x, map, fallback, "%s must be a mapping, not %s", where, sl__yaml_kind_of(map));
	void *it = NULL;
	struct fy_node_pair *pr;
	while ((pr = fy_node_mapping_iterate(map, &it))) {
		struct fy_node *k = fy_node_pair_key(pr);
		size_t len;
		const char *t =
		    k && fy_node_get_type(k) == FYNT_SCALAR ? fy_node_get_scalar(k, &len) : NULL;
		if (!t)
			return sl__yaml_fail(x, k, map, "%s: keys must be plain names", where);
		size_t i;
		for (i = 0; i < nallowed; i++)
			if (strlen(allowed[i]) == len && memcmp(allowed[i], t, len) == 0)
				break;
		if (i == nallowed) {
			char list[512];
			size_t o = 0;
			list[0] = 0;
			for (size_t j = 0; j < nallowed && o < sizeof list; j++)
				o += (size_t)snprintf(list + o, sizeof list - o, "%s%s",
				                      j ? ", " : "", allowed[j]);
			return sl__yaml_fail(x, k, map, "unknown key '%.*s' in %s (allowed: %s)",
			            (int)(len > 60 ? 60 : len), t, where, list);
		}
		keys[i] = k;
		vals[i] = fy_node_pair_value(pr);
	}
	return 0;
}

/* Rejects anchors' aliases anywhere: a schema is short, and an alias would
   give one node several positions. */
int sl__yaml_no_aliases(struct ctx *x, struct fy_node *n)
{
	if (!n)
		return 0;
	switch (fy_node_get_type(n)) {
	case FYNT_SCALAR:
		if (fy_node_get_style(n) == FYNS_ALIAS)
			return sl__yaml_fail(x, n, NULL,
			            "YAML aliases (*name) are not supported in schemas");
		return 0;
	case FYNT_SEQUENCE: {
		void *it = NULL;
		struct fy_node *c;
		while ((c = fy_node_sequence_iterate(n, &it)))
			if (sl__yaml_no_aliases(x, c))
				return SL_CONFIG;
		return 0;
	}
	case FYNT_MAPPING: {
		void *it = NULL;
		struct fy_node_pair *pr;
		while ((pr = fy_node_mapping_iterate(n, &it)))
			if (sl__yaml_no_aliases(x, fy_node_pair_key(pr)) ||
			    sl__yaml_no_aliases(x, fy_node_pair_value(pr)))
				return SL_CONFIG;
		return 0;
	}
	}
	return 0;
}

/* --- names ------------------------------------------------------------------ */

/* NULL when `s` is a name we accept for a table or column, else why not. */
const char *sl__yaml_ident_problem(const char *s)
{
	size_t n = strlen(s);
	if (n == 0)
		return "is empty";
	if (n > MAX_IDENT)
		return "is longer than 63 characters";
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return "must start with a letter or '_'";
	for (size_t i = 1; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return "may hold only letters, digits and '_'";
	}
	if (strncasecmp(s, "sluice_", 7) == 0)
		return "must not start with 'sluice_' (reserved for sluice's own tables and "
		       "columns)";
	return NULL;
}

int sl__yaml_get_ident(struct ctx *x, struct fy_node *key, struct fy_node *n, const char *what,
                     char **out)
{
	int rc = sl__yaml_dup_text(x, key, n, what, out);
	if (rc)
		return rc;
	const char *why = sl__yaml_ident_problem(*out);
	if (why)
		return sl__yaml_fail(x, n, key,
		            "%s '%.70s' %s (names are SQL identifiers: [A-Za-z_][A-Za-z0-9_]*, at "
		            "most 63 characters)",
		            what, *out, why);
	return 0;
}
