/*
 * The records API: look loaded rows up.
 *
 *   GET /v1/datasets/{name}/records?COLUMN=VALUE&job_id=&limit=&cursor=
 *   GET /v1/datasets/{name}/records/{key}
 *
 * Filters are equalities on the key's columns and on columns the schema
 * marks `index: true` (each has an index, so no lookup scans the table);
 * several AND together. Values are written as in the dataset's files and
 * converted as the loader converts a field (sl_records_query), so `0042`
 * finds the integer 42; a value the column cannot hold is 400 with the
 * validator's reason. Pages follow the table's rowid (keyset pagination):
 * the cursor is the last rowid of the page, in decimal, and a page holds at
 * most `limit` rows, which is all this handler ever keeps in memory (their
 * JSON). A key of several columns is written as their values joined by
 * ',' in key order; a value containing ',' is looked up with the query
 * route instead.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "http/http_reply.h"
#include "sluice/records.h"

#define MAX_FILTERS   32
#define LIMIT_DEFAULT 100
#define LIMIT_MAX     1000

/* Query arguments, gathered by one pass over them. */
typedef struct args {
	const sl_schema *sc;
	sl_record_filter f[MAX_FILTERS];
	size_t nf;
	const char *limit, *cursor, *job_id;
	bool bad;
	char why[600]; /* the 400's message when bad */
} args;

/* Key columns, then `index: true` ones: what a query may filter on. */
static bool filterable(const sl_schema *sc, size_t col)
{
	for (size_t k = 0; k < sc->nkey; k++)
		if (sc->key[k] == col)
			return true;
	return sc->cols[col].index;
}

static void filterable_list(const sl_schema *sc, char *out, size_t n)
{
	size_t l = 0;
	out[0] = 0;
	for (size_t k = 0; k < sc->nkey && l < n; k++)
		l += (size_t)snprintf(out + l, n - l, "%s%s", l ? ", " : "",
		                      sc->cols[sc->key[k]].name);
	for (size_t i = 0; i < sc->ncols && l < n; i++) {
		bool inkey = false;
		for (size_t k = 0; k < sc->nkey; k++)
			inkey |= sc->key[k] == i;
		if (sc->cols[i].index && !inkey)
			l += (size_t)snprintf(out + l, n - l, "%s%s", l ? ", " : "",
			                      sc->cols[i].name);
	}
	if (!out[0])
		snprintf(out, n, "none (the dataset has no key and no indexed column)");
}

/* With the sizes: a %00 in a value must not cut it short (ABC%00 is not ABC). */
static enum MHD_Result one_arg(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                               const char *value, size_t value_size)
{
	args *a = cls;
	const char **slot = NULL;
	(void)kind;
	if (!value) {
		value = ""; /* `?name` without '=' */
		value_size = 0;
	}
	if (strlen(key) != key_size)
		key = ""; /* a NUL in the name: no column has that name */
	if (!strcmp(key, "limit"))
		slot = &a->limit;
	else if (!strcmp(key, "cursor"))
		slot = &a->cursor;
	else if (!strcmp(key, "job_id"))
		slot = &a->job_id;
	if (slot) {
		/* two values would make the answer depend on which one wins */
		if (*slot) {
			snprintf(a->why, sizeof a->why, "%s: given more than once", key);
			a->bad = true;
			return MHD_NO;
		}
		if (strlen(value) != value_size) {
			snprintf(a->why, sizeof a->why, "%s: contains a NUL byte", key);
			a->bad = true;
			return MHD_NO;
		}
		*slot = value;
		return MHD_YES;
	}
	size_t col = a->sc->ncols;
	for (size_t i = 0; i < a->sc->ncols; i++)
		if (!strcmp(a->sc->cols[i].name, key))
			col = i;
	char list[300];
	if (col == a->sc->ncols || !filterable(a->sc, col)) {
		filterable_list(a->sc, list, sizeof list);
		/* the name is the client's: cut, it is echoed */
		if (col == a->sc->ncols)
			snprintf(a->why, sizeof a->why,
			         "parameter %.64s is not a column of %s; filterable: %s", key,
			         a->sc->name, list);
		else
			snprintf(a->why, sizeof a->why,
			         "column %s is not the key or indexed; filterable: %s", key, list);
		a->bad = true;
		return MHD_NO;
	}
	if (a->nf == MAX_FILTERS) {
		snprintf(a->why, sizeof a->why, "more than %d filters", MAX_FILTERS);
		a->bad = true;
		return MHD_NO;
	}
	a->f[a->nf++] = (sl_record_filter){.col = col, .text = value, .len = value_size};
	return MHD_YES;
}

/* A cursor this server gave: a rowid in decimal, nothing else. */
static bool parse_cursor(const char *s, int64_t *out)
{
	int64_t v = 0;
	if (!s[0] || (s[0] == '0' && s[1]))
		return false;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		int d = *p - '0';
		if (v > (INT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool parse_limit(const char *s, size_t *out)
{
	size_t v = 0;
	if (!s[0] || s[0] == '0' || strlen(s) > 4)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (size_t)(*p - '0');
	}
	if (v < 1 || v > LIMIT_MAX)
		return false;
	*out = v;
	return true;
}

/* A REAL: a decimal column's as its canonical text (a string, exact, as
   decimals always were), a float's as the shortest JSON number that reads
   back as the same double (null for NaN and the infinities, which JSON
   lacks). */
static void json_real(FILE *f, const sl_column *c, double d)
{
	char buf[48];
	if (c->type == SL_TYPE_DECIMAL) {
		size_t n = sl_decimal_real_format(c, d, buf);
		sl_json_sv(f, sl_str_make(buf, n));
		return;
	}
	if (!isfinite(d)) {
		fputs("null", f);
		return;
	}
	sl_double_format(d, buf);
	fputs(buf, f);
}

/* One record as a JSON object; JSON types follow the column types. */
static void json_record(FILE *f, const sl_schema *sc, const sl_record *rec)
{
	fputs("{\"_job_id\":", f);
	http_json_str(f, rec->job_id);
	for (size_t i = 0; i < sc->ncols; i++) {
		const sl_value *v = &rec->vals[i];
		putc(',', f);
		sl_json_cstr(f, sc->cols[i].name);
		putc(':', f);
		if (v->kind == SL_VALUE_NULL)
			fputs("null", f);
		else if (v->kind == SL_VALUE_INT && sc->cols[i].type == SL_TYPE_BOOLEAN)
			fputs(v->i ? "true" : "false", f);
		else if (v->kind == SL_VALUE_INT && sc->cols[i].type == SL_TYPE_INTEGER)
			fprintf(f, "%" PRId64, v->i);
		else if (v->kind == SL_VALUE_REAL)
			json_real(f, &sc->cols[i], v->d);
		else if (v->kind ==
		         SL_VALUE_INT) /* a text column holding a number: written by someone else */
			fprintf(f, "\"%" PRId64 "\"", v->i);
		else /* text, enum, dates and times, and decimals (as strings: exact) */
			sl_json_sv(f, v->s);
	}
	putc('}', f);
}

typedef struct page {
	FILE *f;
	const sl_schema *sc;
	size_t limit, n;
	int64_t last;
	bool more;
} page;

/* The store is asked for limit + 1 rows: the extra one only says there is
   a next page (so the last page has no cursor to an empty one). */
static int page_row(void *ctx, const sl_record *rec)
{
	page *p = ctx;
	if (p->n == p->limit) {
		p->more = true;
		return 1;
	}
	if (p->n++)
		putc(',', p->f);
	json_record(p->f, p->sc, rec);
	p->last = rec->rowid;
	return 0;
}

static enum MHD_Result query_failed(struct MHD_Connection *c, http_req *r, int rc, const char *msg)
{
	if (sl_error_class(rc) == SL_CLASS_ROW) /* a filter value the column cannot hold */
		return http_send_error(c, r, 400, "BAD_REQUEST", "%s", msg);
	return http_send_error(c, r,
	                       sl_error_class(rc) == SL_CLASS_RETRY || rc == SL_IO_OPEN ? 503 : 500,
	                       sl_error_name(rc), "%s", msg[0] ? msg : sl_error_message(rc));
}

static enum MHD_Result query(struct MHD_Connection *c, http_req *r, const sl_schema *sc)
{
	args a = {.sc = sc};
	page p = {.sc = sc, .limit = LIMIT_DEFAULT};
	int64_t after = 0;
	http_body b;
	char msg[512];
	MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, one_arg, &a);
	if (a.bad)
		return http_send_error(c, r, 400, "BAD_REQUEST", "%s", a.why);
	if (a.limit && !parse_limit(a.limit, &p.limit))
		return http_send_error(c, r, 400, "BAD_REQUEST",
		                       "limit: a whole number from 1 to %d", LIMIT_MAX);
	if (a.cursor && a.cursor[0] && !parse_cursor(a.cursor, &after))
		return http_send_error(c, r, 400, "BAD_REQUEST",
		                       "cursor: not a cursor this server gave");
	if (a.job_id && !a.job_id[0])
		a.job_id = NULL;
	if (a.job_id) {
		if (!http_valid_token(a.job_id, HTTP_ID_MAX, true))
			return http_send_error(c, r, 400, "BAD_REQUEST", "job_id: not a job id");
		snprintf(r->job, sizeof r->job, "%s", a.job_id);
	}
	if (!http_body_open(&b))
		return http_send_error(c, r, 500, "NOMEM", "out of memory");
	p.f = b.f;
	fputs("{\"dataset\":", b.f);
	http_json_str(b.f, sc->name);
	fputs(",\"records\":[", b.f);
	int rc = sl_records_query(r->s->o.db, sc, a.f, a.nf, a.job_id, after, p.limit + 1, page_row,
	                          &p, msg, sizeof msg);
	if (rc < 0) {
		fclose(b.f);
		free(b.buf);
		return query_failed(c, r, rc, msg);
	}
	fputs("],\"next_cursor\":", b.f);
	if (p.more)
		fprintf(b.f, "\"%" PRId64 "\"", p.last);
	else
		fputs("null", b.f);
	fputs("}\n", b.f);
	return http_body_send(c, r, 200, &b, "application/json", NULL);
}

typedef struct one {
	FILE *f;
	const sl_schema *sc;
	bool found;
} one;

static int one_row(void *ctx, const sl_record *rec)
{
	one *o = ctx;
	json_record(o->f, o->sc, rec);
	o->found = true;
	return 1;
}

static enum MHD_Result by_key(struct MHD_Connection *c, http_req *r, const sl_schema *sc,
                              const char *key)
{
	sl_record_filter f[MAX_FILTERS];
	http_body b;
	char msg[512];
	if (!sc->nkey)
		return http_send_error(c, r, 404, "NOT_FOUND",
		                       "dataset %s has no key: look its records up with "
		                       "/v1/datasets/%s/records?COLUMN=VALUE",
		                       sc->name, sc->name);
	if (sc->nkey > MAX_FILTERS)
		return http_send_error(c, r, 500, "INTERNAL", "the key has more than %d columns",
		                       MAX_FILTERS);
	/* one column: the whole segment; several: values joined by ',' */
	const char *p = key;
	for (size_t k = 0; k < sc->nkey; k++) {
		const char *end = k + 1 < sc->nkey ? strchr(p, ',') : p + strlen(p);
		if (!end) {
			char list[300];
			size_t l = 0;
			list[0] = 0;
			for (size_t j = 0; j < sc->nkey && l < sizeof list; j++)
				l += (size_t)snprintf(list + l, sizeof list - l, "%s%s",
				                      j ? "," : "", sc->cols[sc->key[j]].name);
			return http_send_error(
			    c, r, 400, "BAD_REQUEST",
			    "the key of %s has %zu columns: write it as %s (values joined by ',')",
			    sc->name, sc->nkey, list);
		}
		f[k] = (sl_record_filter){.col = sc->key[k], .text = p, .len = (size_t)(end - p)};
		p = end + 1;
	}
	if (!http_body_open(&b))
		return http_send_error(c, r, 500, "NOMEM", "out of memory");
	one o = {.f = b.f, .sc = sc};
	int rc =
	    sl_records_query(r->s->o.db, sc, f, sc->nkey, NULL, 0, 1, one_row, &o, msg, sizeof msg);
	if (rc < 0 || !o.found) {
		fclose(b.f);
		free(b.buf);
		if (rc < 0)
			return query_failed(c, r, rc, msg);
		return http_send_error(c, r, 404, "NOT_FOUND", "no record with that key in %s",
		                       sc->name);
	}
	putc('\n', b.f);
	return http_body_send(c, r, 200, &b, "application/json", NULL);
}

enum MHD_Result http_records(struct MHD_Connection *c, http_req *r, const char *dataset,
                             const char *key)
{
	int i = http_dataset_find(r->s, dataset);
	if (i < 0)
		return http_send_error(c, r, 404, "NOT_FOUND", "no dataset with that name");
	const sl_schema *sc = r->s->ds[i].schema;
	return key ? by_key(c, r, sc, key) : query(c, r, sc);
}
