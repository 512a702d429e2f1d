/*
 * The target table in PostgreSQL: the type each sluice column gets, the
 * table created when it is missing, and the check of a table that exists.
 *
 * Types (docs/scaling.md): integer bigint, float double precision, decimal
 * numeric(p,s) (exact: sluice hands over the canonical decimal text, never
 * a binary float), boolean, date, time, timestamp (timestamptz when every
 * format of the column says its zone: such values are UTC), text and enum
 * text. A table made by hand may use narrower or looser types where every
 * value sluice writes still fits or is refused row by row (integer for
 * bigint: an out-of-range value is the row's DB_VALUE, varchar(n) the
 * same for a long text); a type that would change values silently (a
 * decimal into double precision, a scale too small) is refused up front as
 * DB_SCHEMA naming the column.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/pg.h"
#include "sluice/error.h"

bool sl__pg_zoned(const sl_column *c)
{
	if (c->type != SL_TYPE_TIMESTAMP || c->nformats == 0)
		return false;
	for (size_t i = 0; i < c->nformats; i++) {
		const char *f = c->formats[i];
		if (!strstr(f, "%z") && !strstr(f, "%Z") && !strstr(f, "%s"))
			return false;
	}
	return true;
}

const char *sl__pg_type(const sl_column *c, char *buf)
{
	switch (c->type) {
	case SL_TYPE_INTEGER:
		return "bigint";
	case SL_TYPE_FLOAT:
		return "double precision";
	case SL_TYPE_DECIMAL:
		snprintf(buf, 32, "numeric(%d,%d)", c->precision, c->scale);
		return buf;
	case SL_TYPE_BOOLEAN:
		return "boolean";
	case SL_TYPE_DATE:
		return "date";
	case SL_TYPE_TIME:
		return "time";
	case SL_TYPE_TIMESTAMP:
		return sl__pg_zoned(c) ? "timestamptz" : "timestamp";
	default:
		return "text";
	}
}

static bool starts(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

/* Does an existing column of type `have` (format_type's text) take the
   column's values? why: what it would need, for the message. */
static bool compatible(const sl_column *c, const char *have, char *why, size_t n)
{
	switch (c->type) {
	case SL_TYPE_INTEGER:
		snprintf(why, n, "bigint, integer, smallint or numeric");
		return !strcmp(have, "bigint") || !strcmp(have, "integer") ||
		       !strcmp(have, "smallint") || starts(have, "numeric");
	case SL_TYPE_FLOAT:
		snprintf(why, n, "double precision, real or numeric without a scale");
		return !strcmp(have, "double precision") || !strcmp(have, "real") ||
		       !strcmp(have, "numeric");
	case SL_TYPE_DECIMAL: {
		snprintf(
		    why, n,
		    "numeric with at least %d integer and %d fractional digits (numeric(%d,%d))",
		    c->precision - c->scale, c->scale, c->precision, c->scale);
		int p, s;
		if (!strcmp(have, "numeric"))
			return true;
		if (sscanf(have, "numeric(%d,%d)", &p, &s) != 2)
			return false;
		return s >= c->scale && p - s >= c->precision - c->scale;
	}
	case SL_TYPE_BOOLEAN:
		snprintf(why, n, "boolean");
		return !strcmp(have, "boolean");
	case SL_TYPE_DATE:
		snprintf(why, n, "date");
		return !strcmp(have, "date");
	case SL_TYPE_TIME:
		snprintf(why, n, "time");
		return starts(have, "time") && !starts(have, "timestamp");
	case SL_TYPE_TIMESTAMP:
		snprintf(why, n, "timestamp or timestamptz");
		return starts(have, "timestamp");
	default:
		snprintf(why, n, "text, varchar or char");
		return !strcmp(have, "text") || starts(have, "character");
	}
}

static bool in_key(const sl_schema *sc, size_t i)
{
	for (size_t k = 0; k < sc->nkey; k++)
		if (sc->key[k] == i)
			return true;
	return false;
}

static int create_table(sl_pg *c, const sl_schema *sc, sl_buf *b)
{
	char tb[32];
	int rc = sl__pg_add(b, "CREATE TABLE IF NOT EXISTS ") | sl__pg_ident(b, sc->table) |
	         sl__pg_add(b, "(");
	for (size_t i = 0; i < sc->ncols; i++)
		rc |= sl__pg_ident(b, sc->cols[i].name) | sl__pg_add(b, " ") |
		      sl__pg_add(b, sl__pg_type(&sc->cols[i], tb)) |
		      sl__pg_add(b, in_key(sc, i) ? " NOT NULL, " : ", ");
	/* provenance: the job and the record of the file each row came from
	   (the earliest-record rule and DUP_KEY messages, chunk_write.c); the
	   load order, which the records API pages by (SQLite's rowid), from a
	   sequence each session takes 1024 numbers of at a time: a COPY then
	   reads the sequence once per 1024 rows instead of once per row (the
	   numbers still rise in each session's load order; a session that
	   ends leaves a gap) */
	rc |= sl__pg_add(b, "\"_sluice_job\" text NOT NULL, \"_sluice_rec\" bigint,"
	                    " \"_sluice_row\" bigint GENERATED ALWAYS AS IDENTITY (CACHE 1024)");
	if (sc->nkey) {
		rc |= sl__pg_add(b, ", PRIMARY KEY(");
		for (size_t k = 0; k < sc->nkey; k++)
			rc |= (k ? sl__pg_add(b, ", ") : 0) |
			      sl__pg_ident(b, sc->cols[sc->key[k]].name);
		rc |= sl__pg_add(b, ")");
	}
	rc |= sl__pg_add(b, ");");
	/* lookups (`index: true`) as in SQLite: such a schema also gets the
	   job column indexed, for filters by job and fast rollbacks */
	bool lookups = false;
	for (size_t i = 0; i < sc->ncols; i++)
		lookups = lookups || sc->cols[i].index;
	char n[256];
	if (lookups) {
		snprintf(n, sizeof n, "sluice_job_%zu_%s", strlen(sc->table), sc->table);
		rc |= sl__pg_add(b, "CREATE INDEX IF NOT EXISTS ") | sl__pg_ident(b, n) |
		      sl__pg_add(b, " ON ") | sl__pg_ident(b, sc->table) |
		      sl__pg_add(b, "(\"_sluice_job\");");
	}
	for (size_t i = 0; i < sc->ncols; i++) {
		if (!sc->cols[i].index || (sc->nkey && sc->key[0] == i))
			continue;
		snprintf(n, sizeof n, "sluice_ix_%zu_%s_%s", strlen(sc->table), sc->table,
		         sc->cols[i].name);
		rc |= sl__pg_add(b, "CREATE INDEX IF NOT EXISTS ") | sl__pg_ident(b, n) |
		      sl__pg_add(b, " ON ") | sl__pg_ident(b, sc->table) | sl__pg_add(b, "(") |
		      sl__pg_ident(b, sc->cols[i].name) | sl__pg_add(b, ");");
	}
	rc |= sl_buf_append(b, "", 1);
	return rc ? SL_NOMEM : sl__pg_exec(c, b->p);
}

/* The record column of an existing table: there and bigint, or added when
   the table is an older sluice's (NULL for its old rows, which then have
   no record; adding a nullable column without a default is a change of
   the catalog only, the rows are not rewritten). */
static int check_rec(sl_pg *c, const sl_schema *sc, PGresult *cols)
{
	for (int r = 0; r < PQntuples(cols); r++) {
		if (strcmp(PQgetvalue(cols, r, 0), "_sluice_rec"))
			continue;
		if (strcmp(PQgetvalue(cols, r, 1), "bigint"))
			return sl__pg_seterr(c, SL_DB_SCHEMA,
			                     "table %s: column _sluice_rec is %s, not bigint",
			                     sc->table, PQgetvalue(cols, r, 1));
		return 0;
	}
	sl_buf b;
	sl_buf_init(&b, 1 << 16);
	int rc = sl__pg_add(&b, "ALTER TABLE ") | sl__pg_ident(&b, sc->table) |
	         sl__pg_add(&b, " ADD COLUMN IF NOT EXISTS \"_sluice_rec\" bigint") |
	         sl_buf_append(&b, "", 1);
	rc = rc ? SL_NOMEM : sl__pg_exec(c, b.p);
	sl_buf_free(&b);
	return rc;
}

/* An existing table: every column there with a type that fits (the
   record column added when missing), and the key's unique index. */
static int check_table(sl_pg *c, const sl_schema *sc, const char *qname, PGresult *cols)
{
	char why[160];
	int rc = 0;
	int n = PQntuples(cols);
	for (size_t i = 0; i <= sc->ncols && rc == 0; i++) {
		const char *name = i < sc->ncols ? sc->cols[i].name : "_sluice_job";
		int row = -1;
		for (int r = 0; r < n && row < 0; r++)
			if (!strcmp(PQgetvalue(cols, r, 0), name))
				row = r;
		if (row < 0) {
			rc = sl__pg_seterr(
			    c, SL_DB_SCHEMA, "table %s exists without the column %s%s", sc->table,
			    name,
			    i < sc->ncols
			        ? ""
			        : " (sluice's job column: the table was not made by sluice)");
			break;
		}
		const char *have = PQgetvalue(cols, row, 1);
		if (i == sc->ncols) {
			if (strcmp(have, "text") && !starts(have, "character"))
				rc = sl__pg_seterr(c, SL_DB_SCHEMA,
				                   "table %s: column _sluice_job is %s, not text",
				                   sc->table, have);
			if (rc == 0)
				rc = check_rec(c, sc, cols);
			break;
		}
		if (!compatible(&sc->cols[i], have, why, sizeof why))
			rc = sl__pg_seterr(
			    c, SL_DB_SCHEMA, "table %s: column %s is %s, but a %s column needs %s",
			    sc->table, name, have, sl_type_name(sc->cols[i].type), why);
	}
	if (rc || !sc->nkey)
		return rc;

	/* ON CONFLICT (key) needs a unique index on exactly the key's columns */
	sl_buf b;
	sl_buf_init(&b, 1 << 16);
	rc = sl__pg_add(&b, "{");
	for (size_t k = 0; k < sc->nkey; k++)
		rc |= sl__pg_add(&b, k ? ",\"" : "\"") | sl__pg_add(&b, sc->cols[sc->key[k]].name) |
		      sl__pg_add(&b, "\"");
	rc |= sl__pg_add(&b, "}") | sl_buf_append(&b, "", 1);
	if (rc) {
		sl_buf_free(&b);
		return SL_NOMEM;
	}
	const char *p[2] = {qname, b.p};
	char found[8];
	rc = sl__pg_value(
	    c,
	    "SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass($1) AND i.indisunique"
	    " AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indnkeyatts = "
	    "cardinality($2::text[])"
	    " AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text COLLATE \"C\")"
	    "      FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey))"
	    "   = (SELECT array_agg(x ORDER BY x COLLATE \"C\") FROM unnest($2::text[]) x)"
	    " LIMIT 1",
	    2, p, found, sizeof found);
	if (rc == 0) {
		char keys[512] = "";
		for (size_t k = 0; k < sc->nkey; k++) {
			size_t l = strlen(keys);
			snprintf(keys + l, sizeof keys - l, "%s%s", k ? ", " : "",
			         sc->cols[sc->key[k]].name);
		}
		rc = sl__pg_seterr(
		    c, SL_DB_SCHEMA,
		    "table %s has no unique index on its key (%s): add one (or a PRIMARY KEY) for"
		    " duplicates to be found",
		    sc->table, keys);
	}
	sl_buf_free(&b);
	return rc < 0 ? rc : 0;
}

int sl__pg_table_prepare(sl_pg *c, const sl_schema *sc)
{
	sl_buf b;
	PGresult *cols = NULL;
	bool own = PQtransactionStatus(sl__pg_conn(c)) == PQTRANS_IDLE;
	int rc = own ? sl__pg_begin(c) : 0;
	sl_buf_init(&b, 1 << 20);
	if (rc)
		goto out;
	if (sl__pg_ident(&b, sc->table) || sl_buf_append(&b, "", 1)) {
		rc = SL_NOMEM;
		goto out;
	}
	char *qname = strdup(b.p);
	if (!qname) {
		rc = SL_NOMEM;
		goto out;
	}
	/* two processes preparing one table wait for each other, so neither
	   trips on the other's half-made CREATE */
	const char *p[1] = {qname};
	rc = sc->distributed ? sl__pg_citus_check(c, sc) : 0;
	if (rc == 0)
		rc = sl__pg_execp(c, "SELECT pg_advisory_xact_lock(hashtext($1))", 1, p);
	if (rc == 0) {
		cols = PQexecParams(
		    sl__pg_conn(c),
		    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
		    " WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
		    1, NULL, p, NULL, NULL, 0);
		if (!cols || PQresultStatus(cols) != PGRES_TUPLES_OK)
			rc = sl__pg_fail(c, cols, "columns of the target table");
	}
	if (rc == 0) {
		sl_buf_reset(&b);
		rc = PQntuples(cols) ? check_table(c, sc, qname, cols) : create_table(c, sc, &b);
	}
	if (rc == 0 && sc->distributed)
		rc = sl__pg_citus_distribute(c, sc, qname);
	free(qname);
	if (rc == 0 && own)
		rc = sl__pg_commit(c);
out:
	if (rc && own)
		sl__pg_rollback(c);
	PQclear(cols);
	sl_buf_free(&b);
	return rc;
}
