/*
 * The SQLite sink's load modes (docs/ingest.md, Load modes): where a job of
 * each mode writes its rows, and what makes them the table's when the job
 * finishes, inside the transaction that finishes it (the one that commits
 * its last chunk, chunk_run.c), so a kill -9 before that commit leaves the
 * target as it was and the resume does it again.
 *
 *   append   rows go into the target as each chunk commits;
 *   replace  into a shadow table "_sluice_shadow_<table>_<job>", created
 *            from the schema; at the finish the target is dropped and the
 *            shadow renamed to it, then given the schema's lookup indexes
 *            (built once on the full table, cheaper than kept up per row);
 *   atomic   into a stage "_sluice_stage_<table>_<job>"; at the finish the
 *            stage's rows are inserted into the target in key order (an
 *            upsert with on_duplicate: update) and the stage dropped.
 *
 * Duplicates in atomic mode are found as an append load finds them: a key
 * the target holds is a duplicate (store_sqlite_target.c checks it before
 * the stage), a key an earlier record of the job staged is one too (the
 * stage's own key). A key another job loads into the target after it was
 * staged would make the merge load it twice: the merge refuses
 * (MODE_CONFLICT) and the target stays as it was.
 *
 * The shadow and the stage are real tables: they outlive a kill, a failed
 * or a cancelled job (so `sluice retry` continues them), and go when the
 * job is rolled back (sl__sq_mode_drop, from delete_job).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_sqlite_int.h"

static const char shadow_prefix[] = "_sluice_shadow_", stage_prefix[] = "_sluice_stage_";

int sl__sq_mode_table(const char *table, sl_load_mode mode, const char *job_id, char *out, size_t n)
{
	const char *pre = mode == SL_MODE_REPLACE  ? shadow_prefix
	                  : mode == SL_MODE_ATOMIC ? stage_prefix
	                                           : NULL;
	int w =
	    pre ? snprintf(out, n, "%s%s_%s", pre, table, job_id) : snprintf(out, n, "%s", table);
	return w < 0 || (size_t)w >= n ? SL_CONFIG : 0;
}

/* Run sql (a statement with no result rows) made of parts. */
static int exec_buf(sq_store *q, sl_buf *b)
{
	if (sl_buf_append(b, "", 1) < 0)
		return SL_NOMEM;
	return sl__sq_exec(q, b->p);
}

static int add_cols(sl_buf *b, const sl_schema *sc, const char *pre)
{
	int rc = 0;
	for (size_t i = 0; i < sc->ncols; i++)
		rc |= sl__sq_add(b, pre) | sl__sq_add_ident(b, sc->cols[i].name) |
		      sl__sq_add(b, ", ");
	return rc | sl__sq_add(b, pre) | sl__sq_add(b, "\"_sluice_job\", ") | sl__sq_add(b, pre) |
	       sl__sq_add(b, "\"_sluice_rec\"");
}

static int add_key(sl_buf *b, const sl_schema *sc)
{
	int rc = 0;
	for (size_t k = 0; k < sc->nkey; k++)
		rc |=
		    (k ? sl__sq_add(b, ", ") : 0) | sl__sq_add_ident(b, sc->cols[sc->key[k]].name);
	return rc;
}

/* The shadow becomes the target: old table gone, indexes on the new one. */
static int swap_in(sq_store *q, const sl_schema *sc)
{
	sl_buf b;
	sl_buf_init(&b, 1 << 16);
	int rc = sl__sq_add(&b, "DROP TABLE IF EXISTS ") | sl__sq_add_ident(&b, sc->table) |
	         sl__sq_add(&b, "; ALTER TABLE ") | sl__sq_add_ident(&b, q->wtable) |
	         sl__sq_add(&b, " RENAME TO ") | sl__sq_add_ident(&b, sc->table);
	rc = rc ? SL_NOMEM : exec_buf(q, &b);
	if (rc == 0)
		rc = sl__sq_records_indexes(q, sc);
	sl_buf_free(&b);
	return rc;
}

/* Staged keys that the target holds now (another job loaded them after
   they were staged). */
static int clashes(sq_store *q, const sl_schema *sc, int64_t *n)
{
	sl_buf b;
	sqlite3_stmt *st = NULL;
	sl_buf_init(&b, 1 << 16);
	int rc = sl__sq_add(&b, "SELECT count(*) FROM ") | sl__sq_add_ident(&b, q->wtable) |
	         sl__sq_add(&b, " AS s WHERE EXISTS (SELECT 1 FROM ") |
	         sl__sq_add_ident(&b, sc->table) | sl__sq_add(&b, " AS t WHERE ");
	for (size_t k = 0; k < sc->nkey; k++)
		rc |= sl__sq_add(&b, k ? " AND t." : "t.") |
		      sl__sq_add_ident(&b, sc->cols[sc->key[k]].name) | sl__sq_add(&b, " = s.") |
		      sl__sq_add_ident(&b, sc->cols[sc->key[k]].name);
	rc |= sl__sq_add(&b, ")") | sl_buf_append(&b, "", 1);
	rc = rc ? SL_NOMEM : sl__sq_prep(q, b.p, &st);
	*n = 0;
	if (rc == 0) {
		int r = sqlite3_step(st);
		if (r == SQLITE_ROW)
			*n = sqlite3_column_int64(st, 0);
		else
			rc = sl__sq_map_rc(q, r);
	}
	sqlite3_finalize(st);
	sl_buf_free(&b);
	return rc;
}

/* The stage's rows join the target, in key order (each index leaf fetched
   once); then the stage goes. */
static int merge_in(sq_store *q, const sl_schema *sc)
{
	int64_t n = 0;
	int rc = sc->nkey && !q->upsert ? clashes(q, sc, &n) : 0;
	if (rc < 0)
		return rc;
	if (n > 0) {
		snprintf(q->err, sizeof q->err,
		         "%" PRId64
		         " staged keys were loaded into table %s by another job while this "
		         "one ran: nothing merged",
		         n, sc->table);
		return SL_MODE_CONFLICT;
	}
	sl_buf b;
	sl_buf_init(&b, 1 << 16);
	/* OR FAIL: no statement journal. In a statement that may abort, each
	   target page the merge changes, and each dirty page of the last chunk
	   it spills to the WAL, is first copied to that journal (a temp file
	   past 64 KiB since temp_store=FILE; with MEMORY it held them all: 159
	   MB at the peak of a 1M-row keyed load, against append's 118 MB). A
	   failed merge fails the transaction, which the caller rolls back
	   whole, so nothing needs the statement's own undo. (An upsert's DO
	   UPDATE still takes one: SQLite runs it as OR ABORT.) */
	rc = sl__sq_add(&b, "INSERT OR FAIL INTO ") | sl__sq_add_ident(&b, sc->table) |
	     sl__sq_add(&b, "(") | add_cols(&b, sc, "") | sl__sq_add(&b, ") SELECT ") |
	     add_cols(&b, sc, "") | sl__sq_add(&b, " FROM ") | sl__sq_add_ident(&b, q->wtable) |
	     sl__sq_add(&b, " WHERE true");
	if (sc->nkey)
		rc |= sl__sq_add(&b, " ORDER BY ") | add_key(&b, sc);
	if (sc->nkey && q->upsert) {
		/* the target holds no row of this job: staged rows win */
		rc |= sl__sq_add(&b, " ON CONFLICT(") | add_key(&b, sc) |
		      sl__sq_add(&b, ") DO UPDATE SET ");
		for (size_t i = 0; i < sc->ncols; i++)
			rc |= sl__sq_add_ident(&b, sc->cols[i].name) |
			      sl__sq_add(&b, " = excluded.") |
			      sl__sq_add_ident(&b, sc->cols[i].name) | sl__sq_add(&b, ", ");
		rc |=
		    sl__sq_add(&b, "\"_sluice_job\" = excluded.\"_sluice_job\", \"_sluice_rec\" = "
		                   "excluded.\"_sluice_rec\"");
	}
	rc |= sl__sq_add(&b, "; DROP TABLE ") | sl__sq_add_ident(&b, q->wtable);
	rc = rc ? SL_NOMEM : exec_buf(q, &b);
	sl_buf_free(&b);
	return rc;
}

int sl__sq_sink_finish(sl_sink *k)
{
	sq_store *q = sq_of_sink(k);
	const sl_schema *sc = q->schema;
	if (!sc)
		return 0;
	/* append: the rows are in the table already. Otherwise the job's
	   statements stay prepared (all reset: none blocks the DROP): when
	   this transaction rolls back (a busy commit, then the chunk's retry)
	   they write into the restored shadow or stage again; once it commits
	   the job writes no more, and the next prepare() makes new ones. */
	int rc = !strcmp(q->wtable, sc->table) ? 0
	         : sc->mode == SL_MODE_REPLACE ? swap_in(q, sc)
	                                       : merge_in(q, sc);
	/* then the lookup indexes the target lacked (append, atomic; a
	   replace's new table got its own in swap_in) */
	return rc < 0 ? rc : sl__sq_target_finish(k);
}

/* A rolled back job's shadow or stage, when it has one: its rows counted
   into *rows, the table dropped. */
int sl__sq_mode_drop(sq_store *q, const char *table, const char *job_id, uint64_t *rows)
{
	static const sl_load_mode modes[] = {SL_MODE_REPLACE, SL_MODE_ATOMIC};
	int rc = 0;
	for (size_t m = 0; m < 2 && rc == 0; m++) {
		char name[SL_MODE_TABLE_MAX];
		sqlite3_stmt *st = NULL;
		if (sl__sq_mode_table(table, modes[m], job_id, name, sizeof name) < 0)
			continue; /* too long a name: never created */
		rc = sl__sq_prep(
		    q, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", &st);
		if (rc < 0)
			break;
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		int have = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
		sqlite3_finalize(st);
		st = NULL;
		if (!have)
			continue;
		sl_buf b;
		sl_buf_init(&b, 4096);
		rc = sl__sq_add(&b, "SELECT count(*) FROM ") | sl__sq_add_ident(&b, name) |
		     sl_buf_append(&b, "", 1);
		rc = rc ? SL_NOMEM : sl__sq_prep(q, b.p, &st);
		if (rc == 0 && sqlite3_step(st) == SQLITE_ROW)
			*rows += (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		sl_buf_reset(&b);
		if (rc == 0) {
			rc = sl__sq_add(&b, "DROP TABLE ") | sl__sq_add_ident(&b, name);
			rc = rc ? SL_NOMEM : exec_buf(q, &b);
		}
		sl_buf_free(&b);
	}
	return rc;
}
