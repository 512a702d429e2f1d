/*
 * The SQLite store's part of fix and refeed (docs/ingest.md, "Fix and
 * refeed"): which rejected rows a refeed job took, and which of them it
 * loaded.
 *
 * Tables (made when missing, at open):
 *   sluice_refeeds(job_id, refeed_of, header, rows, created_ms, settled_ms,
 *     bytes, fingerprint): a refeed job, the job whose rejects it reads, its
 *     input's header bytes (a refeed of a refeed starts its input with
 *     them), when it was last settled, its input's size and XXH3-64.
 *   sluice_rejects_resolved(job_id, n): a job's rejects loaded by refeeds.
 *   Five columns of sluice_rejects (ALTER TABLE on an older database):
 *     refeed_by, refeed_record, refeed_offset: the refeed job that holds the
 *     row now, the row's record number in that job's input and the offset
 *     of its first byte there (a live claim: no other refeed may take the
 *     row, or a copy of it, until that job settles the record; the input
 *     is read by offset, as a source: refeed.c);
 *     resolved_by: the refeed job that loaded the row; origin: for a reject
 *     of a refeed job, the id of the first job's reject it is a copy of.
 *
 * A row and its copies (the rejects of refeeds of refeeds) are one family:
 * the first job's reject and every reject whose origin is its id. A family
 * is loaded at most once: a claim takes a row only when no member of its
 * family is claimed, and a load marks every member resolved.
 *
 * Settling (in the transaction that ends the refeed job, or rolls it back):
 * the records of its input in its Succeeded chunks were read: those without
 * a reject of the refeed job loaded (their families are resolved), the
 * others were rejected again (their copy in the refeed job gets its origin)
 * and are released; records of Failed or Queued chunks stay claimed until a
 * retry settles them; with no chunks at all (the job failed before its
 * plan) every claim is released. A rolled-back refeed gives back what it resolved and
 * releases every claim. The marks depend only on which records the refeed
 * rejected, not on thread count or chunk order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_sqlite_int.h"

static const char refeed_ddl[] =
    "CREATE TABLE IF NOT EXISTS sluice_refeeds(job_id TEXT PRIMARY KEY, refeed_of TEXT NOT NULL,"
    " header BLOB, rows INTEGER, created_ms INTEGER, settled_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS sluice_refeeds_of ON sluice_refeeds(refeed_of);"
    "CREATE TABLE IF NOT EXISTS sluice_rejects_resolved(job_id TEXT PRIMARY KEY,"
    " n INTEGER NOT NULL) WITHOUT ROWID;";
static const char *const reject_cols[] = {"refeed_by TEXT", "refeed_record INTEGER",
                                          "resolved_by TEXT", "origin INTEGER"};
static const char reject_idx[] =
    "CREATE INDEX IF NOT EXISTS sluice_rejects_claim ON sluice_rejects(refeed_by,"
    " refeed_record) WHERE refeed_by IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS sluice_rejects_origin ON sluice_rejects(origin)"
    " WHERE origin IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS sluice_rejects_resolved_by ON sluice_rejects(resolved_by)"
    " WHERE resolved_by IS NOT NULL;";

/* Several files as one job (docs/ingest.md, Several files): the job's
   manifest (sluice_jobs.files) and the file a reject is in
   (sluice_rejects.file), added to a database made before them. */
int sl__sq_files_schema(sq_store *q)
{
	static const char *const job_col[] = {"files TEXT"}, *const rej_col[] = {"file TEXT"};
	int rc;
	if (sl__sq_count(q, "SELECT count(*) FROM pragma_table_info('sluice_rejects') WHERE name = "
	                    "'file'"))
		return 0;
	if ((rc = sl__sq_exec(q, "BEGIN IMMEDIATE")) < 0)
		return rc;
	if ((rc = sl__sq_add_columns(q, "sluice_jobs", job_col, 1)) < 0 ||
	    (rc = sl__sq_add_columns(q, "sluice_rejects", rej_col, 1)) < 0) {
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	return sl__sq_exec(q, "COMMIT");
}

static int refeed_source_schema(sq_store *q);

int sl__sq_refeed_schema(sq_store *q)
{
	int rc;
	if (sl__sq_count(q, "SELECT count(*) FROM sqlite_master WHERE name = "
	                    "'sluice_rejects_resolved_by'"))
		return refeed_source_schema(q);
	if ((rc = sl__sq_exec(q, "BEGIN IMMEDIATE")) < 0)
		return rc;
	if ((rc = sl__sq_exec(q, refeed_ddl)) < 0)
		goto fail;
	if ((rc = sl__sq_add_columns(q, "sluice_rejects", reject_cols, SL_ARRAY_LEN(reject_cols))) <
	    0)
		goto fail;
	if ((rc = sl__sq_exec(q, reject_idx)) < 0)
		goto fail;
	if ((rc = sl__sq_exec(q, "COMMIT")) < 0)
		return rc;
	return refeed_source_schema(q);
fail:
	sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* The input read by offset (a database with refeeds claimed before has
   neither: their inputs are files). */
static int refeed_source_schema(sq_store *q)
{
	static const char *const rej[] = {"refeed_offset INTEGER"};
	static const char *const ref[] = {"bytes INTEGER", "fingerprint INTEGER"};
	int rc;
	if (sl__sq_count(q, "SELECT count(*) FROM pragma_table_info('sluice_rejects') WHERE name = "
	                    "'refeed_offset'"))
		return 0;
	if ((rc = sl__sq_exec(q, "BEGIN IMMEDIATE")) < 0)
		return rc;
	if ((rc = sl__sq_add_columns(q, "sluice_rejects", rej, SL_ARRAY_LEN(rej))) < 0 ||
	    (rc = sl__sq_add_columns(q, "sluice_refeeds", ref, SL_ARRAY_LEN(ref))) < 0 ||
	    (rc = sl__sq_exec(q, "CREATE INDEX IF NOT EXISTS sluice_rejects_refeed_offset ON"
	                         " sluice_rejects(refeed_by, refeed_offset) WHERE refeed_by IS"
	                         " NOT NULL")) < 0)
		goto fail;
	return sl__sq_exec(q, "COMMIT");
fail:
	sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int sl__sq_refeed_fill(sq_store *q, sl_job *j)
{
	sqlite3_stmt *st = NULL;
	int rc = sl__sq_map_rc(
	    q, sqlite3_prepare_v2(q->db,
	                          "SELECT (SELECT refeed_of FROM sluice_refeeds WHERE job_id = ?1),"
	                          " (SELECT n FROM sluice_rejects_resolved WHERE job_id = ?1)",
	                          -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
		int r = sqlite3_step(st);
		if (r == SQLITE_ROW) {
			const unsigned char *of = sqlite3_column_text(st, 0);
			snprintf(j->refeed_of, sizeof j->refeed_of, "%s",
			         of ? (const char *)of : "");
			j->rejects_resolved = (uint64_t)sqlite3_column_int64(st, 1);
		} else {
			rc = sl__sq_map_rc(q, r);
		}
	}
	sqlite3_finalize(st);
	return rc;
}

/* Run one statement with up to three text parameters (NULL: none). */
static int run(sq_store *q, const char *sql, const char *a, const char *b, int64_t c)
{
	sqlite3_stmt *st = NULL;
	int rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, sql, -1, &st, NULL));
	if (rc == 0) {
		if (a)
			sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
		if (b)
			sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
		if (c >= 0)
			sqlite3_bind_int64(st, 3, c);
		rc = sl__sq_map_rc(q, sqlite3_step(st));
	}
	sqlite3_finalize(st);
	return rc;
}

int sl__sq_refeed_claim(sl_jobstore *s, const char *job_id, const char *new_id, sl_str header,
                        sl_refeed_input *out)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	memset(out, 0, sizeof *out);
	/* open, whole, and no member of its family held by another refeed */
	int rc = run(q,
	             "UPDATE sluice_rejects AS r SET refeed_by = ?2, refeed_record = NULL"
	             " WHERE r.job_id = ?1 AND r.resolved_by IS NULL AND r.refeed_by IS NULL"
	             " AND r.code <> 'CSV_ROW_TOO_LONG' AND NOT EXISTS (SELECT 1 FROM"
	             " sluice_rejects o WHERE (o.id = coalesce(r.origin, r.id) OR o.origin ="
	             " coalesce(r.origin, r.id)) AND o.refeed_by IS NOT NULL AND o.id <> r.id)",
	             job_id, new_id, -1);
	if (rc == 0 && (uint64_t)sqlite3_changes64(q->db) == 0)
		return 0;
	/* numbered in record order, each at the byte after the rows before it
	   (a row is its raw bytes and a line feed; raw as bytes, not characters) */
	if (rc == 0)
		rc = run(q,
		         "UPDATE sluice_rejects SET refeed_record = n.k, refeed_offset = n.o FROM"
		         " (SELECT id, row_number() OVER w AS k, ?3 + sum(coalesce(length(CAST(raw"
		         " AS BLOB)), 0) + 1) OVER w - coalesce(length(CAST(raw AS BLOB)), 0) - 1"
		         " AS o FROM sluice_rejects WHERE refeed_by = ?2 WINDOW w AS (ORDER BY"
		         " record, id)) AS n WHERE sluice_rejects.id = n.id",
		         NULL, new_id, (int64_t)header.n);
	/* the input's fingerprint: its bytes as a reader will see them */
	sl_refeed_fp fp = {NULL};
	if (rc == 0 && sl__refeed_fp_begin(&fp, header, out) < 0)
		rc = SL_NOMEM;
	if (rc == 0)
		rc = sl__sq_map_rc(
		    q, sqlite3_prepare_v2(q->db,
		                          "SELECT CAST(raw AS BLOB) FROM sluice_rejects WHERE"
		                          " refeed_by = ? ORDER BY refeed_record",
		                          -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, new_id, -1, SQLITE_STATIC);
		int r;
		while ((r = sqlite3_step(st)) == SQLITE_ROW)
			sl__refeed_fp_row(&fp, out, sqlite3_column_blob(st, 0),
			                  (size_t)sqlite3_column_bytes(st, 0));
		if (r != SQLITE_DONE)
			rc = sl__sq_map_rc(q, r);
	}
	sqlite3_finalize(st);
	st = NULL;
	sl__refeed_fp_end(&fp, out);
	if (rc == 0) {
		out->created_ms = sl_now_ms();
		rc = sl__sq_map_rc(
		    q,
		    sqlite3_prepare_v2(q->db,
		                       "INSERT INTO sluice_refeeds(job_id, refeed_of, header, rows,"
		                       " created_ms, bytes, fingerprint) VALUES(?1, ?2, ?3, ?4, ?5,"
		                       " ?6, ?7)",
		                       -1, &st, NULL));
	}
	if (rc == 0) {
		sqlite3_bind_text(st, 1, new_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, job_id, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, header.p ? header.p : "", (int)header.n, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (int64_t)out->rows);
		sqlite3_bind_int64(st, 5, out->created_ms);
		sqlite3_bind_int64(st, 6, (int64_t)out->bytes);
		sqlite3_bind_int64(st, 7, (int64_t)out->hash);
		rc = sl__sq_map_rc(q, sqlite3_step(st));
	}
	sqlite3_finalize(st);
	if (rc < 0)
		memset(out, 0, sizeof *out);
	return rc;
}

int sl__sq_refeed_input(sl_jobstore *s, const char *job_id, sl_refeed_input *out)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	memset(out, 0, sizeof *out);
	int rc = sl__sq_map_rc(
	    q, sqlite3_prepare_v2(q->db,
	                          "SELECT header, rows, coalesce(bytes, 0), coalesce(fingerprint,"
	                          " 0), created_ms FROM sluice_refeeds WHERE job_id = ?",
	                          -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
		int r = sqlite3_step(st);
		if (r == SQLITE_ROW) {
			size_t len = (size_t)sqlite3_column_bytes(st, 0);
			const void *p = sqlite3_column_blob(st, 0);
			if (!(out->header = malloc(len + 1))) {
				rc = SL_NOMEM;
			} else {
				if (len)
					memcpy(out->header, p, len);
				out->header[len] = 0;
				out->header_len = len;
				out->rows = (uint64_t)sqlite3_column_int64(st, 1);
				out->bytes = (uint64_t)sqlite3_column_int64(st, 2);
				out->hash = (uint64_t)sqlite3_column_int64(st, 3);
				out->created_ms = sqlite3_column_int64(st, 4);
				rc = 1;
			}
		} else {
			rc = sl__sq_map_rc(q, r);
		}
	}
	sqlite3_finalize(st);
	return rc;
}

int sl__sq_refeed_read(sl_jobstore *s, const char *job_id, uint64_t off, size_t max,
                       int (*cb)(void *ctx, uint64_t off, sl_str raw), void *ctx)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	/* the row holding off is the last one starting at or before it; both
	   halves walk the index on (refeed_by, refeed_offset) */
	int rc = sl__sq_map_rc(
	    q,
	    sqlite3_prepare_v2(
	        q->db,
	        "SELECT refeed_offset, CAST(raw AS BLOB) FROM sluice_rejects WHERE refeed_by = ?1"
	        " AND refeed_offset >= coalesce((SELECT max(refeed_offset) FROM sluice_rejects"
	        " WHERE refeed_by = ?1 AND refeed_offset <= ?2), 0) AND refeed_offset +"
	        " coalesce(length(CAST(raw AS BLOB)), 0) + 1 > ?2 ORDER BY refeed_offset",
	        -1, &st, NULL));
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)off);
	size_t given = 0;
	int r = SQLITE_DONE;
	while (given < max && (r = sqlite3_step(st)) == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(st, 1);
		const char *p = sqlite3_column_blob(st, 1);
		int k = cb(ctx, (uint64_t)sqlite3_column_int64(st, 0), sl_str_make(p ? p : "", n));
		if (k != 0) {
			rc = k < 0 ? k : 0;
			break;
		}
		given += n + 1;
	}
	if (rc == 0 && given < max && r != SQLITE_DONE && r != SQLITE_ROW)
		rc = sl__sq_map_rc(q, r);
	sqlite3_finalize(st);
	return rc;
}

/* The rows a statement's RETURNING job_id names, counted into
   sluice_rejects_resolved with `sign` (+1 resolved, -1 given back). */
static int count_resolved(sq_store *q, const char *sql, const char *id, int sign)
{
	sqlite3_stmt *st = NULL, *up = NULL;
	int rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, sql, -1, &st, NULL));
	if (rc == 0)
		rc = sl__sq_map_rc(
		    q, sqlite3_prepare_v2(
		           q->db,
		           "INSERT INTO sluice_rejects_resolved(job_id, n) VALUES(?1, ?2)"
		           " ON CONFLICT(job_id) DO UPDATE SET n = max(0, n + ?2)",
		           -1, &up, NULL));
	if (rc < 0)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	/* RETURNING rows come all before the statement's effect is final:
	   read them first, then count (few jobs: a family spans a chain) */
	enum { MAXJ = 64 };
	char jobs[MAXJ][SL_JOB_ID_LEN];
	int64_t cnt[MAXJ];
	size_t nj = 0;
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *j = (const char *)sqlite3_column_text(st, 0);
		size_t k = 0;
		while (k < nj && strcmp(jobs[k], j ? j : ""))
			k++;
		if (k == nj) {
			if (nj == MAXJ) {
				rc = SL_LIMIT;
				snprintf(q->err, sizeof q->err,
				         "a refeed resolves rows of more than %d jobs at once",
				         MAXJ);
				goto out;
			}
			snprintf(jobs[nj], sizeof jobs[nj], "%s", j ? j : "");
			cnt[nj++] = 0;
		}
		cnt[k] += sign;
	}
	if (r != SQLITE_DONE) {
		rc = sl__sq_map_rc(q, r);
		goto out;
	}
	for (size_t k = 0; k < nj && rc == 0; k++) {
		sqlite3_bind_text(up, 1, jobs[k], -1, SQLITE_STATIC);
		sqlite3_bind_int64(up, 2, cnt[k]);
		rc = sl__sq_step_done(q, up);
	}
out:
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	return rc;
}

/* A claim of refeed ?1 whose record lies in one of its Succeeded chunks. */
#define READ_BY_REFEED                                                                             \
	" EXISTS (SELECT 1 FROM sluice_chunks ch WHERE ch.job_id = ?1 AND ch.status = 'Succeeded'" \
	" AND p.refeed_record > ch.first_record AND p.refeed_record <= ch.first_record +"          \
	" ch.records_planned)"

int sl__sq_refeed_settle(sl_jobstore *s, const char *job_id)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	char status[32] = "", parent[SL_JOB_ID_LEN] = "";
	int rc = sl__sq_map_rc(
	    q, sqlite3_prepare_v2(q->db,
	                          "SELECT j.status, f.refeed_of FROM sluice_refeeds f JOIN"
	                          " sluice_jobs j ON j.id = f.job_id WHERE f.job_id = ?",
	                          -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
		int r = sqlite3_step(st);
		if (r == SQLITE_ROW) {
			snprintf(status, sizeof status, "%s",
			         (const char *)sqlite3_column_text(st, 0));
			snprintf(parent, sizeof parent, "%s",
			         (const char *)sqlite3_column_text(st, 1));
		} else if (r != SQLITE_DONE) {
			rc = sl__sq_map_rc(q, r);
		}
	}
	sqlite3_finalize(st);
	sl_job_status js;
	if (rc < 0 || !status[0] || sl_job_status_parse(status, &js) < 0 ||
	    !sl_job_status_final(js))
		return rc; /* not a refeed, or not finished: nothing to settle */
	if (js == SL_JOB_ROLLEDBACK) {
		/* its rows are gone: what it resolved is open again, its claims free */
		rc = count_resolved(
		    q,
		    "UPDATE sluice_rejects SET resolved_by = NULL WHERE resolved_by = ?1"
		    " RETURNING job_id",
		    job_id, -1);
		if (rc == 0)
			rc = run(q,
			         "UPDATE sluice_rejects SET refeed_by = NULL WHERE refeed_by = ?1",
			         job_id, NULL, -1);
		goto done;
	}
	/* the refeed's own rejects are copies: of the claimed row at their record */
	rc = run(q,
	         "UPDATE sluice_rejects AS c SET origin = (SELECT coalesce(p.origin, p.id) FROM"
	         " sluice_rejects p WHERE p.refeed_by = ?1 AND p.refeed_record = c.record)"
	         " WHERE c.job_id = ?1 AND c.origin IS NULL",
	         job_id, NULL, -1);
	/* read and not rejected again: loaded, the whole family resolved */
	if (rc == 0)
		rc = count_resolved(
		    q,
		    "WITH fam AS (SELECT coalesce(p.origin, p.id) AS f FROM sluice_rejects p WHERE"
		    " p.refeed_by = ?1 AND" READ_BY_REFEED " AND NOT EXISTS (SELECT 1 FROM"
		    " sluice_rejects c WHERE c.job_id = ?1 AND c.record = p.refeed_record))"
		    " UPDATE sluice_rejects SET resolved_by = ?1 WHERE resolved_by IS NULL AND"
		    " (id IN (SELECT f FROM fam) OR origin IN (SELECT f FROM fam)) RETURNING "
		    "job_id",
		    job_id, +1);
	/* the claim is over unless a chunk left to run (Failed, Queued) holds the
	   record: read (rejected again, the copy lives on in the refeed), or
	   never planned (the job failed before) */
	if (rc == 0)
		rc =
		    run(q,
		        "UPDATE sluice_rejects AS p SET refeed_by = NULL WHERE p.refeed_by = ?1 AND"
		        " NOT EXISTS (SELECT 1 FROM sluice_chunks ch WHERE ch.job_id = ?1 AND"
		        " ch.status <> 'Succeeded' AND p.refeed_record > ch.first_record AND"
		        " p.refeed_record <= ch.first_record + ch.records_planned)",
		        job_id, NULL, -1);
done:
	if (rc == 0)
		rc = run(q, "UPDATE sluice_refeeds SET settled_ms = ?3 WHERE job_id = ?1", job_id,
		         NULL, sl_now_ms());
	return rc;
}
