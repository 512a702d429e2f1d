/*
 * The PostgreSQL job store: the tables of src/pg/pg_migrate.c (schema
 * `sluice`), read and written with the same meaning as the SQLite job store
 * (store_sqlite_jobs.c) so both pass one conformance suite. Counters change
 * by increments in the database's arithmetic; job numbers (seq) are taken
 * under a transaction-scoped advisory lock, so two processes recording jobs
 * at once never take the same one. Unsigned 64-bit values (hashes, sizes)
 * are kept in bigint as their two's-complement bit pattern, as SQLite's
 * INTEGER keeps them.
 */
#include <endian.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg_int.h"

/* The advisory lock key of job numbers: "sljobseq" read as a number. */
#define SEQ_LOCK "7236833616431738225"

#define JOB_COLS                                                                                   \
	"id, seq, status, file, schema_path, dataset, target_table, schema_hash, file_size, "      \
	"file_hash, "                                                                              \
	"file_mtime_ns, chunk_size, chunks_total, chunks_processed, chunks_succeeded, "            \
	"chunks_failed, "                                                                          \
	"rows_read, rows_loaded, rows_rejected, bytes_total, bytes_done, error_code, "             \
	"error_message, "                                                                          \
	"created_ms, started_ms, finished_ms, updated_ms, correlation_id, "                        \
	"dialect, ignored_columns, warnings, same_as, records_padded, records_truncated, "         \
	"resumed, "                                                                                \
	"rows_inserted, rows_updated, files, mode"

#define CHUNK_COLS                                                                                 \
	"job_id, seq, \"offset\", length, hash, first_record, first_line, records_planned, "       \
	"status, "                                                                                 \
	"attempts, rows_read, rows_loaded, rows_rejected, duration_ms, last_error, last_message, " \
	"rows_inserted, rows_updated"

static void bind_job(pq_params *p, const sl_job *j)
{
	sl__pq_str(p, j->id);
	sl__pq_int(p, j->seq);
	sl__pq_str(p, sl_job_status_name(j->status));
	sl__pq_str(p, j->file);
	sl__pq_str(p, j->schema_path);
	sl__pq_str(p, j->dataset);
	sl__pq_str(p, j->table);
	sl__pq_int(p, (int64_t)j->schema_hash);
	sl__pq_int(p, (int64_t)j->file_size);
	sl__pq_int(p, (int64_t)j->file_hash);
	sl__pq_int(p, j->file_mtime_ns);
	sl__pq_int(p, (int64_t)j->chunk_size);
	const uint64_t *u[] = {&j->chunks_total,  &j->chunks_processed, &j->chunks_succeeded,
	                       &j->chunks_failed, &j->rows_read,        &j->rows_loaded,
	                       &j->rows_rejected, &j->bytes_total,      &j->bytes_done};
	for (size_t k = 0; k < SL_ARRAY_LEN(u); k++)
		sl__pq_int(p, (int64_t)*u[k]);
	sl__pq_str(p, j->error_code ? sl_error_name(j->error_code) : NULL);
	sl__pq_str(p, j->error_message);
	sl__pq_int(p, j->created_ms);
	sl__pq_int(p, j->started_ms);
	sl__pq_int(p, j->finished_ms);
	sl__pq_int(p, j->updated_ms);
	sl__pq_str(p, j->correlation_id);
	sl__pq_str(p, j->dialect);
	sl__pq_str(p, j->ignored_columns);
	sl__pq_str(p, j->warnings);
	sl__pq_str(p, j->same_as[0] ? j->same_as : NULL);
	sl__pq_int(p, (int64_t)j->records_padded);
	sl__pq_int(p, (int64_t)j->records_truncated);
	sl__pq_int(p, j->resumed);
	sl__pq_int(p, (int64_t)j->rows_inserted);
	sl__pq_int(p, (int64_t)j->rows_updated);
	sl__pq_str(p, j->files);
	sl__pq_str(p, j->mode[0] ? j->mode : NULL);
}

static int64_t get_i(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static char *get_s(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

static int read_codes(pq_store *q, sl_job *j)
{
	pq_params p = {.n = 0};
	int rc;
	sl__pq_str(&p, j->id);
	PGresult *r =
	    sl__pq_run(q, "SELECT code, count FROM sluice.job_codes WHERE job_id = $1", &p, &rc);
	for (int i = 0; r && i < PQntuples(r); i++) {
		int k = sl_error_index(sl_error_from_name(PQgetvalue(r, i, 0)));
		if (k >= 0)
			j->rejects_by_code[k] = (uint64_t)get_i(r, i, 1);
	}
	PQclear(r);
	return rc;
}

static void read_job(const PGresult *r, int row, sl_job *j)
{
	int i = 0;
	sl_job_clear(j);
	snprintf(j->id, sizeof j->id, "%s", PQgetvalue(r, row, i++));
	j->seq = (uint32_t)get_i(r, row, i++);
	sl_job_status_parse(PQgetvalue(r, row, i++), &j->status);
	j->file = get_s(r, row, i++);
	j->schema_path = get_s(r, row, i++);
	j->dataset = get_s(r, row, i++);
	j->table = get_s(r, row, i++);
	j->schema_hash = (uint64_t)get_i(r, row, i++);
	j->file_size = (uint64_t)get_i(r, row, i++);
	j->file_hash = (uint64_t)get_i(r, row, i++);
	j->file_mtime_ns = get_i(r, row, i++);
	j->chunk_size = (uint64_t)get_i(r, row, i++);
	uint64_t *u[] = {&j->chunks_total,  &j->chunks_processed, &j->chunks_succeeded,
	                 &j->chunks_failed, &j->rows_read,        &j->rows_loaded,
	                 &j->rows_rejected, &j->bytes_total,      &j->bytes_done};
	for (size_t k = 0; k < SL_ARRAY_LEN(u); k++)
		*u[k] = (uint64_t)get_i(r, row, i++);
	j->error_code = PQgetisnull(r, row, i) ? 0 : sl_error_from_name(PQgetvalue(r, row, i));
	i++;
	if (j->error_code > 0)
		j->error_code = SL_INTERNAL;
	j->error_message = get_s(r, row, i++);
	j->created_ms = get_i(r, row, i++);
	j->started_ms = get_i(r, row, i++);
	j->finished_ms = get_i(r, row, i++);
	j->updated_ms = get_i(r, row, i++);
	j->correlation_id = get_s(r, row, i++);
	j->dialect = get_s(r, row, i++);
	j->ignored_columns = get_s(r, row, i++);
	j->warnings = get_s(r, row, i++);
	snprintf(j->same_as, sizeof j->same_as, "%s",
	         PQgetisnull(r, row, i) ? "" : PQgetvalue(r, row, i));
	i++;
	j->records_padded = (uint64_t)get_i(r, row, i++);
	j->records_truncated = (uint64_t)get_i(r, row, i++);
	j->resumed = get_i(r, row, i++) != 0;
	j->rows_inserted = (uint64_t)get_i(r, row, i++);
	j->rows_updated = (uint64_t)get_i(r, row, i++);
	j->files = get_s(r, row, i++);
	snprintf(j->mode, sizeof j->mode, "%s",
	         PQgetisnull(r, row, i) ? "append" : PQgetvalue(r, row, i));
	i++;
}

/* One job of a query: 1 and *j, 0 when none, or a code. */
static int fetch_job(pq_store *q, const char *sql, const pq_params *p, sl_job *j)
{
	int rc;
	PGresult *r = sl__pq_run(q, sql, p, &rc);
	if (r && PQntuples(r) > 0) {
		read_job(r, 0, j);
		rc = read_codes(q, j);
		if (rc == 0)
			rc = sl__pq_refeed_fill(q, j);
		rc = rc < 0 ? rc : 1;
	}
	PQclear(r);
	return rc;
}

static int add_code(pq_store *q, const char *job_id, int k, int64_t n)
{
	if (!n)
		return 0;
	pq_params p = {.n = 0};
	int rc;
	sl__pq_str(&p, job_id);
	sl__pq_str(&p, sl_error_name(sl_error_at(k)));
	sl__pq_int(&p, n);
	PQclear(sl__pq_run(
	    q,
	    "INSERT INTO sluice.job_codes(job_id, code, count) VALUES($1, $2, $3)"
	    " ON CONFLICT (job_id, code) DO UPDATE SET count = job_codes.count + EXCLUDED.count",
	    &p, &rc));
	return rc;
}

static int pq_job_insert(sl_jobstore *s, sl_job *j)
{
	pq_store *q = pq_of_js(s);
	char seq[24];
	int rc = sl__pg_exec(q->pg, "SELECT pg_advisory_xact_lock(" SEQ_LOCK ")");
	if (rc == 0 &&
	    (rc = sl__pg_value(q->pg, "SELECT coalesce(max(seq), 0) + 1 FROM sluice.jobs", 0, NULL,
	                       seq, sizeof seq)) == 1)
		rc = 0;
	if (rc)
		return rc;
	j->seq = (uint32_t)strtoul(seq, NULL, 10);
	pq_params p = {.n = 0};
	bind_job(&p, j);
	PQclear(sl__pq_run(q,
	                   "INSERT INTO sluice.jobs(" JOB_COLS
	                   ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,"
	                   "$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30,$31,"
	                   "$32,$33,$34,$35,$36,$37,$38,$39)",
	                   &p, &rc));
	for (int k = 0; k < SL_ERROR_COUNT && rc == 0; k++)
		rc = add_code(q, j->id, k, (int64_t)j->rejects_by_code[k]);
	return rc;
}

static int pq_job_get(sl_jobstore *s, const char *id, sl_job *j);

/* A final row only when over_final ($40): see jobstore.h, Final states. */
static int pq_job_update(sl_jobstore *s, const sl_job *j, bool over_final)
{
	pq_store *q = pq_of_js(s);
	pq_params p = {.n = 0};
	int rc;
	bind_job(&p, j);
	sl__pq_int(&p, over_final);
	/* the parameters are bind_job's; the counters' are sent and not used,
	   and PostgreSQL wants every parameter's type known: those are cast */
	PGresult *r = sl__pq_run(
	    q,
	    "UPDATE sluice.jobs SET status = $3, file = $4, schema_path = $5, dataset = $6,"
	    " target_table = $7, schema_hash = $8, file_size = $9, file_hash = $10,"
	    " file_mtime_ns = $11, chunk_size = $12, chunks_total = $13, bytes_total = $20,"
	    " error_code = $22, error_message = $23, created_ms = $24, started_ms = $25,"
	    " finished_ms = $26, updated_ms = $27, correlation_id = $28, dialect = $29,"
	    " ignored_columns = $30, warnings = $31, same_as = $32, resumed = $35,"
	    " files = $38, mode = $39"
	    " WHERE id = $1 AND $2::bigint IS NOT NULL AND $14::bigint IS NOT NULL AND $15::bigint "
	    "IS NOT NULL"
	    " AND $16::bigint IS NOT NULL AND $17::bigint IS NOT NULL AND $18::bigint IS NOT NULL"
	    " AND $19::bigint IS NOT NULL AND $21::bigint IS NOT NULL AND $33::bigint IS NOT NULL"
	    " AND $34::bigint IS NOT NULL AND $36::bigint IS NOT NULL AND $37::bigint IS NOT NULL"
	    " AND ($40::bigint <> 0 OR status NOT IN ('Succeeded', 'PartiallySucceeded', 'Failed',"
	    " 'RolledBack', 'Cancelled'))",
	    &p, &rc);
	bool none = r && !strcmp(PQcmdTuples(r), "0");
	PQclear(r);
	if (!none)
		return rc;
	/* no such job, or one final already */
	sl_job now = {0};
	if ((rc = pq_job_get(s, j->id, &now)) < 0)
		return rc;
	if (rc == 0)
		return sl__pg_seterr(q->pg, SL_NOT_FOUND, "no job %s to update", j->id);
	rc = sl__pg_seterr(q->pg, SL_CONFLICT, "job %s is %s already: not overwritten", j->id,
	                   sl_job_status_name(now.status));
	sl_job_clear(&now);
	return rc;
}

static int pq_counts_add(sl_jobstore *s, const char *job_id, const sl_job_counts *d)
{
	pq_store *q = pq_of_js(s);
	pq_params p = {.n = 0};
	int rc;
	const int64_t v[] = {d->rows_read,        d->rows_loaded,       d->rows_rejected,
	                     d->records_padded,   d->records_truncated, d->chunks_processed,
	                     d->chunks_succeeded, d->chunks_failed,     d->bytes_done};
	sl__pq_str(&p, job_id);
	for (size_t k = 0; k < SL_ARRAY_LEN(v); k++)
		sl__pq_int(&p, v[k]);
	sl__pq_int(&p, sl_now_ms());
	sl__pq_int(&p, d->rows_inserted);
	sl__pq_int(&p, d->rows_updated);
	PGresult *r = sl__pq_run(
	    q,
	    "UPDATE sluice.jobs SET rows_read = rows_read + $2, rows_loaded = rows_loaded + $3,"
	    " rows_rejected = rows_rejected + $4,"
	    " records_padded = coalesce(records_padded, 0) + $5,"
	    " records_truncated = coalesce(records_truncated, 0) + $6,"
	    " chunks_processed = chunks_processed + $7, chunks_succeeded = chunks_succeeded + $8,"
	    " chunks_failed = chunks_failed + $9, bytes_done = bytes_done + $10,"
	    " updated_ms = greatest(coalesce(updated_ms, 0), $11),"
	    " rows_inserted = rows_inserted + $12, rows_updated = rows_updated + $13 WHERE id = $1",
	    &p, &rc);
	if (r && !strcmp(PQcmdTuples(r), "0"))
		rc = sl__pg_seterr(q->pg, SL_NOT_FOUND, "no job %s to count in", job_id);
	PQclear(r);
	for (int k = 0; k < SL_ERROR_COUNT && rc == 0; k++)
		rc = add_code(q, job_id, k, d->by_code[k]);
	return rc;
}

static int pq_job_get(sl_jobstore *s, const char *id, sl_job *j)
{
	pq_params p = {.n = 0};
	sl__pq_str(&p, id);
	return fetch_job(pq_of_js(s), "SELECT " JOB_COLS " FROM sluice.jobs WHERE id = $1", &p, j);
}

static int pq_job_find_open(sl_jobstore *s, const char *file, const char *table,
                            uint64_t schema_hash, sl_job *j)
{
	pq_params p = {.n = 0};
	sl__pq_str(&p, file);
	sl__pq_str(&p, table);
	sl__pq_int(&p, (int64_t)schema_hash);
	return fetch_job(
	    pq_of_js(s),
	    "SELECT " JOB_COLS
	    " FROM sluice.jobs WHERE file = $1 AND target_table = $2 AND schema_hash = $3"
	    " AND status IN ('Accepted','Chunking','ChunksQueued','Processing')"
	    " ORDER BY created_ms DESC, id DESC LIMIT 1",
	    &p, j);
}

static int pq_job_find_loaded(sl_jobstore *s, const char *table, uint64_t schema_hash,
                              uint64_t size, const uint64_t *hash, const char *dialect, sl_job *j)
{
	pq_params p = {.n = 0};
	sl__pq_str(&p, table);
	sl__pq_int(&p, (int64_t)schema_hash);
	sl__pq_int(&p, (int64_t)size);
	if (hash)
		sl__pq_int(&p, (int64_t)*hash);
	else
		sl__pq_str(&p, NULL);
	sl__pq_str(&p, dialect);
	return fetch_job(pq_of_js(s),
	                 "SELECT " JOB_COLS
	                 " FROM sluice.jobs WHERE target_table = $1 AND schema_hash = $2"
	                 " AND file_size = $3 AND ($4::bigint IS NULL OR file_hash = $4)"
	                 " AND dialect IS NOT DISTINCT FROM $5::text"
	                 " AND status IN ('Succeeded','PartiallySucceeded','Failed','Cancelled')"
	                 " AND same_as IS NULL AND chunks_total > 0"
	                 " ORDER BY created_ms DESC, id DESC LIMIT 1",
	                 &p, j);
}

/* A keyset walk on (created_ms, id), as in SQLite. */
static int pq_job_list(sl_jobstore *s, const sl_job_filter *f, sl_job_cb cb, void *ctx)
{
	pq_store *q = pq_of_js(s);
	pq_params p = {.n = 0};
	int rc;
	bool after = f->after.id[0] != 0;
	sl__pq_str(&p, f->status >= 0 ? sl_job_status_name((sl_job_status)f->status) : NULL);
	sl__pq_str(&p, f->dataset);
	sl__pq_int(&p, after ? f->after.created_ms : 0);
	sl__pq_str(&p, after ? f->after.id : NULL);
	if (f->limit)
		sl__pq_int(&p, (int64_t)f->limit);
	else
		sl__pq_str(&p, NULL);
	/* a prefix of the id or the correlation id, as bytes (left() counts
	   characters, which are bytes for the ASCII prefixes callers allow) */
	sl__pq_str(&p, f->prefix);
	PGresult *r = sl__pq_run(q,
	                         "SELECT " JOB_COLS
	                         " FROM sluice.jobs WHERE ($1::text IS NULL OR status = $1)"
	                         " AND ($2::text IS NULL OR dataset = $2)"
	                         " AND ($6::text IS NULL OR left(id, length($6)) = $6"
	                         " OR left(correlation_id, length($6)) = $6)"
	                         " AND ($4::text IS NULL OR (created_ms, id) < ($3::bigint, $4))"
	                         " ORDER BY created_ms DESC, id DESC LIMIT $5::bigint",
	                         &p, &rc);
	sl_job j = {0};
	for (int i = 0; r && rc == 0 && i < PQntuples(r); i++) {
		read_job(r, i, &j);
		if ((rc = read_codes(q, &j)) == 0 && (rc = sl__pq_refeed_fill(q, &j)) == 0)
			rc = cb(ctx, &j);
	}
	sl_job_clear(&j);
	PQclear(r);
	return rc;
}

/* --- chunks ------------------------------------------------------------------------- */

static void bind_chunk(pq_params *p, const char *job_id, const sl_chunk *c)
{
	sl__pq_str(p, job_id);
	sl__pq_int(p, c->seq);
	sl__pq_int(p, (int64_t)c->offset);
	sl__pq_int(p, (int64_t)c->length);
	sl__pq_int(p, (int64_t)c->hash);
	sl__pq_int(p, (int64_t)c->first_record);
	sl__pq_int(p, (int64_t)c->first_line);
	sl__pq_int(p, (int64_t)c->records_planned);
	sl__pq_str(p, sl_chunk_status_name(c->status));
	sl__pq_int(p, c->attempts);
	sl__pq_int(p, (int64_t)c->rows_read);
	sl__pq_int(p, (int64_t)c->rows_loaded);
	sl__pq_int(p, (int64_t)c->rows_rejected);
	sl__pq_int(p, c->duration_ms);
	sl__pq_str(p, c->last_error ? sl_error_name(c->last_error) : NULL);
	sl__pq_str(p, c->last_message[0] ? c->last_message : NULL);
	sl__pq_int(p, (int64_t)c->rows_inserted);
	sl__pq_int(p, (int64_t)c->rows_updated);
}

static int pq_chunk_update(sl_jobstore *s, const char *job_id, const sl_chunk *c)
{
	pq_params p = {.n = 0};
	int rc;
	bind_chunk(&p, job_id, c);
	PQclear(sl__pq_run(
	    pq_of_js(s),
	    "INSERT INTO sluice.chunks(" CHUNK_COLS
	    ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,"
	    "$14,$15,$16,$17,$18) ON CONFLICT (job_id, seq) DO UPDATE SET \"offset\" = "
	    "EXCLUDED.\"offset\","
	    " length = EXCLUDED.length, hash = EXCLUDED.hash, first_record = EXCLUDED.first_record,"
	    " first_line = EXCLUDED.first_line, records_planned = EXCLUDED.records_planned,"
	    " status = EXCLUDED.status, attempts = EXCLUDED.attempts, rows_read = "
	    "EXCLUDED.rows_read,"
	    " rows_loaded = EXCLUDED.rows_loaded, rows_rejected = EXCLUDED.rows_rejected,"
	    " duration_ms = EXCLUDED.duration_ms, last_error = EXCLUDED.last_error,"
	    " last_message = EXCLUDED.last_message, rows_inserted = EXCLUDED.rows_inserted,"
	    " rows_updated = EXCLUDED.rows_updated",
	    &p, &rc));
	return rc;
}

static int pq_chunks_replace(sl_jobstore *s, const char *job_id, const sl_chunk *c, size_t n)
{
	pq_params p = {.n = 0};
	int rc;
	sl__pq_str(&p, job_id);
	PQclear(sl__pq_run(pq_of_js(s), "DELETE FROM sluice.chunks WHERE job_id = $1", &p, &rc));
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = pq_chunk_update(s, job_id, &c[i]);
	return rc;
}

static int pq_chunks_get(sl_jobstore *s, const char *job_id, sl_chunk **out, size_t *n)
{
	pq_params p = {.n = 0};
	int rc;
	*out = NULL;
	*n = 0;
	sl__pq_str(&p, job_id);
	PGresult *r = sl__pq_run(
	    pq_of_js(s), "SELECT " CHUNK_COLS " FROM sluice.chunks WHERE job_id = $1 ORDER BY seq",
	    &p, &rc);
	int rows = r ? PQntuples(r) : 0;
	if (r && rows > 0 && !(*out = calloc((size_t)rows, sizeof **out)))
		rc = SL_NOMEM;
	for (int k = 0; rc == 0 && k < rows; k++) {
		sl_chunk *c = &(*out)[k];
		int i = 1;
		c->seq = (uint32_t)get_i(r, k, i++);
		c->offset = (uint64_t)get_i(r, k, i++);
		c->length = (uint64_t)get_i(r, k, i++);
		c->hash = (uint64_t)get_i(r, k, i++);
		c->first_record = (uint64_t)get_i(r, k, i++);
		c->first_line = (uint64_t)get_i(r, k, i++);
		c->records_planned = (uint64_t)get_i(r, k, i++);
		const char *st = PQgetvalue(r, k, i++);
		for (int x = 0; x < SL_CHUNK_NSTATUS; x++)
			if (!strcmp(st, sl_chunk_status_name((sl_chunk_status)x)))
				c->status = (sl_chunk_status)x;
		c->attempts = (uint32_t)get_i(r, k, i++);
		c->rows_read = (uint64_t)get_i(r, k, i++);
		c->rows_loaded = (uint64_t)get_i(r, k, i++);
		c->rows_rejected = (uint64_t)get_i(r, k, i++);
		c->duration_ms = get_i(r, k, i++);
		c->last_error = PQgetisnull(r, k, i) ? 0 : sl_error_from_name(PQgetvalue(r, k, i));
		i++;
		if (c->last_error > 0)
			c->last_error = SL_INTERNAL;
		snprintf(c->last_message, sizeof c->last_message, "%s", PQgetvalue(r, k, i++));
		c->rows_inserted = (uint64_t)get_i(r, k, i++);
		c->rows_updated = (uint64_t)get_i(r, k, i++);
		(*n)++;
	}
	PQclear(r);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* --- rejects and events ------------------------------------------------------------------- */

static int pq_reject_insert(sl_jobstore *s, const char *job_id, uint32_t chunk, const sl_reject *r,
                            const char *column)
{
	pq_params p = {.n = 0};
	int rc;
	/* text parameters are C strings: the message may hold any byte, so it
	   goes as a copy */
	char *msg = strndup(r->message.p ? r->message.p : "", r->message.n);
	if (!msg)
		return SL_NOMEM;
	sl__pq_str(&p, job_id);
	sl__pq_int(&p, chunk);
	sl__pq_int(&p, (int64_t)r->record);
	sl__pq_int(&p, (int64_t)r->line);
	sl__pq_int(&p, (int64_t)r->offset);
	sl__pq_str(&p, column);
	sl__pq_str(&p, sl_error_name(r->code));
	sl__pq_str(&p, msg);
	sl__pq_bytes(&p, r->raw.p, r->raw.n);
	char *file = r->file.n ? strndup(r->file.p, r->file.n) : NULL;
	if (r->file.n && !file) {
		free(msg);
		return SL_NOMEM;
	}
	sl__pq_str(&p, file);
	PQclear(sl__pq_run(pq_of_js(s),
	                   "INSERT INTO sluice.rejects(job_id, chunk, record, line, \"offset\", "
	                   "column_name, code, message,"
	                   " raw, file) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
	                   &p, &rc));
	free(msg);
	free(file);
	return rc;
}

static int64_t bin_i(const PGresult *r, int row, int col)
{
	uint64_t x = 0;
	if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != 8)
		return 0;
	memcpy(&x, PQgetvalue(r, row, col), 8);
	return (int64_t)be64toh(x);
}

static int pq_rejects_each(sl_jobstore *s, const char *job_id, int code, sl_reject_cb cb, void *ctx)
{
	pq_store *q = pq_of_js(s);
	const char *params[2] = {job_id, code ? sl_error_name(code) : NULL};
	/* binary results: the raw bytes come as they are */
	PGresult *r = PQexecParams(
	    sl__pg_conn(q->pg),
	    "SELECT chunk, record, line, \"offset\", column_name, code, message, raw, file,"
	    " resolved_by FROM "
	    "sluice.rejects"
	    " WHERE job_id = $1 AND ($2::text IS NULL OR code = $2) ORDER BY record, id",
	    2, NULL, params, NULL, NULL, 1);
	int rc = 0;
	if (!r || PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = sl__pg_fail(q->pg, r, "rejects");
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		sl_reject rj = {0};
		rj.record = (uint64_t)bin_i(r, i, 1);
		rj.line = (uint64_t)bin_i(r, i, 2);
		rj.offset = (uint64_t)bin_i(r, i, 3);
		rj.column = -1;
		const char *col = PQgetisnull(r, i, 4) ? NULL : PQgetvalue(r, i, 4);
		rj.code = sl_error_from_name(PQgetvalue(r, i, 5));
		rj.message = sl_str_make(PQgetvalue(r, i, 6), (size_t)PQgetlength(r, i, 6));
		rj.raw = sl_str_make(PQgetvalue(r, i, 7), (size_t)PQgetlength(r, i, 7));
		if (!PQgetisnull(r, i, 8))
			rj.file = sl_str_make(PQgetvalue(r, i, 8), (size_t)PQgetlength(r, i, 8));
		if (!PQgetisnull(r, i, 9))
			rj.resolved_by =
			    sl_str_make(PQgetvalue(r, i, 9), (size_t)PQgetlength(r, i, 9));
		rc = cb(ctx, (uint32_t)bin_i(r, i, 0), &rj, col);
	}
	PQclear(r);
	return rc;
}

static int pq_event_insert(sl_jobstore *s, const sl_event *e)
{
	pq_params p = {.n = 0};
	int rc;
	sl__pq_str(&p, e->job_id);
	if (e->chunk >= 0)
		sl__pq_int(&p, e->chunk);
	else
		sl__pq_str(&p, NULL);
	sl__pq_str(&p, e->kind);
	sl__pq_int(&p, sl_now_ms());
	sl__pq_int(&p, (int64_t)e->rows_read);
	sl__pq_int(&p, (int64_t)e->rows_loaded);
	sl__pq_int(&p, (int64_t)e->rows_rejected);
	sl__pq_int(&p, e->duration_ms);
	sl__pq_str(&p, e->message);
	PQclear(sl__pq_run(pq_of_js(s),
	                   "INSERT INTO sluice.events(job_id, chunk, kind, at_ms, rows_read, "
	                   "rows_loaded, rows_rejected,"
	                   " duration_ms, message) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9)",
	                   &p, &rc));
	return rc;
}

static int pq_gc(sl_jobstore *s, int64_t before_ms, uint64_t *jobs)
{
	pq_store *q = pq_of_js(s);
	pq_params p = {.n = 0};
	int rc;
	*jobs = 0;
	sl__pq_int(&p, before_ms);
#define OLD_JOBS                                                                                   \
	"SELECT id FROM sluice.jobs WHERE updated_ms < $1 AND status IN"                           \
	" ('Succeeded','PartiallySucceeded','Failed','RolledBack','Cancelled')"
	PQclear(
	    sl__pq_run(q, "DELETE FROM sluice.rejects WHERE job_id IN (" OLD_JOBS ")", &p, &rc));
	if (rc == 0)
		PQclear(sl__pq_run(q, "DELETE FROM sluice.events WHERE job_id IN (" OLD_JOBS ")",
		                   &p, &rc));
	if (rc == 0) {
		PGresult *r = sl__pq_run(q, "SELECT count(*) FROM (" OLD_JOBS ") o", &p, &rc);
		if (r && PQntuples(r))
			*jobs = (uint64_t)get_i(r, 0, 0);
		PQclear(r);
	}
#undef OLD_JOBS
	return rc;
}

/* --- idempotency keys and cancel requests ----------------------------------------------------- */

static int pq_idem_get(sl_jobstore *s, sl_idem *e)
{
	pq_params p = {.n = 0};
	int rc;
	sl__pq_str(&p, e->key);
	/* a key's look-up and its recording (idem_put, in the transaction that
	   records the job) are one step for every process on the store: a
	   transaction-scoped lock on the key, so a second `sluice serve`
	   recording the same key waits for the first's commit and then finds
	   its job here (the primary key stays the last line of defence).
	   Outside a transaction (a plain look-up) the lock ends with the
	   statement. A statement of its own: the look-up's snapshot must be
	   taken after the wait (READ COMMITTED takes one per statement). */
	PQclear(sl__pq_run(
	    pq_of_js(s), "SELECT pg_advisory_xact_lock(hashtext('sluice.idem ' || $1))", &p, &rc));
	if (rc < 0)
		return rc;
	PGresult *r = sl__pq_run(
	    pq_of_js(s),
	    "SELECT job_id, dataset, size, hash FROM sluice.idempotency WHERE key = $1", &p, &rc);
	if (r && PQntuples(r)) {
		snprintf(e->job_id, sizeof e->job_id, "%s", PQgetvalue(r, 0, 0));
		snprintf(e->dataset, sizeof e->dataset, "%s", PQgetvalue(r, 0, 1));
		e->size = (uint64_t)get_i(r, 0, 2);
		e->hash = (uint64_t)get_i(r, 0, 3);
		rc = 1;
	}
	PQclear(r);
	return rc;
}

static int pq_idem_put(sl_jobstore *s, const sl_idem *e)
{
	pq_params p = {.n = 0};
	int rc;
	sl__pq_str(&p, e->key);
	sl__pq_str(&p, e->job_id);
	sl__pq_str(&p, e->dataset);
	sl__pq_int(&p, (int64_t)e->size);
	sl__pq_int(&p, (int64_t)e->hash);
	sl__pq_int(&p, sl_now_ms());
	PQclear(sl__pq_run(
	    pq_of_js(s),
	    "INSERT INTO sluice.idempotency(key, job_id, dataset, size, hash, created_ms)"
	    " VALUES($1,$2,$3,$4,$5,$6)",
	    &p, &rc));
	return rc;
}

static int pq_cancel_set(sl_jobstore *s, const char *job_id, bool on)
{
	pq_params p = {.n = 0};
	int rc;
	sl__pq_str(&p, job_id);
	if (on)
		sl__pq_int(&p, sl_now_ms());
	PQclear(sl__pq_run(pq_of_js(s),
	                   on ? "INSERT INTO sluice.cancels(job_id, at_ms) VALUES($1, $2)"
	                        " ON CONFLICT (job_id) DO UPDATE SET at_ms = EXCLUDED.at_ms"
	                      : "DELETE FROM sluice.cancels WHERE job_id = $1",
	                   &p, &rc));
	return rc;
}

static int pq_cancel_get(sl_jobstore *s, const char *job_id)
{
	pq_params p = {.n = 0};
	int rc;
	sl__pq_str(&p, job_id);
	PGresult *r =
	    sl__pq_run(pq_of_js(s), "SELECT 1 FROM sluice.cancels WHERE job_id = $1", &p, &rc);
	if (r && PQntuples(r))
		rc = 1;
	PQclear(r);
	return rc;
}

static int pq_chunk_counts(sl_jobstore *s, uint64_t *out)
{
	int rc;
	memset(out, 0, SL_CHUNK_NSTATUS * sizeof *out);
	PGresult *r = sl__pq_run(
	    pq_of_js(s), "SELECT status, count(*) FROM sluice.chunks GROUP BY status", NULL, &rc);
	for (int i = 0; r && i < PQntuples(r); i++)
		for (int k = 0; k < SL_CHUNK_NSTATUS; k++)
			if (!strcmp(PQgetvalue(r, i, 0), sl_chunk_status_name((sl_chunk_status)k)))
				out[k] = (uint64_t)get_i(r, i, 1);
	PQclear(r);
	return rc;
}

/* The migrations applied (sluice.store_version) and this build's. */
static int pq_version(sl_jobstore *s, int *have, int *want)
{
	pq_store *q = pq_of_js(s);
	int rc;
	*want = SL_PG_STORE_VERSION;
	*have = 0;
	PGresult *r =
	    sl__pq_run(q, "SELECT coalesce(max(version), 0) FROM sluice.store_version", NULL, &rc);
	if (r && PQntuples(r) > 0)
		*have = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return rc;
}

const sl_jobstore_ops sl__pq_js_ops = {
    .name = "postgres",
    .job_insert = pq_job_insert,
    .job_update = pq_job_update,
    .counts_add = pq_counts_add,
    .job_get = pq_job_get,
    .job_find_open = pq_job_find_open,
    .job_find_loaded = pq_job_find_loaded,
    .job_list = pq_job_list,
    .chunks_replace = pq_chunks_replace,
    .chunks_get = pq_chunks_get,
    .chunk_update = pq_chunk_update,
    .reject_insert = pq_reject_insert,
    .rejects_each = pq_rejects_each,
    .event_insert = pq_event_insert,
    .gc = pq_gc,
    .idem_get = pq_idem_get,
    .idem_put = pq_idem_put,
    .cancel_set = pq_cancel_set,
    .cancel_get = pq_cancel_get,
    .chunk_counts = pq_chunk_counts,
    .chunk_claim = sl__pq_chunk_claim,
    .lease_renew = sl__pq_lease_renew,
    .lease_fence = sl__pq_lease_fence,
    .lease_release = sl__pq_lease_release,
    .chunks_open = sl__pq_chunks_open,
    .chunk_add = sl__pq_chunk_add,
    .reject_holder = sl__pq_reject_holder,
    .rejects_rehold = sl__pq_rejects_rehold,
    .refeed_claim = sl__pq_refeed_claim,
    .refeed_input = sl__pq_refeed_input,
    .refeed_read = sl__pq_refeed_read,
    .refeed_settle = sl__pq_refeed_settle,
    .version = pq_version,
    .leader_acquire = sl__pq_leader_acquire,
    .leader_fence = sl__pq_leader_fence,
    .leader_release = sl__pq_leader_release,
    .leader_get = sl__pq_leader_get,
    .chunks_reap = sl__pq_chunks_reap,
    .chunks_due = sl__pq_chunks_due,
    .idle_wait = sl__pq_idle_wait,
};
