/*
 * Private to src/schema/: what its files share. The decimal, float, format
 * and pattern readers of schema_value.c (so that a schema's bounds and a
 * file's values are read the same way), and the YAML readers of
 * schema_yaml_read.c that the grammar in schema_yaml.c is written with.
 */
#ifndef SLUICE_SCHEMA_INT_H
#define SLUICE_SCHEMA_INT_H

#include <libfyaml.h>
#include <locale.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/schema.h"

#define MAX_IDENT 63 /* PostgreSQL's identifier limit (tables, columns) */

__extension__ typedef __int128 sl__i128;

/* schema_value.c */
int sl__decimal_parse(const char *p, size_t n, int precision, int scale, sl__i128 *out);
size_t sl__decimal_format(sl__i128 v, int scale, char *buf);
const char *sl__format_check(sl_type t, const char *fmt);
char *sl__format_expand(const char *fmt);
void *sl__pattern_compile(const char *pattern, char *why, size_t whylen, size_t *offset);
int sl__float_parse(const char *p, size_t n, locale_t loc, bool allow_special, double *out);
int sl__decimal_parse_round(const char *p, size_t n, int precision, int scale, sl_round mode,
                            sl__i128 *out);

/* schema_yaml_read.c: the parse of one schema file */
struct ctx {
	const char *path;
	const char *text;
	size_t len;
	char *err;
	size_t errlen;
	sl_schema *s;
};

struct pos {
	bool ok;
	size_t off;
	int line, col; /* 0-based */
};

struct pos sl__yaml_node_pos(const struct ctx *x, struct fy_node *n);
int sl__yaml_fail(struct ctx *x, struct fy_node *n, struct fy_node *fallback, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void sl__yaml_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool sl__yaml_is_null(struct fy_node *n);
const char *sl__yaml_kind_of(struct fy_node *n);
int sl__yaml_get_text(struct ctx *x, struct fy_node *key, struct fy_node *n, const char *what,
                      const char **out, size_t *lenp);
int sl__yaml_dup_text(struct ctx *x, struct fy_node *key, struct fy_node *n, const char *what,
                      char **out);
int sl__yaml_get_bool(struct ctx *x, struct fy_node *key, struct fy_node *n, const char *what,
                      bool *out);
int sl__yaml_get_int(struct ctx *x, struct fy_node *key, struct fy_node *n, const char *what,
                     int64_t *out);
int sl__yaml_get_number(struct ctx *x, struct fy_node *key, struct fy_node *n, const char *what,
                        double *out);
int sl__yaml_get_strings(struct ctx *x, struct fy_node *key, struct fy_node *n, const char *what,
                         bool allow_scalar, char ***out, size_t *count);
int sl__yaml_read_map(struct ctx *x, struct fy_node *map, struct fy_node *fallback,
                      const char *where, const char *const *allowed, size_t nallowed,
                      struct fy_node **keys, struct fy_node **vals);
int sl__yaml_no_aliases(struct ctx *x, struct fy_node *n);
const char *sl__yaml_ident_problem(const char *s);
int sl__yaml_get_ident(struct ctx *x, struct fy_node *key, struct fy_node *n, const char *what,
                       char **out);

/* schema_dist.c: `distribution:` (read after the columns and the key) */
int sl__yaml_parse_distribution(struct ctx *x, struct fy_node *key, struct fy_node *n);

#endif
