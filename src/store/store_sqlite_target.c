/*
 * The SQLite store's target tables: created or checked against the schema
 * (an older table's columns kept), the insert statements (one row with its
 * duplicate told, or INSERT_MANY rows of a table without a key), which job
 * loaded a key, and a job's rows deleted on rollback. The per-row bind and
 * step stay in this translation unit.
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

/* Rows per INSERT for tables without a key (parameters: rows x columns,
   well under SQLite's limit of 32766 for any sensible schema; the schema
   caps columns). */
#define INSERT_MANY 32

/* --- target table --------------------------------------------------------- */

/* One storage class per column (sl_column_storage): what the column's
   declared type makes SQLite keep, so comparisons, ORDER BY and aggregates
   are numeric where the values are numbers. */
static const char *sql_type(const sl_column *c)
{
	switch (sl_column_storage(c)) {
	case SL_VALUE_INT:
		return "INTEGER";
	case SL_VALUE_REAL:
		return "REAL";
	default:
		return "TEXT";
	}
}

/* Append "name" quoted as an SQL identifier. Names are checked identifiers
   already (schema), quoting is the second fence. */
int sl__sq_add_ident(sl_buf *b, const char *name)
{
	return sl_buf_add_ident(b, name);
}

int sl__sq_add(sl_buf *b, const char *s)
{
	return sl_buf_append(b, s, strlen(s));
}

/* Columns the existing table lacks, comma-separated into `missing`. With
   as_text (ncols entries), also the columns whose values are REAL now but
   that an older sluice declared TEXT (decimals were text): values bound
   there as canonical text keep such a column one storage class, the same
   form as its old rows. */
int sl__sq_check_columns(sq_store *q, const sl_schema *sc, const char *table, char *missing,
                         size_t n, bool *as_text)
{
	sqlite3_stmt *st = NULL;
	int rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db,
	                                             "SELECT name, type FROM pragma_table_info(?)",
	                                             -1, &st, NULL));
	if (rc == 0)
		sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	bool *have = calloc(sc->ncols + 1, sizeof *have);
	int found = 0;
	if (!have)
		rc = SL_NOMEM;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		found++;
		const char *type = (const char *)sqlite3_column_text(st, 1);
		for (size_t i = 0; i < sc->ncols; i++) {
			if (name && !strcmp(name, sc->cols[i].name)) {
				have[i] = true;
				if (as_text)
					as_text[i] =
					    sl_column_storage(&sc->cols[i]) == SL_VALUE_REAL &&
					    type && !strcasecmp(type, "TEXT");
			}
		}
		if (name && !strcmp(name, "_sluice_job"))
			have[sc->ncols] = true;
		if (name && !strcmp(name, "_sluice_rec"))
			q->has_rec = true;
	}
	missing[0] = 0;
	for (size_t i = 0; rc == 0 && found && i <= sc->ncols; i++) {
		if (have[i])
			continue;
		size_t l = strlen(missing);
		snprintf(missing + l, n - l, "%s%s", l ? ", " : "",
		         i < sc->ncols ? sc->cols[i].name : "_sluice_job");
	}
	sqlite3_finalize(st);
	free(have);
	return rc < 0 ? rc : found;
}

/* records section, below: the lookup indexes of a target table */

/* Create or check `tab` (the target, or the table a job of another load
   mode writes: store_sqlite_modes.c) and make the job's statements write
   into it; the target's lookup indexes when `indexes`. */
static int prepare_table(sq_store *q, const sl_schema *sc, const char *job_id, const char *tab,
                         bool indexes)
{
	sl_buf b;
	char missing[400];
	int rc;
	sl_buf_init(&b, 1 << 20);
	q->schema = sc;
	sqlite3_finalize(q->key_owner); /* built for this schema when first needed */
	q->key_owner = NULL;
	sqlite3_finalize(q->replace_row);
	q->replace_row = NULL;
	snprintf(q->job_id, sizeof q->job_id, "%s", job_id);
	q->upsert = sc->on_duplicate == SL_DUP_UPDATE && sc->nkey > 0;

	free(q->real_as_text);
	if (!(q->real_as_text = calloc(sc->ncols + 1, sizeof *q->real_as_text))) {
		rc = SL_NOMEM;
		goto out;
	}
	q->has_rec = false;
	rc = sl__sq_check_columns(q, sc, tab, missing, sizeof missing, q->real_as_text);
	if (rc < 0)
		goto out;
	/* a table of an older sluice, without the record column: given it
	   (NULL for its old rows; cheap in SQLite, no rewrite) */
	if (rc > 0 && !missing[0] && !q->has_rec) {
		sl_buf_reset(&b);
		int r = sl__sq_add(&b, "ALTER TABLE ") | sl__sq_add_ident(&b, tab) |
		        sl__sq_add(&b, " ADD COLUMN \"_sluice_rec\" INTEGER") |
		        sl_buf_append(&b, "", 1);
		if (r) {
			rc = SL_NOMEM;
			goto out;
		}
		if ((rc = sl__sq_exec(q, b.p)) < 0)
			goto out;
		rc = 1;
	}
	if (rc > 0 && missing[0]) {
		snprintf(q->err, sizeof q->err, "table %s exists without the columns %s", tab,
		         missing);
		rc = SL_DB_ERROR;
		goto out;
	}
	if (rc == 0) {
		rc = sl__sq_add(&b, "CREATE TABLE IF NOT EXISTS ") | sl__sq_add_ident(&b, tab) |
		     sl__sq_add(&b, "(");
		for (size_t i = 0; i < sc->ncols; i++) {
			rc |= sl__sq_add_ident(&b, sc->cols[i].name) | sl__sq_add(&b, " ") |
			      sl__sq_add(&b, sql_type(&sc->cols[i]));
			bool inkey = false;
			for (size_t k = 0; k < sc->nkey; k++)
				inkey |= sc->key[k] == i;
			rc |= sl__sq_add(&b, inkey ? " NOT NULL, " : ", ");
		}
		rc |= sl__sq_add(&b, "\"_sluice_job\" TEXT NOT NULL, \"_sluice_rec\" INTEGER");
		if (sc->nkey) {
			rc |= sl__sq_add(&b, ", PRIMARY KEY(");
			for (size_t k = 0; k < sc->nkey; k++)
				rc |= (k ? sl__sq_add(&b, ", ") : 0) |
				      sl__sq_add_ident(&b, sc->cols[sc->key[k]].name);
			rc |= sl__sq_add(&b, "))");
		} else {
			rc |= sl__sq_add(&b, ")");
		}
		rc |= sl_buf_append(&b, "", 1);
		if (rc) {
			rc = SL_NOMEM;
			goto out;
		}
		if ((rc = sl__sq_exec(q, b.p)) < 0)
			goto out;
	}

	/* the lookup indexes: kept up when the table has them, else built at
	   the job's end (sink finish, store_sqlite_index.c); none on a shadow
	   or stage (store_sqlite_modes.c) */
	if (indexes && (rc = sl__sq_index_prepare(q, sc)) < 0)
		goto out;

	sl_buf_reset(&b);
	rc = sl__sq_add(&b, "INSERT INTO ") | sl__sq_add_ident(&b, tab) | sl__sq_add(&b, "(");
	for (size_t i = 0; i < sc->ncols; i++)
		rc |= sl__sq_add_ident(&b, sc->cols[i].name) | sl__sq_add(&b, ", ");
	rc |= sl__sq_add(&b, "\"_sluice_job\", \"_sluice_rec\") VALUES(?, ?");
	for (size_t i = 0; i < sc->ncols; i++)
		rc |= sl__sq_add(&b, ", ?");
	rc |= sl__sq_add(&b, ")");
	if (sc->nkey && q->upsert) {
		rc |= sl__sq_add(&b, " ON CONFLICT(");
		for (size_t k = 0; k < sc->nkey; k++)
			rc |= (k ? sl__sq_add(&b, ", ") : 0) |
			      sl__sq_add_ident(&b, sc->cols[sc->key[k]].name);
		rc |= sl__sq_add(&b, ") DO UPDATE SET ");
		for (size_t i = 0; i < sc->ncols; i++)
			rc |= sl__sq_add_ident(&b, sc->cols[i].name) |
			      sl__sq_add(&b, " = excluded.") |
			      sl__sq_add_ident(&b, sc->cols[i].name) | sl__sq_add(&b, ", ");
		/* the latest record wins whatever the commit order: a row of
		   this job is replaced only by a later record of it */
		rc |=
		    sl__sq_add(&b, "\"_sluice_job\" = excluded.\"_sluice_job\", \"_sluice_rec\" = "
		                   "excluded.\"_sluice_rec\" WHERE \"_sluice_job\" <> "
		                   "excluded.\"_sluice_job\" OR coalesce(\"_sluice_rec\", 0) < "
		                   "excluded.\"_sluice_rec\"");
	} else if (sc->nkey) {
		/* only the key: a clash on anything else must not pass silently */
		rc |= sl__sq_add(&b, " ON CONFLICT(");
		for (size_t k = 0; k < sc->nkey; k++)
			rc |= (k ? sl__sq_add(&b, ", ") : 0) |
			      sl__sq_add_ident(&b, sc->cols[sc->key[k]].name);
		rc |= sl__sq_add(&b, ") DO NOTHING");
	}
	rc |= sl_buf_append(&b, "", 1);
	if (rc) {
		rc = SL_NOMEM;
		goto out;
	}
	sqlite3_finalize(q->ins_row);
	q->ins_row = NULL;
	if ((rc = sl__sq_prep(q, b.p, &q->ins_row)) < 0)
		goto out;

	/* the same for INSERT_MANY rows at once (tables without a key). OR
	   FAIL, not the default ABORT: a statement that writes several rows
	   and may abort half way makes SQLite keep a statement journal, a
	   copy of the page it appends to (16 KiB) for every statement, 500 MB
	   of temporary file for 1M rows. Nothing can fail here (no key, the
	   only NOT NULL is _sluice_job, always bound), and if anything did,
	   the chunk's whole transaction is rolled back, as before. */
	sqlite3_finalize(q->ins_many);
	q->ins_many = NULL;
	if (!sc->nkey) {
		sl_buf_reset(&b);
		rc = sl__sq_add(&b, "INSERT OR FAIL INTO ") | sl__sq_add_ident(&b, tab) |
		     sl__sq_add(&b, "(");
		for (size_t i = 0; i < sc->ncols; i++)
			rc |= sl__sq_add_ident(&b, sc->cols[i].name) | sl__sq_add(&b, ", ");
		rc |= sl__sq_add(&b, "\"_sluice_job\", \"_sluice_rec\") VALUES");
		for (int r = 0; r < INSERT_MANY; r++) {
			rc |= sl__sq_add(&b, r ? ", (?, ?" : "(?, ?");
			for (size_t i = 0; i < sc->ncols; i++)
				rc |= sl__sq_add(&b, ", ?");
			rc |= sl__sq_add(&b, ")");
		}
		rc |= sl_buf_append(&b, "", 1);
		if (rc) {
			rc = SL_NOMEM;
			goto out;
		}
		rc = sl__sq_prep(q, b.p, &q->ins_many);
	}
out:
	sl_buf_free(&b);
	return rc;
}

/* The target of sc (created or checked), and the table the job writes:
   the target itself (append), its shadow (replace) or its stage (atomic),
   which get the target's lookup indexes only when they become the table
   (store_sqlite_modes.c). */
int sl__sq_target_prepare(sl_sink *s, const sl_schema *sc, const char *job_id)
{
	sq_store *q = sq_of_sink(s);
	q->index_pending = false; /* this job's, set by the target's prepare_table */
	int rc = sl__sq_mode_table(sc->table, sc->mode, job_id, q->wtable, sizeof q->wtable);
	if (rc < 0)
		return rc;
	if (sc->mode == SL_MODE_ATOMIC && (rc = prepare_table(q, sc, job_id, sc->table, true)) < 0)
		return rc;
	sqlite3_finalize(q->in_target);
	q->in_target = NULL;
	if ((rc = prepare_table(q, sc, job_id, q->wtable, strcmp(q->wtable, sc->table) == 0)) < 0)
		return rc;
	/* atomic, keys not upserted: a key the target holds is a duplicate, as
	   it would be in append mode */
	if (sc->mode == SL_MODE_ATOMIC && sc->nkey && !q->upsert)
		rc = sl__sq_key_select(q, "SELECT 1 FROM ", sc->table, NULL, &q->in_target);
	return rc;
}

/* A REAL value; as its canonical text when the column is TEXT (an older
   table: see sl__sq_check_columns). A NaN binds as NULL: SQLite has no NaN. */
void sl__sq_bind_real(sqlite3_stmt *st, int p, const sl_column *c, double d, bool as_text)
{
	if (SL_LIKELY(!as_text)) {
		sqlite3_bind_double(st, p, d);
		return;
	}
	char buf[48];
	size_t n = c->type == SL_TYPE_DECIMAL ? sl_decimal_real_format(c, d, buf)
	                                      : sl_double_format(d, buf);
	sqlite3_bind_text(st, p, buf, (int)n, SQLITE_TRANSIENT);
}

/* Bind one row's parameters from *p on; returns the next parameter. */
static int bind_row(sq_store *q, sqlite3_stmt *st, int p, const sl_value *v, uint64_t rec)
{
	for (size_t i = 0; i < q->schema->ncols; i++, p++) {
		switch (v[i].kind) {
		case SL_VALUE_INT:
			sqlite3_bind_int64(st, p, v[i].i);
			break;
		case SL_VALUE_TEXT:
			sqlite3_bind_text(st, p, v[i].s.p, (int)v[i].s.n, SQLITE_STATIC);
			break;
		case SL_VALUE_REAL:
			sl__sq_bind_real(st, p, &q->schema->cols[i], v[i].d, q->real_as_text[i]);
			break;
		default:
			sqlite3_bind_null(st, p);
		}
	}
	sqlite3_bind_text(st, p++, q->job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, p++, (int64_t)rec);
	return p;
}

/* Bind the key columns of v from parameter p on. */
static void bind_key(const sl_schema *sc, sqlite3_stmt *st, int p, const sl_value *v)
{
	for (size_t k = 0; k < sc->nkey; k++, p++) {
		const sl_value *x = &v[sc->key[k]];
		if (x->kind == SL_VALUE_INT)
			sqlite3_bind_int64(st, p, x->i);
		else if (x->kind == SL_VALUE_TEXT)
			sqlite3_bind_text(st, p, x->s.p, (int)x->s.n, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, p);
	}
}

int sl__sq_key_select(sq_store *q, const char *what, const char *table, const char *table2,
                      sqlite3_stmt **out)
{
	const sl_schema *sc = q->schema;
	sl_buf b;
	int rc = 0;
	sl_buf_init(&b, 1 << 16);
	for (int t = 0; t < (table2 ? 2 : 1); t++) {
		rc |= sl__sq_add(&b, t ? " UNION ALL " : "") | sl__sq_add(&b, what) |
		      sl__sq_add_ident(&b, t ? table2 : table) | sl__sq_add(&b, " WHERE ");
		for (size_t k = 0; k < sc->nkey; k++) {
			char p[32];
			snprintf(p, sizeof p, " = ?%zu", k + 1);
			rc |= sl__sq_add(&b, k ? " AND " : "") |
			      sl__sq_add_ident(&b, sc->cols[sc->key[k]].name) | sl__sq_add(&b, p);
		}
	}
	rc |= sl__sq_add(&b, " LIMIT 1") | sl_buf_append(&b, "", 1);
	rc = rc ? SL_NOMEM : sl__sq_prep(q, b.p, out);
	sl_buf_free(&b);
	return rc;
}

int sl__sq_target_insert(sq_store *q, const sl_value *v, uint64_t rec, bool *dup, bool *updated)
{
	sqlite3_stmt *st = q->ins_row;
	int64_t mark = 0;
	*updated = false;
	if (q->in_target) {
		bind_key(q->schema, q->in_target, 1, v);
		int r = sqlite3_step(q->in_target);
		sqlite3_reset(q->in_target);
		if (r == SQLITE_ROW) {
			*dup = true;
			return 0;
		}
		if (r != SQLITE_DONE)
			return sl__sq_map_rc(q, r);
	}
	/* An upsert's insert sets the last inserted rowid, its update does not
	   (nor does one the guard skips: the key held by a later record of
	   this job). So the rowid is set first to a value this row's insert
	   cannot give: an INTEGER key is the rowid, so not the key; any other
	   rowid SQLite gives is positive, so not above 0. */
	if (q->upsert) {
		const sl_value *k0 = &v[q->schema->key[0]];
		if (k0->kind == SL_VALUE_INT && k0->i <= 0)
			mark = k0->i == INT64_MIN ? k0->i + 1 : k0->i - 1;
		sqlite3_set_last_insert_rowid(q->db, mark);
	}
	bind_row(q, st, 1, v, rec);
	int rc = sl__sq_step_done(q, st);
	*dup = rc == 0 && q->schema->nkey && !q->upsert && sqlite3_changes(q->db) == 0;
	*updated = rc == 0 && q->upsert && sqlite3_last_insert_rowid(q->db) == mark;
	return rc;
}

int sl__sq_target_key_owner(sl_sink *s, const sl_value *v, char job[SL_JOB_ID_LEN], uint64_t *rec)
{
	sq_store *q = sq_of_sink(s);
	const sl_schema *sc = q->schema;
	int rc = 0;
	job[0] = 0;
	/* the table the job writes; atomic: the target first (another job's
	   row), then the stage (an earlier record of this job) */
	bool both = strcmp(q->wtable, sc->table) && sc->mode == SL_MODE_ATOMIC;
	if (!q->key_owner &&
	    (rc = sl__sq_key_select(q, "SELECT \"_sluice_job\", \"_sluice_rec\" FROM ",
	                            both ? sc->table : q->wtable, both ? q->wtable : NULL,
	                            &q->key_owner)) < 0)
		return rc;
	sqlite3_stmt *st = q->key_owner;
	bind_key(sc, st, 1, v);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		snprintf(job, SL_JOB_ID_LEN, "%s", t ? (const char *)t : "");
		*rec = (uint64_t)sqlite3_column_int64(st, 1);
	} else {
		rc = sl__sq_map_rc(q, r);
	}
	sqlite3_reset(st);
	return rc;
}

int sl__sq_target_insert_many(sq_store *q, const sl_value *const *vals, const uint64_t *recs,
                              size_t n)
{
	size_t i = 0;
	int rc = 0;
	for (; q->ins_many && i + INSERT_MANY <= n && rc == 0; i += INSERT_MANY) {
		int p = 1;
		for (size_t r = 0; r < INSERT_MANY; r++)
			p = bind_row(q, q->ins_many, p, vals[i + r], recs[i + r]);
		rc = sl__sq_step_done(q, q->ins_many);
	}
	for (; i < n && rc == 0; i++) {
		bool dup, upd;
		rc = sl__sq_target_insert(q, vals[i], recs[i], &dup, &upd);
	}
	return rc;
}

/* The row of this job with the key of r's values takes them and r's
   record (an earlier record displacing a later one: determinism without
   ordered commits, chunk_write.c). */
int sl__sq_target_replace(sl_sink *s, const sl_sink_row *r)
{
	sq_store *q = sq_of_sink(s);
	const sl_schema *sc = q->schema;
	int rc = 0;
	if (!q->replace_row) {
		sl_buf b;
		sl_buf_init(&b, 1 << 16);
		rc = sl__sq_add(&b, "UPDATE ") | sl__sq_add_ident(&b, q->wtable) |
		     sl__sq_add(&b, " SET ");
		for (size_t i = 0; i < sc->ncols; i++)
			rc |= sl__sq_add_ident(&b, sc->cols[i].name) | sl__sq_add(&b, " = ?, ");
		rc |= sl__sq_add(&b, "\"_sluice_job\" = ?, \"_sluice_rec\" = ? WHERE ");
		for (size_t k = 0; k < sc->nkey; k++)
			rc |= sl__sq_add(&b, k ? " AND " : "") |
			      sl__sq_add_ident(&b, sc->cols[sc->key[k]].name) |
			      sl__sq_add(&b, " = ?");
		rc |= sl_buf_append(&b, "", 1);
		rc = rc ? SL_NOMEM : sl__sq_prep(q, b.p, &q->replace_row);
		sl_buf_free(&b);
		if (rc < 0)
			return rc;
	}
	sqlite3_stmt *st = q->replace_row;
	bind_key(sc, st, bind_row(q, st, 1, r->vals, r->record), r->vals);
	rc = sl__sq_step_done(q, st);
	if (rc == 0 && sqlite3_changes(q->db) != 1) {
		snprintf(q->err, sizeof q->err, "no row of table %s with the key to replace",
		         q->wtable);
		rc = SL_INTERNAL;
	}
	return rc;
}

int sl__sq_target_delete_job(sl_sink *s, const char *table, const char *job_id, uint64_t *rows)
{
	sq_store *q = sq_of_sink(s);
	sl_buf b;
	sqlite3_stmt *st = NULL;
	sl_buf_init(&b, 4096);
	int rc = sl__sq_add(&b, "DELETE FROM ") | sl__sq_add_ident(&b, table) |
	         sl__sq_add(&b, " WHERE \"_sluice_job\" = ?") | sl_buf_append(&b, "", 1);
	if (rc) {
		rc = SL_NOMEM;
		goto out;
	}
	if ((rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, b.p, -1, &st, NULL))) < 0)
		goto out;
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	rc = sl__sq_map_rc(q, sqlite3_step(st));
	*rows = rc == 0 ? (uint64_t)sqlite3_changes64(q->db) : 0;
	if (rc == 0) /* and what it staged in another load mode */
		rc = sl__sq_mode_drop(q, table, job_id, rows);
out:
	sqlite3_finalize(st);
	sl_buf_free(&b);
	return rc;
}
