/*
 * libFuzzer harness for the YAML schema loader (sl_schema_parse, the public
 * entry of src/schema/schema_yaml.c). The input is the YAML text, in a heap
 * block of exactly its size (ASan catches a read past it). Whatever the
 * input, the loader must either refuse it with SL_CONFIG (or SL_NOMEM) and a
 * message of the documented form "PATH:LINE:COL: ..." whose line lies within
 * the input, with no schema handed out; or hand out a schema whose
 * invariants hold: named, at least one column, unique column names, every
 * key index a column, decimal precision and scale in range, bounds in order,
 * a validator can be made for it, and its own header maps with every column
 * found. Leaks show under ASan (LeakSanitizer) at the end of a run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/error.h"
#include "sluice/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what, const char *detail)
{
	if (cond)
		return;
	fprintf(stderr, "fuzz_schema: %s (%s)\n", what, detail ? detail : "");
	abort();
}

static void check_schema(const sl_schema *s)
{
	check(s->name && s->name[0] && s->table && s->table[0], "a schema without name or table",
	      s->name);
	check(s->ncols > 0 && s->cols, "a schema without columns", s->name);
	for (size_t i = 0; i < s->ncols; i++) {
		const sl_column *c = &s->cols[i];
		check(c->name && c->name[0] && c->source, "a column without name or source",
		      c->name);
		for (size_t k = 0; k < i; k++)
			check(strcmp(s->cols[k].name, c->name) != 0, "two columns of one name",
			      c->name);
		check(strcmp(sl_type_name(c->type), "unknown") != 0, "a column of an unnamed type",
		      c->name);
		if (c->type == SL_TYPE_DECIMAL)
			check(c->precision >= 1 && c->precision <= 38 && c->scale >= 0 &&
			          c->scale <= c->precision,
			      "decimal precision or scale out of range", c->name);
		if (c->has_min && c->has_max && c->type == SL_TYPE_INTEGER)
			check(c->min_i <= c->max_i, "integer bounds out of order", c->name);
		if (c->min_length >= 0 && c->max_length >= 0)
			check(c->min_length <= c->max_length, "length bounds out of order",
			      c->name);
		if (c->type == SL_TYPE_ENUM)
			check(c->nvalues > 0 && c->values, "an enum without values", c->name);
	}
	for (size_t k = 0; k < s->nkey; k++)
		check(s->key[k] < s->ncols, "a key that is not a column", s->name);
	check(s->dialect.delimiter != '\n' && s->dialect.delimiter != '\r', "a newline delimiter",
	      s->name);

	sl_validator *v = NULL;
	check(sl_validator_new(s, &v) == 0 && v, "no validator for a loaded schema", s->name);
	sl_validator_free(v);

	/* a file whose header is the schema's own sources has every column */
	sl_str *hdr = calloc(s->ncols, sizeof *hdr);
	int *map = calloc(s->ncols, sizeof *map);
	char err[512] = "";
	check(hdr && map, "out of memory", NULL);
	for (size_t i = 0; i < s->ncols; i++)
		hdr[i] = sl_str_make(s->cols[i].source, strlen(s->cols[i].source));
	int rc = sl_schema_map_header(s, hdr, s->ncols, map, err, sizeof err);
	/* two columns may read one source: that is the one refusal allowed */
	if (rc == 0)
		for (size_t i = 0; i < s->ncols; i++)
			check(map[i] >= 0 && (size_t)map[i] < s->ncols &&
			          strcmp(s->cols[map[i]].source, s->cols[i].source) == 0,
			      "its own header does not map", s->cols[i].name);
	else
		check(rc == SL_FATAL_HEADER && err[0], "header mapping failed without a reason",
		      err);
	free(hdr);
	free(map);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *yaml = malloc(size ? size : 1);
	if (!yaml)
		abort();
	memcpy(yaml, data, size);
	sl_schema *s = NULL;
	char err[512];
	memset(err, 'x', sizeof err);
	int rc = sl_schema_parse(yaml, size, "f.yaml", &s, err, sizeof err);
	if (rc == 0) {
		check(s != NULL, "success without a schema", NULL);
		check_schema(s);
		sl_schema_free(s);
	} else {
		check(rc == SL_CONFIG || rc == SL_NOMEM, "a refusal that is not CONFIG", err);
		check(s == NULL, "a schema handed out with a failure", err);
		check(memchr(err, 0, sizeof err) != NULL, "an unterminated message", NULL);
		unsigned long line = 0, col = 0;
		check(sscanf(err, "f.yaml:%lu:%lu: ", &line, &col) == 2,
		      "a message without PATH:LINE:COL", err);
		/* YAML breaks lines at LF, CR, CRLF (and libfyaml at NEL, LS,
		   PS too): count every byte that can start one, a bound */
		size_t lines = 1;
		for (size_t i = 0; i < size; i++)
			lines += data[i] == '\n' || data[i] == '\r' || data[i] == 0xc2 ||
			         data[i] == 0xe2;
		check(line >= 1 && line <= lines + 1 && col >= 1,
		      "a message pointing outside the input", err);
	}
	free(yaml);
	return 0;
}
