/*
 * The SQLite store's job tables: jobs (with their per-code reject counts),
 * chunks, rejected rows, audit events, garbage collection of old jobs,
 * idempotency keys, cancel requests, and chunk counts by status.
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

/* --- jobs ------------------------------------------------------------------ */

#define JOB_COLS                                                                                   \
	"id, seq, status, file, schema_path, dataset, target_table, schema_hash, file_size, file_hash, "   \
	"file_mtime_ns, chunk_size, chunks_total, chunks_processed, chunks_succeeded, chunks_failed, " \
	"rows_read, rows_loaded, rows_rejected, bytes_total, bytes_done, error_code, error_message, "  \
	"created_ms, started_ms, finished_ms, updated_ms, correlation_id, "                            \
	"dialect, ignored_columns, warnings, same_as, records_padded, records_truncated, resumed, mode, " \
	"rows_inserted, rows_updated, files"

static void bind_str(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void bind_job(sqlite3_stmt *st, const sl_job *j)
{
	int i = 1;
	bind_str(st, i++, j->id);
	sqlite3_bind_int64(st, i++, j->seq);
	bind_str(st, i++, sl_job_status_name(j->status));
	bind_str(st, i++, j->file);
	bind_str(st, i++, j->schema_path);
	bind_str(st, i++, j->dataset);
	bind_str(st, i++, j->table);
	sqlite3_bind_int64(st, i++, (int64_t)j->schema_hash);
	sqlite3_bind_int64(st, i++, (int64_t)j->file_size);
	sqlite3_bind_int64(st, i++, (int64_t)j->file_hash);
	sqlite3_bind_int64(st, i++, j->file_mtime_ns);
	sqlite3_bind_int64(st, i++, (int64_t)j->chunk_size);
	const uint64_t *u[] = {&j->chunks_total, &j->chunks_processed, &j->chunks_succeeded,
			       &j->chunks_failed,  &j->rows_read,        &j->rows_loaded,
			       &j->rows_rejected,  &j->bytes_total,      &j->bytes_done};
	for (size_t k = 0; k < SL_ARRAY_LEN(u); k++)
		sqlite3_bind_int64(st, i++, (int64_t)*u[k]);
	bind_str(st, i++, j->error_code ? sl_error_name(j->error_code) : NULL);
	bind_str(st, i++, j->error_message);
	sqlite3_bind_int64(st, i++, j->created_ms);
	sqlite3_bind_int64(st, i++, j->started_ms);
	sqlite3_bind_int64(st, i++, j->finished_ms);
	sqlite3_bind_int64(st, i++, j->updated_ms);
	bind_str(st, i++, j->correlation_id);
	bind_str(st, i++, j->dialect);
	bind_str(st, i++, j->ignored_columns);
	bind_str(st, i++, j->warnings);
	bind_str(st, i++, j->same_as[0] ? j->same_as : NULL);
	sqlite3_bind_int64(st, i++, (int64_t)j->records_padded);
	sqlite3_bind_int64(st, i++, (int64_t)j->records_truncated);
	sqlite3_bind_int(st, i++, j->resumed);
	bind_str(st, i++, j->mode[0] ? j->mode : NULL);
	sqlite3_bind_int64(st, i++, (int64_t)j->rows_inserted);
	sqlite3_bind_int64(st, i++, (int64_t)j->rows_updated);
	bind_str(st, i++, j->files);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup((const char *)t) : NULL;
}

static int read_codes(sq_store *q, sl_job *j)
{
	sqlite3_stmt *st = NULL;
	int rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, "SELECT code, count FROM sluice_job_codes WHERE job_id = ?", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			int k = sl_error_index(sl_error_from_name((const char *)sqlite3_column_text(st, 0)));
			if (k >= 0)
				j->rejects_by_code[k] = (uint64_t)sqlite3_column_int64(st, 1);
		}
	}
	sqlite3_finalize(st);
	return rc < 0 ? rc : sl__sq_refeed_fill(q, j);
}

static void read_job(sqlite3_stmt *st, sl_job *j)
{
	int i = 0;
	sl_job_clear(j);
	snprintf(j->id, sizeof j->id, "%s", (const char *)sqlite3_column_text(st, i++));
	j->seq = (uint32_t)sqlite3_column_int64(st, i++);
	const char *status = (const char *)sqlite3_column_text(st, i++);
	sl_job_status_parse(status ? status : "", &j->status);
	j->file = col_dup(st, i++);
	j->schema_path = col_dup(st, i++);
	j->dataset = col_dup(st, i++);
	j->table = col_dup(st, i++);
	j->schema_hash = (uint64_t)sqlite3_column_int64(st, i++);
	j->file_size = (uint64_t)sqlite3_column_int64(st, i++);
	j->file_hash = (uint64_t)sqlite3_column_int64(st, i++);
	j->file_mtime_ns = sqlite3_column_int64(st, i++);
	j->chunk_size = (uint64_t)sqlite3_column_int64(st, i++);
	uint64_t *u[] = {&j->chunks_total, &j->chunks_processed, &j->chunks_succeeded, &j->chunks_failed,
			 &j->rows_read,    &j->rows_loaded,      &j->rows_rejected,    &j->bytes_total,
			 &j->bytes_done};
	for (size_t k = 0; k < SL_ARRAY_LEN(u); k++)
		*u[k] = (uint64_t)sqlite3_column_int64(st, i++);
	const char *code = (const char *)sqlite3_column_text(st, i++);
	j->error_code = code ? sl_error_from_name(code) : 0;
	if (j->error_code > 0)
		j->error_code = SL_INTERNAL;
	j->error_message = col_dup(st, i++);
	j->created_ms = sqlite3_column_int64(st, i++);
	j->started_ms = sqlite3_column_int64(st, i++);
	j->finished_ms = sqlite3_column_int64(st, i++);
	j->updated_ms = sqlite3_column_int64(st, i++);
	j->correlation_id = col_dup(st, i++);
	j->dialect = col_dup(st, i++);
	j->ignored_columns = col_dup(st, i++);
	j->warnings = col_dup(st, i++);
	const unsigned char *same = sqlite3_column_text(st, i++);
	snprintf(j->same_as, sizeof j->same_as, "%s", same ? (const char *)same : "");
	j->records_padded = (uint64_t)sqlite3_column_int64(st, i++);
	j->records_truncated = (uint64_t)sqlite3_column_int64(st, i++);
	j->resumed = sqlite3_column_int(st, i++) != 0;
	const unsigned char *mode = sqlite3_column_text(st, i++);
	snprintf(j->mode, sizeof j->mode, "%s", mode ? (const char *)mode : "append");
	j->rows_inserted = (uint64_t)sqlite3_column_int64(st, i++);
	j->rows_updated = (uint64_t)sqlite3_column_int64(st, i++);
	j->files = col_dup(st, i++);
}

/* Step a job query: 1 and *j when it has a row, 0 when none, <0 on error. */
static int fetch_job(sq_store *q, sqlite3_stmt *st, sl_job *j)
{
	int r = sqlite3_step(st);
	if (r != SQLITE_ROW)
		return sl__sq_map_rc(q, r);
	read_job(st, j);
	int rc = read_codes(q, j);
	return rc < 0 ? rc : 1;
}

/* n more rejects of code index k for the job (0: nothing to write). */
static int add_code(sq_store *q, const char *job_id, int k, int64_t n)
{
	if (!n)
		return 0;
	int rc = sl__sq_prep(q,
	                     "INSERT INTO sluice_job_codes(job_id, code, count) VALUES(?,?,?)"
	                     " ON CONFLICT(job_id, code) DO UPDATE SET count = count + excluded.count",
	                     &q->add_code);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(q->add_code, 1, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q->add_code, 2, sl_error_name(sl_error_at(k)), -1, SQLITE_STATIC);
	sqlite3_bind_int64(q->add_code, 3, n);
	return sl__sq_step_done(q, q->add_code);
}

int sl__sq_job_insert(sl_jobstore *s, sl_job *j)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	int rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, "SELECT COALESCE(MAX(seq), 0) + 1 FROM sluice_jobs", -1, &st, NULL));
	if (rc == 0 && sqlite3_step(st) == SQLITE_ROW)
		j->seq = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (rc == 0)
		rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, "INSERT INTO sluice_jobs(" JOB_COLS ") VALUES("
				"?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL));
	if (rc == 0) {
		bind_job(st, j);
		rc = sl__sq_map_rc(q, sqlite3_step(st));
	}
	sqlite3_finalize(st);
	for (int k = 0; k < SL_ERROR_COUNT && rc == 0; k++)
		rc = add_code(q, j->id, k, (int64_t)j->rejects_by_code[k]);
	return rc;
}

/* Everything but the counters (which only counts_add changes) and seq;
   a final row only when over_final (?40). */
int sl__sq_job_update(sl_jobstore *s, const sl_job *j, bool over_final)
{
	sq_store *q = sq_of_js(s);
	/* the parameters are bind_job's (JOB_COLS order); the counters' are
	   bound and not used */
	int rc = sl__sq_prep(
	    q,
	    "UPDATE sluice_jobs SET status = ?3, file = ?4, schema_path = ?5, dataset = ?6,"
	    " target_table = ?7, schema_hash = ?8, file_size = ?9, file_hash = ?10,"
	    " file_mtime_ns = ?11, chunk_size = ?12, chunks_total = ?13, bytes_total = ?20,"
	    " error_code = ?22, error_message = ?23, created_ms = ?24, started_ms = ?25,"
	    " finished_ms = ?26, updated_ms = ?27, correlation_id = ?28, dialect = ?29,"
	    " ignored_columns = ?30, warnings = ?31, same_as = ?32, resumed = ?35, mode = ?36, files = ?39"
	    " WHERE id = ?1 AND (?40 OR status NOT IN ('Succeeded', 'PartiallySucceeded',"
	    " 'Failed', 'RolledBack', 'Cancelled'))",
	    &q->upd_job);
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = q->upd_job;
	bind_job(st, j);
	sqlite3_bind_int(st, 40, over_final);
	if ((rc = sl__sq_step_done(q, st)) < 0)
		return rc;
	if (sqlite3_changes(q->db) > 0)
		return 0;
	/* no such job, or one final already */
	sl_job now = {0};
	if ((rc = sl__sq_job_get(s, j->id, &now)) < 0)
		return rc;
	if (rc == 0) {
		snprintf(q->err, sizeof q->err, "no job %s to update", j->id);
		return SL_NOT_FOUND;
	}
	snprintf(q->err, sizeof q->err, "job %s is %s already: not overwritten", j->id,
	         sl_job_status_name(now.status));
	sl_job_clear(&now);
	return SL_CONFLICT;
}

/* Increments in the database's own arithmetic: two processes adding to
   one job's counters in turn both count. */
int sl__sq_counts_add(sl_jobstore *s, const char *job_id, const sl_job_counts *d)
{
	sq_store *q = sq_of_js(s);
	int rc = sl__sq_prep(
	    q,
	    "UPDATE sluice_jobs SET rows_read = rows_read + ?2, rows_loaded = rows_loaded + ?3,"
	    " rows_rejected = rows_rejected + ?4,"
	    " records_padded = COALESCE(records_padded, 0) + ?5,"
	    " records_truncated = COALESCE(records_truncated, 0) + ?6,"
	    " chunks_processed = chunks_processed + ?7, chunks_succeeded = chunks_succeeded + ?8,"
	    " chunks_failed = chunks_failed + ?9, bytes_done = bytes_done + ?10,"
	    " updated_ms = max(COALESCE(updated_ms, 0), ?11),"
	    " rows_inserted = COALESCE(rows_inserted, 0) + ?12,"
	    " rows_updated = COALESCE(rows_updated, 0) + ?13 WHERE id = ?1",
	    &q->add_counts);
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = q->add_counts;
	const int64_t v[] = {d->rows_read,        d->rows_loaded,      d->rows_rejected,
	                     d->records_padded,   d->records_truncated, d->chunks_processed,
	                     d->chunks_succeeded, d->chunks_failed,    d->bytes_done};
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	for (size_t k = 0; k < SL_ARRAY_LEN(v); k++)
		sqlite3_bind_int64(st, (int)k + 2, v[k]);
	sqlite3_bind_int64(st, 11, sl_now_ms());
	sqlite3_bind_int64(st, 12, d->rows_inserted);
	sqlite3_bind_int64(st, 13, d->rows_updated);
	if ((rc = sl__sq_step_done(q, st)) < 0)
		return rc;
	if (sqlite3_changes(q->db) == 0) {
		snprintf(q->err, sizeof q->err, "no job %s to count in", job_id);
		return SL_NOT_FOUND;
	}
	for (int k = 0; k < SL_ERROR_COUNT && rc == 0; k++)
		rc = add_code(q, job_id, k, d->by_code[k]);
	return rc;
}

int sl__sq_job_get(sl_jobstore *s, const char *id, sl_job *j)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	int rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, "SELECT " JOB_COLS " FROM sluice_jobs WHERE id = ?", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		rc = fetch_job(q, st, j);
	}
	sqlite3_finalize(st);
	return rc;
}

int sl__sq_job_find_open(sl_jobstore *s, const char *file, const char *table, uint64_t schema_hash,
			    sl_job *j)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	int rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db,
		"SELECT " JOB_COLS " FROM sluice_jobs WHERE file = ? AND target_table = ? AND schema_hash = ?"
		" AND status IN ('Accepted','Chunking','ChunksQueued','Processing')"
		" ORDER BY created_ms DESC, id DESC LIMIT 1", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, file, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, table, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (int64_t)schema_hash);
		rc = fetch_job(q, st, j);
	}
	sqlite3_finalize(st);
	return rc;
}

int sl__sq_job_find_loaded(sl_jobstore *s, const char *table, uint64_t schema_hash, uint64_t size,
                              const uint64_t *hash, const char *dialect, sl_job *j)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	int rc = sl__sq_map_rc(
	    q, sqlite3_prepare_v2(
	           q->db,
	           "SELECT " JOB_COLS " FROM sluice_jobs WHERE target_table = ? AND schema_hash = ?"
	           " AND file_size = ? AND (?4 IS NULL OR file_hash = ?4) AND dialect IS ?"
	           " AND status IN ('Succeeded','PartiallySucceeded','Failed','Cancelled')"
	           " AND same_as IS NULL AND chunks_total > 0"
	           " ORDER BY created_ms DESC, id DESC LIMIT 1",
	           -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (int64_t)schema_hash);
		sqlite3_bind_int64(st, 3, (int64_t)size);
		if (hash)
			sqlite3_bind_int64(st, 4, (int64_t)*hash);
		bind_str(st, 5, dialect);
		rc = fetch_job(q, st, j);
	}
	sqlite3_finalize(st);
	return rc;
}

/* status ?1, dataset ?2, prefix ?6 of the id or the correlation id (a
   prefix of bytes: substr counts characters, which are bytes for the ASCII
   prefixes the callers allow, and a longer first character never equals) */
#define LIST_WHERE                                                                                 \
	"(?1 IS NULL OR status = ?1) AND (?2 IS NULL OR dataset = ?2) AND (?6 IS NULL OR"          \
	" substr(id, 1, length(?6)) = ?6 OR substr(correlation_id, 1, length(?6)) = ?6)"

/* A keyset walk: the row value (created_ms, id) seeks into the index
   sluice_jobs_created, so a page costs its rows, not the jobs before it. */
int sl__sq_job_list(sl_jobstore *s, const sl_job_filter *f, sl_job_cb cb, void *ctx)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	bool after = f->after.id[0] != 0;
	int rc = sl__sq_map_rc(
	    q, sqlite3_prepare_v2(q->db,
	                          after ? "SELECT " JOB_COLS " FROM sluice_jobs WHERE " LIST_WHERE
	                                  " AND (created_ms, id) < (?3, ?4)"
	                                  " ORDER BY created_ms DESC, id DESC LIMIT ?5"
	                                : "SELECT " JOB_COLS " FROM sluice_jobs WHERE " LIST_WHERE
	                                  " ORDER BY created_ms DESC, id DESC LIMIT ?5",
	                          -1, &st, NULL));
	if (rc == 0) {
		if (f->status >= 0)
			sqlite3_bind_text(st, 1, sl_job_status_name((sl_job_status)f->status), -1,
			                  SQLITE_STATIC);
		bind_str(st, 2, f->dataset);
		bind_str(st, 6, f->prefix);
		if (after) {
			sqlite3_bind_int64(st, 3, f->after.created_ms);
			sqlite3_bind_text(st, 4, f->after.id, -1, SQLITE_STATIC);
		}
		sqlite3_bind_int64(st, 5, f->limit ? (int64_t)f->limit : -1);
	}
	sl_job j = {0};
	while (rc == 0) {
		int r = sqlite3_step(st);
		if (r != SQLITE_ROW) {
			rc = sl__sq_map_rc(q, r);
			break;
		}
		read_job(st, &j);
		if ((rc = read_codes(q, &j)) == 0)
			rc = cb(ctx, &j);
	}
	sl_job_clear(&j);
	sqlite3_finalize(st);
	return rc;
}

/* --- chunks ------------------------------------------------------------------ */

static void bind_chunk(sqlite3_stmt *st, const char *job_id, const sl_chunk *c)
{
	int i = 1;
	sqlite3_bind_text(st, i++, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, i++, c->seq);
	sqlite3_bind_int64(st, i++, (int64_t)c->offset);
	sqlite3_bind_int64(st, i++, (int64_t)c->length);
	sqlite3_bind_int64(st, i++, (int64_t)c->hash);
	sqlite3_bind_int64(st, i++, (int64_t)c->first_record);
	sqlite3_bind_int64(st, i++, (int64_t)c->first_line);
	sqlite3_bind_int64(st, i++, (int64_t)c->records_planned);
	sqlite3_bind_text(st, i++, sl_chunk_status_name(c->status), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, i++, c->attempts);
	sqlite3_bind_int64(st, i++, (int64_t)c->rows_read);
	sqlite3_bind_int64(st, i++, (int64_t)c->rows_loaded);
	sqlite3_bind_int64(st, i++, (int64_t)c->rows_rejected);
	sqlite3_bind_int64(st, i++, c->duration_ms);
	bind_str(st, i++, c->last_error ? sl_error_name(c->last_error) : NULL);
	bind_str(st, i++, c->last_message[0] ? c->last_message : NULL);
	sqlite3_bind_int64(st, i++, (int64_t)c->rows_inserted);
	sqlite3_bind_int64(st, i++, (int64_t)c->rows_updated);
}

#define CHUNK_COLS                                                                                 \
	"job_id, seq, offset, length, hash, first_record, first_line, records_planned, status, "      \
	"attempts, rows_read, rows_loaded, rows_rejected, duration_ms, last_error, last_message, "    \
	"rows_inserted, rows_updated"

int sl__sq_chunk_update(sl_jobstore *s, const char *job_id, const sl_chunk *c)
{
	sq_store *q = sq_of_js(s);
	/* an upsert, not INSERT OR REPLACE: the row's lease (owner, expiry,
	   epoch: store_sqlite_lease.c) is not the chunk's to rewrite, and an
	   epoch set back to nothing would let a stale holder's epoch match again */
	int rc = sl__sq_prep(
	    q,
	    "INSERT INTO sluice_chunks(" CHUNK_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
	    " ON CONFLICT(job_id, seq) DO UPDATE SET offset = excluded.offset,"
	    " length = excluded.length, hash = excluded.hash,"
	    " first_record = excluded.first_record, first_line = excluded.first_line,"
	    " records_planned = excluded.records_planned, status = excluded.status,"
	    " attempts = excluded.attempts, rows_read = excluded.rows_read,"
	    " rows_loaded = excluded.rows_loaded, rows_rejected = excluded.rows_rejected,"
	    " duration_ms = excluded.duration_ms, last_error = excluded.last_error,"
	    " last_message = excluded.last_message, rows_inserted = excluded.rows_inserted,"
	    " rows_updated = excluded.rows_updated",
	    &q->upd_chunk);
	if (rc < 0)
		return rc;
	bind_chunk(q->upd_chunk, job_id, c);
	return sl__sq_step_done(q, q->upd_chunk);
}

int sl__sq_chunks_replace(sl_jobstore *s, const char *job_id, const sl_chunk *c, size_t n)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	int rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, "DELETE FROM sluice_chunks WHERE job_id = ?", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
		rc = sl__sq_map_rc(q, sqlite3_step(st));
	}
	sqlite3_finalize(st);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = sl__sq_chunk_update(s, job_id, &c[i]);
	return rc;
}

int sl__sq_chunks_get(sl_jobstore *s, const char *job_id, sl_chunk **out, size_t *n)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	int rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, "SELECT " CHUNK_COLS " FROM sluice_chunks WHERE job_id = ? ORDER BY seq", -1, &st, NULL));
	if (rc == 0)
		sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	while (rc == 0) {
		int r = sqlite3_step(st);
		if (r != SQLITE_ROW) {
			rc = sl__sq_map_rc(q, r);
			break;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			sl_chunk *c = realloc(*out, cap * sizeof *c);
			if (!c) {
				rc = SL_NOMEM;
				break;
			}
			*out = c;
		}
		sl_chunk *c = &(*out)[(*n)++];
		memset(c, 0, sizeof *c);
		int i = 1;
		c->seq = (uint32_t)sqlite3_column_int64(st, i++);
		c->offset = (uint64_t)sqlite3_column_int64(st, i++);
		c->length = (uint64_t)sqlite3_column_int64(st, i++);
		c->hash = (uint64_t)sqlite3_column_int64(st, i++);
		c->first_record = (uint64_t)sqlite3_column_int64(st, i++);
		c->first_line = (uint64_t)sqlite3_column_int64(st, i++);
		c->records_planned = (uint64_t)sqlite3_column_int64(st, i++);
		const char *stat = (const char *)sqlite3_column_text(st, i++);
		for (int k = 0; k < SL_CHUNK_NSTATUS; k++)
			if (stat && !strcmp(stat, sl_chunk_status_name((sl_chunk_status)k)))
				c->status = (sl_chunk_status)k;
		c->attempts = (uint32_t)sqlite3_column_int64(st, i++);
		c->rows_read = (uint64_t)sqlite3_column_int64(st, i++);
		c->rows_loaded = (uint64_t)sqlite3_column_int64(st, i++);
		c->rows_rejected = (uint64_t)sqlite3_column_int64(st, i++);
		c->duration_ms = sqlite3_column_int64(st, i++);
		const char *le = (const char *)sqlite3_column_text(st, i++);
		c->last_error = le ? sl_error_from_name(le) : 0;
		if (c->last_error > 0)
			c->last_error = SL_INTERNAL;
		const char *lm = (const char *)sqlite3_column_text(st, i++);
		snprintf(c->last_message, sizeof c->last_message, "%s", lm ? lm : "");
		c->rows_inserted = (uint64_t)sqlite3_column_int64(st, i++);
		c->rows_updated = (uint64_t)sqlite3_column_int64(st, i++);
	}
	sqlite3_finalize(st);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* --- rejects and events ---------------------------------------------------- */

int sl__sq_reject_insert(sl_jobstore *s, const char *job_id, uint32_t chunk, const sl_reject *r,
			    const char *column)
{
	sq_store *q = sq_of_js(s);
	int rc = sl__sq_prep(q, "INSERT INTO sluice_rejects(job_id, chunk, record, line, offset, column_name,"
			  " code, message, raw, file) VALUES(?,?,?,?,?,?,?,?,?,?)", &q->ins_reject);
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = q->ins_reject;
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, chunk);
	sqlite3_bind_int64(st, 3, (int64_t)r->record);
	sqlite3_bind_int64(st, 4, (int64_t)r->line);
	sqlite3_bind_int64(st, 5, (int64_t)r->offset);
	if (column)
		sqlite3_bind_text(st, 6, column, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	sqlite3_bind_text(st, 7, sl_error_name(r->code), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, r->message.p, (int)r->message.n, SQLITE_STATIC);
	sqlite3_bind_blob(st, 9, r->raw.p ? r->raw.p : "", (int)r->raw.n, SQLITE_STATIC);
	if (r->file.n)
		sqlite3_bind_text(st, 10, r->file.p, (int)r->file.n, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 10);
	return sl__sq_step_done(q, st);
}

int sl__sq_rejects_each(sl_jobstore *s, const char *job_id, int code, sl_reject_cb cb, void *ctx)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	int rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, code
		? "SELECT chunk, record, line, offset, column_name, code, message, raw, resolved_by, file"
		  " FROM sluice_rejects WHERE job_id = ? AND code = ? ORDER BY record"
		: "SELECT chunk, record, line, offset, column_name, code, message, raw, resolved_by, file"
		  " FROM sluice_rejects WHERE job_id = ? ORDER BY record", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
		if (code)
			sqlite3_bind_text(st, 2, sl_error_name(code), -1, SQLITE_STATIC);
	}
	while (rc == 0) {
		int r = sqlite3_step(st);
		if (r != SQLITE_ROW) {
			rc = sl__sq_map_rc(q, r);
			break;
		}
		sl_reject rj = {0};
		rj.record = (uint64_t)sqlite3_column_int64(st, 1);
		rj.line = (uint64_t)sqlite3_column_int64(st, 2);
		rj.offset = (uint64_t)sqlite3_column_int64(st, 3);
		const char *col = (const char *)sqlite3_column_text(st, 4);
		rj.code = sl_error_from_name((const char *)sqlite3_column_text(st, 5));
		rj.message = sl_str_make((const char *)sqlite3_column_text(st, 6), (size_t)sqlite3_column_bytes(st, 6));
		rj.raw = sl_str_make((const char *)sqlite3_column_blob(st, 7), (size_t)sqlite3_column_bytes(st, 7));
		rj.resolved_by = sl_str_make((const char *)sqlite3_column_text(st, 8), (size_t)sqlite3_column_bytes(st, 8));
		rj.file = sl_str_make((const char *)sqlite3_column_text(st, 9), (size_t)sqlite3_column_bytes(st, 9));
		rc = cb(ctx, (uint32_t)sqlite3_column_int64(st, 0), &rj, col);
	}
	sqlite3_finalize(st);
	return rc;
}

int sl__sq_event_insert(sl_jobstore *s, const sl_event *e)
{
	sq_store *q = sq_of_js(s);
	int rc = sl__sq_prep(q, "INSERT INTO sluice_events(job_id, chunk, kind, at_ms, rows_read, rows_loaded,"
			 " rows_rejected, duration_ms, message) VALUES(?,?,?,?,?,?,?,?,?)", &q->ins_event);
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = q->ins_event;
	sqlite3_bind_text(st, 1, e->job_id, -1, SQLITE_STATIC);
	if (e->chunk >= 0)
		sqlite3_bind_int64(st, 2, e->chunk);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_text(st, 3, e->kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, sl_now_ms());
	sqlite3_bind_int64(st, 5, (int64_t)e->rows_read);
	sqlite3_bind_int64(st, 6, (int64_t)e->rows_loaded);
	sqlite3_bind_int64(st, 7, (int64_t)e->rows_rejected);
	sqlite3_bind_int64(st, 8, e->duration_ms);
	bind_str(st, 9, e->message);
	return sl__sq_step_done(q, st);
}

int sl__sq_gc(sl_jobstore *s, int64_t before_ms, uint64_t *jobs)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	static const char sel[] =
		"SELECT id FROM sluice_jobs WHERE updated_ms < ? AND status IN"
		" ('Succeeded','PartiallySucceeded','Failed','RolledBack','Cancelled')";
	char sql[512];
	int rc = 0;
	*jobs = 0;
	static const char *const del[] = {"sluice_rejects", "sluice_events"};
	for (size_t t = 0; rc == 0 && t < 2; t++) {
		snprintf(sql, sizeof sql, "DELETE FROM %s WHERE job_id IN (%s)", del[t], sel);
		rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, sql, -1, &st, NULL));
		if (rc == 0) {
			sqlite3_bind_int64(st, 1, before_ms);
			rc = sl__sq_map_rc(q, sqlite3_step(st));
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	if (rc == 0) {
		snprintf(sql, sizeof sql, "SELECT count(*) FROM (%s)", sel);
		rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, sql, -1, &st, NULL));
		if (rc == 0) {
			sqlite3_bind_int64(st, 1, before_ms);
			if (sqlite3_step(st) == SQLITE_ROW)
				*jobs = (uint64_t)sqlite3_column_int64(st, 0);
		}
		sqlite3_finalize(st);
	}
	return rc;
}

/* --- idempotency keys and cancel requests ----------------------------------- */

int sl__sq_idem_get(sl_jobstore *s, sl_idem *e)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	int rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, "SELECT job_id, dataset, size, hash FROM sluice_idempotency"
					      " WHERE key = ?", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, e->key, -1, SQLITE_STATIC);
		int r = sqlite3_step(st);
		if (r == SQLITE_ROW) {
			const char *job = (const char *)sqlite3_column_text(st, 0);
			const char *ds = (const char *)sqlite3_column_text(st, 1);
			snprintf(e->job_id, sizeof e->job_id, "%s", job ? job : "");
			snprintf(e->dataset, sizeof e->dataset, "%s", ds ? ds : "");
			e->size = (uint64_t)sqlite3_column_int64(st, 2);
			e->hash = (uint64_t)sqlite3_column_int64(st, 3);
			rc = 1;
		} else {
			rc = sl__sq_map_rc(q, r);
		}
	}
	sqlite3_finalize(st);
	return rc;
}

int sl__sq_idem_put(sl_jobstore *s, const sl_idem *e)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	int rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, "INSERT INTO sluice_idempotency(key, job_id, dataset, size,"
					      " hash, created_ms) VALUES(?,?,?,?,?,?)", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, e->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, e->job_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, e->dataset, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (int64_t)e->size);
		sqlite3_bind_int64(st, 5, (int64_t)e->hash);
		sqlite3_bind_int64(st, 6, sl_now_ms());
		rc = sl__sq_map_rc(q, sqlite3_step(st));
	}
	sqlite3_finalize(st);
	return rc;
}

int sl__sq_cancel_set(sl_jobstore *s, const char *job_id, bool on)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	int rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, on ? "INSERT OR REPLACE INTO sluice_cancels(job_id, at_ms) VALUES(?,?)"
						       : "DELETE FROM sluice_cancels WHERE job_id = ?", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
		if (on)
			sqlite3_bind_int64(st, 2, sl_now_ms());
		rc = sl__sq_map_rc(q, sqlite3_step(st));
	}
	sqlite3_finalize(st);
	return rc;
}

int sl__sq_cancel_get(sl_jobstore *s, const char *job_id)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	int rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, "SELECT 1 FROM sluice_cancels WHERE job_id = ?", -1, &st, NULL));
	if (rc == 0) {
		sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
		int r = sqlite3_step(st);
		rc = r == SQLITE_ROW ? 1 : sl__sq_map_rc(q, r);
	}
	sqlite3_finalize(st);
	return rc;
}

int sl__sq_chunk_counts(sl_jobstore *s, uint64_t *out)
{
	sq_store *q = sq_of_js(s);
	sqlite3_stmt *st = NULL;
	memset(out, 0, SL_CHUNK_NSTATUS * sizeof *out);
	int rc = sl__sq_map_rc(q, sqlite3_prepare_v2(q->db, "SELECT status, count(*) FROM sluice_chunks GROUP BY status",
					      -1, &st, NULL));
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		for (int k = 0; name && k < SL_CHUNK_NSTATUS; k++)
			if (!strcmp(name, sl_chunk_status_name((sl_chunk_status)k)))
				out[k] = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return rc;
}
