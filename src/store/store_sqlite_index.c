/*
 * The SQLite store's lookup indexes during a load: left out while a job
 * loads into a table that lacks them, and built in one go, in the
 * transaction that commits the job's last chunk (or, when the job stops
 * early, in the job's end).
 *
 * Why: an `index: true` column holds values in no useful order (caller ids,
 * recipients), so an index kept up row by row inserts each entry into a
 * random leaf of a B-tree that outgrows the page cache: 5M CDR rows with two
 * such indexes and the job index took 65 s, against 11 s without them.
 * CREATE INDEX on the loaded table reads it once and writes each index in
 * order from a sort (about 3 s per index on the same rows).
 *
 * The rule (target_prepare, then target_finish):
 *  - an empty table (new, or emptied by a rollback) has its lookup indexes
 *    dropped at prepare, so nothing is kept up row by row;
 *  - whenever a lookup index is missing at prepare (the above, or a job
 *    killed before its end, or a schema that gained `index: true`), the
 *    store builds it at target_finish, which the engine calls in the
 *    transaction of the chunk commit that leaves no chunk of the job
 *    queued, and again in the job's end (a failed or cancelled job, whose
 *    last commit was not a chunk's). CREATE INDEX IF NOT EXISTS makes the
 *    second call, and a concurrent job's, a no-op;
 *  - a table that has its indexes keeps them up as before.
 * So a reader sees the job's last rows and the indexes appear in the same
 * commit; a kill -9 after that commit leaves both; a kill -9 before it
 * leaves a table without the indexes (queries scan, results are the same)
 * until the resumed job, or any later job on the table, ends.
 *
 * Memory: with temp_store=MEMORY SQLite's sorter keeps the whole sort in
 * memory (365 MB for one index on 5M rows), so the build sorts through temp
 * files (SQLite's temp directory: SQLITE_TMPDIR, TMPDIR, /var/tmp, /tmp;
 * about the index's size; the connection's temp_store is FILE too now,
 * store_sqlite.c, but the build does not rely on it) and a small cache,
 * whose size the sorter's runs follow, and puts the connection's settings
 * back after. Measured on 5M CDR rows (shared 2 cores): runs of 4 MiB on the
 * calling thread peaked at 122 MB for the whole ingest (128 MB is the
 * budget), 8 MiB runs with PRAGMA threads=1 at 134 MB for no clear gain in
 * time on 2 busy cores; the sqlite3 shell alone, one index: 4 MiB runs
 * 3.3 s and 13 MB, 16 MiB 3.3 s and 37 MB, 48 MiB 5.1 s and 103 MB.
 */
#include <stdio.h>
#include <string.h>

#include "store/store_sqlite_int.h"

/* The settings of an index build (the connection's are read and put back). */
#define BUILD_PRAGMAS "PRAGMA temp_store=FILE; PRAGMA cache_size=-4096;"

void sl__sq_index_name(char *out, size_t n, const char *kind, const char *table, const char *col)
{
	snprintf(out, n, "sluice_%s_%zu_%s%s%s", kind, strlen(table), table, col ? "_" : "",
	         col ? col : "");
}

/* The value of an integer pragma (temp_store, cache_size). */
static int pragma_get(sq_store *q, const char *name, long long *v)
{
	char sql[64];
	sqlite3_stmt *st = NULL;
	snprintf(sql, sizeof sql, "PRAGMA %s", name);
	int rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, sql, -1, &st, NULL));
	if (rc == 0) {
		int r = sqlite3_step(st);
		if (r == SQLITE_ROW)
			*v = sqlite3_column_int64(st, 0);
		else
			rc = r == SQLITE_DONE ? SL_INTERNAL : sl__sq_map_rc(q, r);
	}
	sqlite3_finalize(st);
	return rc;
}

/* 1 when the table has no row (or does not exist), 0 when it has one. */
static int table_empty(sq_store *q, const char *table)
{
	sl_buf b;
	sqlite3_stmt *st = NULL;
	int rc;
	sl_buf_init(&b, 4096);
	if (sl__sq_add(&b, "SELECT 1 FROM ") | sl__sq_add_ident(&b, table) |
	    sl__sq_add(&b, " LIMIT 1") | sl_buf_append(&b, "", 1)) {
		rc = SL_NOMEM;
		goto out;
	}
	if ((rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, b.p, -1, &st, NULL))) < 0)
		goto out;
	int r = sqlite3_step(st);
	rc = r == SQLITE_ROW ? 0 : r == SQLITE_DONE ? 1 : sl__sq_map_rc(q, r);
out:
	sqlite3_finalize(st);
	sl_buf_free(&b);
	return rc;
}

/* The lookup indexes sl__sq_records_indexes makes for sc: how many exist. */
static int indexes_present(sq_store *q, const sl_schema *sc, int *want)
{
	sqlite3_stmt *st = NULL;
	int have = 0, rc;
	*want = 0;
	rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db,
	                                         "SELECT count(*) FROM sqlite_master WHERE type = "
	                                         "'index' AND tbl_name = ? AND name = ?",
	                                         -1, &st, NULL));
	for (size_t i = 0; rc == 0 && i <= sc->ncols; i++) {
		char n[256];
		/* i == ncols: the job index, made when any column asks for lookups */
		if (i < sc->ncols && (!sc->cols[i].index || (sc->nkey && sc->key[0] == i)))
			continue;
		if (i == sc->ncols && *want == 0)
			break; /* no lookups, no job index */
		sl__sq_index_name(n, sizeof n, i < sc->ncols ? "ix" : "job", sc->table,
		                  i < sc->ncols ? sc->cols[i].name : NULL);
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, sc->table, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, n, -1, SQLITE_TRANSIENT);
		int r = sqlite3_step(st);
		if (r != SQLITE_ROW) {
			rc = sl__sq_map_rc(q, r);
			break;
		}
		have += sqlite3_column_int(st, 0) > 0;
		(*want)++;
	}
	sqlite3_finalize(st);
	return rc < 0 ? rc : have;
}

/* Drop the lookup indexes of an empty table, in one transaction with the
   check that it is empty: a concurrent job's first commit either came
   before (the table is not empty: nothing dropped) or waits for this. */
static int drop_if_empty(sq_store *q, const sl_schema *sc)
{
	int rc = sl__sq_exec(q, "BEGIN IMMEDIATE");
	if (rc < 0)
		return rc;
	rc = table_empty(q, sc->table);
	for (size_t i = 0; rc == 1 && i <= sc->ncols; i++) {
		char n[256];
		sl_buf b;
		if (i < sc->ncols && !sc->cols[i].index)
			continue;
		sl__sq_index_name(n, sizeof n, i < sc->ncols ? "ix" : "job", sc->table,
		                  i < sc->ncols ? sc->cols[i].name : NULL);
		sl_buf_init(&b, 1024);
		if (sl__sq_add(&b, "DROP INDEX IF EXISTS ") | sl__sq_add_ident(&b, n) |
		    sl_buf_append(&b, "", 1))
			rc = SL_NOMEM;
		else if ((rc = sl__sq_exec(q, b.p)) == 0)
			rc = 1;
		sl_buf_free(&b);
	}
	if (rc >= 0)
		rc = sl__sq_exec(q, "COMMIT");
	if (rc < 0)
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int sl__sq_index_prepare(sq_store *q, const sl_schema *sc)
{
	int want = 0, rc;
	q->index_pending = false;
	if ((rc = indexes_present(q, sc, &want)) < 0 || want == 0)
		return rc < 0 ? rc : 0;
	if (rc > 0 && (rc = drop_if_empty(q, sc)) < 0)
		return rc;
	if ((rc = indexes_present(q, sc, &want)) < 0)
		return rc;
	q->index_pending = rc < want;
	return 0;
}

int sl__sq_target_finish(sl_sink *s)
{
	sq_store *q = sq_of_sink(s);
	if (!q->index_pending || !q->schema)
		return 0;
	long long temp = 0, cache = 0;
	char back[128];
	int rc = pragma_get(q, "temp_store", &temp);
	if (rc == 0)
		rc = pragma_get(q, "cache_size", &cache);
	if (rc < 0)
		return rc;
	snprintf(back, sizeof back, "PRAGMA temp_store=%lld; PRAGMA cache_size=%lld;", temp, cache);
	rc = sl__sq_exec(q, BUILD_PRAGMAS);
	if (rc == 0)
		rc = sl__sq_records_indexes(q, q->schema);
	/* the connection's settings back, whatever the build did; a failure
	   there is the one reported only when the build went well */
	int r2 = sl__sq_exec(q, back);
	return rc < 0 ? rc : r2;
}
