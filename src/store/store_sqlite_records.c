/*
 * The SQLite store's records: reading loaded rows back by key and by
 * indexed columns (keyset pagination in rowid order), and the indexes that
 * make those lookups fast.
 */
#include <errno.h>
#include <libgen.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_sqlite_int.h"

/* --- records --- */

/*
 * Reading loaded rows back (the records API) and the indexes that make it
 * fast. Lookups are equality filters on the key and on `index: true`
 * columns, walked in rowid order from a cursor (keyset pagination): with an
 * index on the filtered column, SQLite reads the index entries of that value,
 * which are in rowid order already (a rowid table's index ends with the
 * rowid), from the cursor on, and sorts nothing.
 */

/* Index names share one namespace with tables; "sluice_" is reserved for
   us (schema names may not start with it), and the table name's length
   keeps (table "a_b", column "c") apart from (table "a", column "b_c"). */
static int index_name(sl_buf *b, const char *kind, const char *table, const char *col)
{
	char n[256];
	sl__sq_index_name(n, sizeof n, kind, table, col);
	return sl__sq_add_ident(b, n);
}

int sl__sq_records_indexes(sq_store *q, const sl_schema *sc)
{
	sl_buf b;
	int rc = 0;
	sl_buf_init(&b, 1 << 16);
	/* Lookups are a schema's choice (`index: true`); a table loaded
	   without them gets them built at the job's end
	   (store_sqlite_index.c), one that has them keeps them up. A schema
	   that asks for lookups also gets _sluice_job indexed, for filters by
	   job and fast rollbacks (DELETE ... WHERE _sluice_job = ?); without
	   it those scan the table. */
	bool lookups = false;
	for (size_t i = 0; i < sc->ncols; i++)
		lookups = lookups || sc->cols[i].index;
	if (lookups)
		rc = sl__sq_add(&b, "CREATE INDEX IF NOT EXISTS ") | index_name(&b, "job", sc->table, NULL) |
		     sl__sq_add(&b, " ON ") | sl__sq_add_ident(&b, sc->table) | sl__sq_add(&b, "(\"_sluice_job\");");
	for (size_t i = 0; i < sc->ncols; i++) {
		/* the key's first column leads the primary key's index already */
		if (!sc->cols[i].index || (sc->nkey && sc->key[0] == i))
			continue;
		rc |= sl__sq_add(&b, "CREATE INDEX IF NOT EXISTS ") | index_name(&b, "ix", sc->table, sc->cols[i].name) |
		      sl__sq_add(&b, " ON ") | sl__sq_add_ident(&b, sc->table) | sl__sq_add(&b, "(") | sl__sq_add_ident(&b, sc->cols[i].name) |
		      sl__sq_add(&b, ");");
	}
	rc |= sl_buf_append(&b, "", 1);
	if (rc)
		rc = SL_NOMEM;
	else
		rc = sl__sq_exec(q, b.p);
	sl_buf_free(&b);
	return rc;
}

/* ASCII case-insensitive equality (SQLite's rule for names). */
static bool name_eq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
		char y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
		if (x != y)
			return false;
	}
	return *a == *b;
}

/* The name that reaches the rowid: a column called rowid, _rowid_ or oid
   hides that alias (schema names may be any of them). */
static const char *rowid_alias(const sl_schema *sc)
{
	static const char *const names[] = {"rowid", "_rowid_", "oid"};
	for (size_t k = 0; k < SL_ARRAY_LEN(names); k++) {
		bool taken = false;
		for (size_t i = 0; i < sc->ncols; i++)
			taken |= name_eq(sc->cols[i].name, names[k]);
		if (!taken)
			return names[k];
	}
	return NULL;
}

int sl__sq_records_each(sl_sink *s, const sl_schema *sc, const size_t *cols, const sl_value *vals,
			   size_t nf, const char *job_id, int64_t after, size_t limit, sl_record_cb cb,
			   void *ctx)
{
	sq_store *q = sq_of_sink(s);
	sqlite3_stmt *st = NULL;
	sl_value *row = NULL;
	bool *as_text = NULL;
	char missing[400];
	const char *rid = rowid_alias(sc);
	sl_buf b;
	int rc;
	sl_buf_init(&b, 1 << 20);
	if (!rid) {
		snprintf(q->err, sizeof q->err, "table %s has columns rowid, _rowid_ and oid: its rows cannot be paged",
			 sc->table);
		rc = SL_DB_ERROR;
		goto out;
	}
	/* a dataset with nothing loaded yet has no table: no rows, not an error */
	if (!(as_text = calloc(sc->ncols + 1, sizeof *as_text))) {
		rc = SL_NOMEM;
		goto out;
	}
	if ((rc = sl__sq_check_columns(q, sc, sc->table, missing, sizeof missing, as_text)) <= 0)
		goto out;
	if (missing[0]) {
		snprintf(q->err, sizeof q->err, "table %s exists without the columns %s", sc->table, missing);
		rc = SL_DB_ERROR;
		goto out;
	}
	/* names from the schema, quoted; every value is a parameter */
	rc = sl__sq_add(&b, "SELECT ") | sl__sq_add(&b, rid);
	for (size_t i = 0; i < sc->ncols; i++)
		rc |= sl__sq_add(&b, ", ") | sl__sq_add_ident(&b, sc->cols[i].name);
	rc |= sl__sq_add(&b, ", \"_sluice_job\" FROM ") | sl__sq_add_ident(&b, sc->table) | sl__sq_add(&b, " WHERE ") | sl__sq_add(&b, rid) |
	      sl__sq_add(&b, " > ?");
	if (job_id)
		rc |= sl__sq_add(&b, " AND \"_sluice_job\" = ?");
	for (size_t k = 0; k < nf; k++) {
		if (cols[k] >= sc->ncols) {
			rc = SL_INVAL;
			goto out;
		}
		rc |= sl__sq_add(&b, " AND ") | sl__sq_add_ident(&b, sc->cols[cols[k]].name) |
		      sl__sq_add(&b, vals[k].kind == SL_VALUE_NULL ? " IS NULL" : " = ?");
	}
	rc |= sl__sq_add(&b, " ORDER BY ") | sl__sq_add(&b, rid) | sl__sq_add(&b, " LIMIT ?") | sl_buf_append(&b, "", 1);
	row = calloc(sc->ncols + 1, sizeof *row);
	if (rc || !row) {
		rc = SL_NOMEM;
		goto out;
	}
	if ((rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, b.p, -1, &st, NULL))) < 0)
		goto out;
	int p = 1;
	sqlite3_bind_int64(st, p++, after);
	if (job_id)
		sqlite3_bind_text(st, p++, job_id, -1, SQLITE_STATIC);
	for (size_t k = 0; k < nf; k++) {
		if (vals[k].kind == SL_VALUE_INT)
			sqlite3_bind_int64(st, p++, vals[k].i);
		else if (vals[k].kind == SL_VALUE_TEXT)
			sqlite3_bind_text(st, p++, vals[k].s.p, (int)vals[k].s.n, SQLITE_STATIC);
		else if (vals[k].kind == SL_VALUE_REAL)
			sl__sq_bind_real(st, p++, &sc->cols[cols[k]], vals[k].d, as_text[cols[k]]);
	}
	sqlite3_bind_int64(st, p++, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit);
	while (rc == 0) {
		int r = sqlite3_step(st);
		if (r != SQLITE_ROW) {
			rc = sl__sq_map_rc(q, r);
			break;
		}
		sl_record rec = {.rowid = sqlite3_column_int64(st, 0), .vals = row};
		for (size_t i = 0; i < sc->ncols; i++) {
			int c = (int)i + 1;
			switch (sqlite3_column_type(st, c)) {
			case SQLITE_NULL:
				row[i] = (sl_value){.kind = SL_VALUE_NULL};
				break;
			case SQLITE_INTEGER:
				row[i] = (sl_value){.kind = SL_VALUE_INT, .i = sqlite3_column_int64(st, c)};
				break;
			case SQLITE_FLOAT:
				row[i] = (sl_value){.kind = SL_VALUE_REAL, .d = sqlite3_column_double(st, c)};
				break;
			default: { /* text (a blob only if someone else wrote the table) */
				const char *t = (const char *)sqlite3_column_text(st, c);
				row[i] = (sl_value){.kind = SL_VALUE_TEXT,
						    .s = sl_str_make(t ? t : "", (size_t)sqlite3_column_bytes(st, c))};
			}
			}
		}
		const char *job = (const char *)sqlite3_column_text(st, (int)sc->ncols + 1);
		rec.job_id = job ? job : "";
		rc = cb(ctx, &rec);
	}
out:
	sqlite3_finalize(st);
	free(row);
	free(as_text);
	sl_buf_free(&b);
	return rc;
}
