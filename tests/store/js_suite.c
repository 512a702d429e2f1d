/*
 * The job store conformance suite (backends.h): what every backend of
 * src/store/jobstore.h must do, through its inline wrappers only. Each test
 * gets a fresh store in a fresh temporary directory; expected values are
 * the ones the test wrote, read back field by field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <xxhash.h>

#include "base/base.h"
#include "sluice/error.h"
#include "backends.h"

/* A job with every field set to something distinct. */
static void make_job(sl_job *j, const char *id, const char *file, sl_job_status st, int64_t created)
{
	memset(j, 0, sizeof *j);
	snprintf(j->id, sizeof j->id, "%s", id);
	j->status = st;
	j->file = strdup(file);
	j->schema_path = strdup("/schemas/cdr.yaml");
	j->dataset = strdup("cdr");
	j->table = strdup("calls");
	j->schema_hash = 0xfedcba9876543210u; /* above INT64_MAX: stored as 64 bits */
	j->file_size = 123456789012u;
	j->file_hash = 0x8000000000000001u;
	j->file_mtime_ns = 1700000000123456789;
	j->chunk_size = 1 << 20;
	j->chunks_total = 7;
	j->chunks_processed = 5;
	j->chunks_succeeded = 4;
	j->chunks_failed = 1;
	j->rows_read = 1000;
	j->rows_loaded = 990;
	j->rows_inserted = 900;
	j->rows_updated = 90;
	j->rows_rejected = 10;
	j->bytes_total = 5000;
	j->bytes_done = 4000;
	j->rejects_by_code[sl_error_index(SL_VAL_TYPE)] = 7;
	j->rejects_by_code[sl_error_index(SL_CSV_TOO_FEW_FIELDS)] = 3;
	j->created_ms = created;
	j->started_ms = created + 1;
	j->finished_ms = 0;
	j->updated_ms = created + 2;
	j->correlation_id = strdup("corr-1");
}

static void assert_str_or_null(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_job_equal(const sl_job *a, const sl_job *b)
{
	assert_string_equal(a->id, b->id);
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->status, b->status);
	assert_str_or_null(a->file, b->file);
	assert_str_or_null(a->schema_path, b->schema_path);
	assert_str_or_null(a->dataset, b->dataset);
	assert_str_or_null(a->table, b->table);
	assert_true(a->schema_hash == b->schema_hash);
	assert_true(a->file_size == b->file_size);
	assert_true(a->file_hash == b->file_hash);
	assert_true(a->file_mtime_ns == b->file_mtime_ns);
	assert_true(a->chunk_size == b->chunk_size);
	assert_true(a->chunks_total == b->chunks_total);
	assert_true(a->chunks_processed == b->chunks_processed);
	assert_true(a->chunks_succeeded == b->chunks_succeeded);
	assert_true(a->chunks_failed == b->chunks_failed);
	assert_true(a->rows_read == b->rows_read);
	assert_true(a->rows_loaded == b->rows_loaded);
	assert_true(a->rows_inserted == b->rows_inserted && a->rows_updated == b->rows_updated);
	assert_true(a->rows_rejected == b->rows_rejected);
	assert_true(a->bytes_total == b->bytes_total);
	assert_true(a->bytes_done == b->bytes_done);
	for (int k = 0; k < SL_ERROR_COUNT; k++)
		if (a->rejects_by_code[k] != b->rejects_by_code[k])
			fail_msg("rejects of %s: %llu, want %llu", sl_error_name(sl_error_at(k)),
			         (unsigned long long)a->rejects_by_code[k],
			         (unsigned long long)b->rejects_by_code[k]);
	assert_int_equal(a->error_code, b->error_code);
	assert_str_or_null(a->error_message, b->error_message);
	assert_true(a->created_ms == b->created_ms);
	assert_true(a->started_ms == b->started_ms);
	assert_true(a->finished_ms == b->finished_ms);
	assert_true(a->updated_ms == b->updated_ms);
	assert_str_or_null(a->correlation_id, b->correlation_id);
}

/* --- jobs ----------------------------------------------------------------------- */

static void jobs_round_trip_every_field(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	sl_job a, b, got = {0};
	make_job(&a, "j1", "/data/a.csv", SL_JOB_PROCESSING, 1000);
	make_job(&b, "j2", "/data/b.csv", SL_JOB_ACCEPTED, 2000);
	free(b.correlation_id);
	b.correlation_id = NULL; /* NULL strings stay NULL */
	OK(s->txn, sl_js_job_insert(s, &a));
	OK(s->txn, sl_js_job_insert(s, &b));
	assert_int_equal(a.seq, 1);
	assert_int_equal(b.seq, 2);
	/* job_insert stores the row, counters and per-code counts included */
	assert_int_equal(sl_js_job_get(s, "j1", &got), 1);
	assert_job_equal(&got, &a);
	assert_int_equal(sl_js_job_get(s, "j2", &got), 1);
	assert_string_equal(got.id, "j2");
	assert_null(got.correlation_id);
	assert_int_equal(sl_js_job_get(s, "nope", &got), 0);

	/* an update rewrites what it is given, but never the counters: they
	   change by increments only (counts_add), so two writers add up */
	a.status = SL_JOB_FAILED;
	a.error_code = SL_DB_IO;
	a.error_message = strdup("the disk went away");
	a.finished_ms = 5000;
	a.chunks_total = 77;
	a.bytes_total = 7777;
	sl_job written = a;
	written.rows_loaded = 991;
	written.chunks_succeeded = 55;
	written.rejects_by_code[sl_error_index(SL_VAL_TYPE)] = 8;
	OK(s->txn, sl_js_job_update(s, &written));
	assert_int_equal(sl_js_job_get(s, "j1", &got), 1);
	assert_job_equal(&got, &a);
	/* an update of no job says so */
	sl_job ghost = a;
	snprintf(ghost.id, sizeof ghost.id, "ghost");
	assert_int_equal(sl_js_job_update(s, &ghost), SL_NOT_FOUND);
	sl_job_clear(&got);
	sl_job_clear(&a);
	sl_job_clear(&b);
}

struct seen {
	char ids[16][SL_JOB_ID_LEN];
	int n;
	int stop_after;
};

static int collect_job(void *ctx, const sl_job *j)
{
	struct seen *w = ctx;
	if (w->n < 16)
		snprintf(w->ids[w->n++], SL_JOB_ID_LEN, "%s", j->id);
	return w->stop_after && w->n == w->stop_after ? 42 : 0;
}

static void jobs_list_filters_by_status_newest_first(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	static const struct {
		const char *id;
		sl_job_status st;
	} jobs[] = {{"ja", SL_JOB_SUCCEEDED},
	            {"jb", SL_JOB_FAILED},
	            {"jc", SL_JOB_SUCCEEDED},
	            {"jd", SL_JOB_QUEUED},
	            {"je", SL_JOB_SUCCEEDED}};
	for (size_t i = 0; i < SL_ARRAY_LEN(jobs); i++) {
		sl_job j;
		make_job(&j, jobs[i].id, "/data/x.csv", jobs[i].st, 1000 + (int64_t)i);
		OK(s->txn, sl_js_job_insert(s, &j));
		sl_job_clear(&j);
	}
	struct seen w = {0};
	OK(s->txn, sl_js_job_list(s, NULL, collect_job, &w));
	assert_int_equal(w.n, 5);
	const char *all[] = {"je", "jd", "jc", "jb", "ja"};
	for (int i = 0; i < 5; i++)
		assert_string_equal(w.ids[i], all[i]);
	memset(&w, 0, sizeof w);
	sl_job_filter fl = SL_JOB_FILTER_ALL;
	fl.status = SL_JOB_SUCCEEDED;
	OK(s->txn, sl_js_job_list(s, &fl, collect_job, &w));
	assert_int_equal(w.n, 3);
	assert_string_equal(w.ids[0], "je");
	assert_string_equal(w.ids[1], "jc");
	assert_string_equal(w.ids[2], "ja");
	memset(&w, 0, sizeof w);
	fl.status = SL_JOB_CANCELLED;
	OK(s->txn, sl_js_job_list(s, &fl, collect_job, &w));
	assert_int_equal(w.n, 0);
	/* a callback's non-zero answer stops the walk and comes back */
	memset(&w, 0, sizeof w);
	w.stop_after = 2;
	assert_int_equal(sl_js_job_list(s, NULL, collect_job, &w), 42);
	assert_int_equal(w.n, 2);
}

static void jobs_find_open_takes_the_newest_unfinished_match(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	sl_job j, got = {0};
	make_job(&j, "old", "/data/x.csv", SL_JOB_PROCESSING, 1000);
	OK(s->txn, sl_js_job_insert(s, &j));
	sl_job_clear(&j);
	make_job(&j, "new", "/data/x.csv", SL_JOB_QUEUED, 2000);
	OK(s->txn, sl_js_job_insert(s, &j));
	sl_job_clear(&j);
	make_job(&j, "done", "/data/x.csv", SL_JOB_SUCCEEDED, 3000);
	OK(s->txn, sl_js_job_insert(s, &j));
	sl_job_clear(&j);
	make_job(&j, "other", "/data/y.csv", SL_JOB_PROCESSING, 4000);
	OK(s->txn, sl_js_job_insert(s, &j));
	const uint64_t h = j.schema_hash;
	sl_job_clear(&j);

	assert_int_equal(sl_js_job_find_open(s, "/data/x.csv", "calls", h, &got), 1);
	assert_string_equal(got.id, "new");
	/* another table or schema is another job */
	assert_int_equal(sl_js_job_find_open(s, "/data/x.csv", "other_table", h, &got), 0);
	assert_int_equal(sl_js_job_find_open(s, "/data/x.csv", "calls", h + 1, &got), 0);
	assert_int_equal(sl_js_job_find_open(s, "/data/z.csv", "calls", h, &got), 0);
	/* once finished, it is no longer open */
	make_job(&j, "new", "/data/x.csv", SL_JOB_CANCELLED, 2000);
	j.seq = 2;
	OK(s->txn, sl_js_job_update(s, &j));
	sl_job_clear(&j);
	assert_int_equal(sl_js_job_find_open(s, "/data/x.csv", "calls", h, &got), 1);
	assert_string_equal(got.id, "old");
	sl_job_clear(&got);
}

/* --- transactions ---------------------------------------------------------------- */

static void rollback_undoes_and_commit_keeps(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	sl_job j, got = {0};
	make_job(&j, "tx", "/data/x.csv", SL_JOB_PROCESSING, 1000);
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_job_insert(s, &j));
	OK(s->txn, sl_js_cancel_set(s, "tx", true));
	sl_txn_rollback(s->txn);
	assert_int_equal(sl_js_job_get(s, "tx", &got), 0);
	assert_int_equal(sl_js_cancel_get(s, "tx"), 0);
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_job_insert(s, &j));
	OK(s->txn, sl_txn_commit(s->txn));
	assert_int_equal(sl_js_job_get(s, "tx", &got), 1);
	/* a rollback outside a transaction is harmless */
	sl_txn_rollback(s->txn);
	assert_int_equal(sl_js_job_get(s, "tx", &got), 1);
	sl_job_clear(&got);
	sl_job_clear(&j);
}

static void a_second_writer_is_told_busy(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	sl_store second;
	char msg[256];
	int rc = f->b->open(f->dir, 50, &second, msg, sizeof msg);
	if (rc < 0)
		fail_msg("second open: %s (%s)", sl_error_name(rc), msg);
	sl_txn *t = second.txn;
	OK(s->txn, sl_txn_begin(s->txn));
	if (!strcmp(f->b->name, "postgres")) {
		/* PostgreSQL's writers do not exclude each other: the second
		   waits for the row the first holds (50 ms), then hears DB_BUSY */
		sl_job j = {0}, got = {0};
		snprintf(j.id, sizeof j.id, "busy");
		OK(s->txn, sl_js_job_insert(s, &j));
		OK(s->txn, sl_txn_commit(s->txn));
		OK(s->txn, sl_txn_begin(s->txn));
		OK(s->txn, sl_js_job_update(s, &j));
		OK(t, sl_txn_begin(t));
		assert_int_equal(sl_js_job_get(second.js, "busy", &got), 1);
		assert_int_equal(sl_js_job_update(second.js, &j), SL_DB_BUSY);
		assert_true(strlen(sl_txn_errmsg(t)) > 0);
		sl_txn_rollback(t);
		sl_job_clear(&got);
	} else {
		/* begin takes the write lock: the second handle waits 50 ms, then
		   hears DB_BUSY (transient), and gets it once the first commits */
		assert_int_equal(sl_txn_begin(t), SL_DB_BUSY);
		assert_true(strlen(sl_txn_errmsg(t)) > 0);
	}
	OK(s->txn, sl_txn_commit(s->txn));
	OK(t, sl_txn_begin(t));
	OK(t, sl_txn_commit(t));
	sl_store_close(&second);
}

/* --- chunks ------------------------------------------------------------------------ */

static void make_chunk(sl_chunk *c, uint32_t seq)
{
	memset(c, 0, sizeof *c);
	c->seq = seq;
	c->offset = (uint64_t)seq * 1000;
	c->length = 1000 - seq;
	c->hash = 0xffffffff00000000u + seq;
	c->first_record = (uint64_t)seq * 10;
	c->first_line = (uint64_t)seq * 10 + 2;
	c->records_planned = 10;
	c->status = SL_CHUNK_QUEUED;
}

static void assert_chunk_equal(const sl_chunk *a, const sl_chunk *b)
{
	assert_int_equal(a->seq, b->seq);
	assert_true(a->offset == b->offset && a->length == b->length && a->hash == b->hash);
	assert_true(a->first_record == b->first_record && a->first_line == b->first_line);
	assert_true(a->records_planned == b->records_planned);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->attempts, b->attempts);
	assert_true(a->rows_read == b->rows_read && a->rows_loaded == b->rows_loaded &&
	            a->rows_rejected == b->rows_rejected);
	assert_true(a->rows_inserted == b->rows_inserted && a->rows_updated == b->rows_updated);
	assert_true(a->duration_ms == b->duration_ms);
	assert_int_equal(a->last_error, b->last_error);
	assert_string_equal(a->last_message, b->last_message);
}

static void chunks_replace_get_update(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	sl_chunk c[5], *got = NULL;
	size_t n = 99;
	/* inserted out of order, read back in seq order */
	for (uint32_t i = 0; i < 5; i++)
		make_chunk(&c[i], 4 - i);
	OK(s->txn, sl_js_chunks_replace(s, "j1", c, 5));
	OK(s->txn, sl_js_chunks_replace(s, "j2", c, 2));
	OK(s->txn, sl_js_chunks_get(s, "j1", &got, &n));
	assert_int_equal(n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_chunk_equal(&got[i], &c[4 - i]);
	free(got);

	sl_chunk u = c[2]; /* seq 2 */
	u.status = SL_CHUNK_FAILED;
	u.attempts = 3;
	u.rows_read = 10;
	u.rows_loaded = 8;
	u.rows_inserted = 3;
	u.rows_updated = 5;
	u.rows_rejected = 2;
	u.duration_ms = 77;
	u.last_error = SL_DB_BUSY;
	snprintf(u.last_message, sizeof u.last_message, "database is locked");
	OK(s->txn, sl_js_chunk_update(s, "j1", &u));
	OK(s->txn, sl_js_chunks_get(s, "j1", &got, &n));
	assert_int_equal(n, 5);
	assert_chunk_equal(&got[2], &u);
	assert_chunk_equal(&got[3], &c[1]);
	free(got);

	/* replace drops what is not given again; other jobs keep theirs */
	OK(s->txn, sl_js_chunks_replace(s, "j1", &c[4], 1));
	OK(s->txn, sl_js_chunks_get(s, "j1", &got, &n));
	assert_int_equal(n, 1);
	assert_chunk_equal(&got[0], &c[4]);
	free(got);
	OK(s->txn, sl_js_chunks_get(s, "j2", &got, &n));
	assert_int_equal(n, 2);
	free(got);
	OK(s->txn, sl_js_chunks_get(s, "none", &got, &n));
	assert_int_equal(n, 0);
	free(got);
}

static void chunk_counts_cover_every_job(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	sl_chunk c[6];
	for (uint32_t i = 0; i < 6; i++) {
		make_chunk(&c[i], i);
		c[i].status = (sl_chunk_status)(i % SL_CHUNK_NSTATUS);
	}
	/* j1: Queued, Processing, Succeeded, Failed, Queued, Processing; j2: Queued, Processing */
	OK(s->txn, sl_js_chunks_replace(s, "j1", c, 6));
	OK(s->txn, sl_js_chunks_replace(s, "j2", c, 2));
	uint64_t out[SL_CHUNK_NSTATUS];
	memset(out, 0xff, sizeof out);
	OK(s->txn, sl_js_chunk_counts(s, out));
	assert_int_equal(out[SL_CHUNK_QUEUED], 3);
	assert_int_equal(out[SL_CHUNK_PROCESSING], 3);
	assert_int_equal(out[SL_CHUNK_SUCCEEDED], 1);
	assert_int_equal(out[SL_CHUNK_FAILED], 1);
}

/* --- rejects, events, gc ----------------------------------------------------------- */

struct rj {
	int n, stop_at;
	uint64_t records[16];
	int codes[16];
	char cols[16][16];
	uint32_t chunks[16];
	char raw[16][16];
	size_t raw_n[16];
};

static int collect_reject(void *ctx, uint32_t chunk, const sl_reject *r, const char *column)
{
	struct rj *w = ctx;
	if (w->n < 16) {
		w->records[w->n] = r->record;
		w->codes[w->n] = r->code;
		w->chunks[w->n] = chunk;
		snprintf(w->cols[w->n], 16, "%s", column ? column : "(null)");
		w->raw_n[w->n] = r->raw.n < 16 ? r->raw.n : 16;
		if (w->raw_n[w->n]) /* an empty view may have a NULL pointer */
			memcpy(w->raw[w->n], r->raw.p, w->raw_n[w->n]);
		assert_true(r->message.n > 0);
		w->n++;
	}
	return w->stop_at && w->n == w->stop_at ? 7 : 0;
}

static void put_reject(sl_jobstore *s, const char *job, uint32_t chunk, uint64_t record, int code,
                       const char *col, const char *raw, size_t rawn)
{
	sl_reject r = {0};
	r.record = record;
	r.line = record + 1;
	r.offset = record * 10;
	r.column = col ? 0 : -1;
	r.code = code;
	r.message = SL_STR_LIT("why it was rejected");
	r.raw = sl_str_make(raw, rawn);
	OK(s->txn, sl_js_reject_insert(s, job, chunk, &r, col));
}

static void rejects_read_back_in_record_order_and_by_code(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	put_reject(s, "j1", 1, 30, SL_VAL_TYPE, "cost", "a,b\0c", 5);
	put_reject(s, "j1", 0, 10, SL_CSV_TOO_FEW_FIELDS, NULL, "x", 1);
	put_reject(s, "j1", 0, 20, SL_VAL_TYPE, "duration", "", 0);
	put_reject(s, "j2", 0, 5, SL_VAL_TYPE, "cost", "y", 1);
	struct rj w = {0};
	OK(s->txn, sl_js_rejects_each(s, "j1", 0, collect_reject, &w));
	assert_int_equal(w.n, 3);
	assert_int_equal(w.records[0], 10);
	assert_int_equal(w.codes[0], SL_CSV_TOO_FEW_FIELDS);
	assert_string_equal(w.cols[0], "(null)");
	assert_int_equal(w.records[1], 20);
	assert_int_equal(w.records[2], 30);
	assert_int_equal(w.chunks[2], 1);
	assert_string_equal(w.cols[2], "cost");
	/* raw bytes are bytes: a NUL inside survives */
	assert_int_equal(w.raw_n[2], 5);
	assert_memory_equal(w.raw[2], "a,b\0c", 5);
	assert_int_equal(w.raw_n[1], 0);

	memset(&w, 0, sizeof w);
	OK(s->txn, sl_js_rejects_each(s, "j1", SL_VAL_TYPE, collect_reject, &w));
	assert_int_equal(w.n, 2);
	assert_int_equal(w.records[0], 20);
	assert_int_equal(w.records[1], 30);
	memset(&w, 0, sizeof w);
	OK(s->txn, sl_js_rejects_each(s, "j1", SL_DUP_KEY, collect_reject, &w));
	assert_int_equal(w.n, 0);
	memset(&w, 0, sizeof w);
	w.stop_at = 1;
	assert_int_equal(sl_js_rejects_each(s, "j1", 0, collect_reject, &w), 7);
	assert_int_equal(w.n, 1);
}

static void gc_removes_rejects_of_old_finished_jobs_only(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	sl_job j;
	make_job(&j, "old_done", "/d/a.csv", SL_JOB_SUCCEEDED, 1000);
	OK(s->txn, sl_js_job_insert(s, &j));
	sl_job_clear(&j);
	make_job(&j, "old_running", "/d/b.csv", SL_JOB_PROCESSING, 1000);
	OK(s->txn, sl_js_job_insert(s, &j));
	sl_job_clear(&j);
	make_job(&j, "new_done", "/d/c.csv", SL_JOB_FAILED, 900000);
	OK(s->txn, sl_js_job_insert(s, &j));
	sl_job_clear(&j);
	const char *ids[] = {"old_done", "old_running", "new_done"};
	for (int i = 0; i < 3; i++) {
		put_reject(s, ids[i], 0, 1, SL_VAL_RANGE, "c", "r", 1);
		sl_event e = {ids[i], -1, "job_end", 1, 1, 0, 5, "done"};
		OK(s->txn, sl_js_event_insert(s, &e));
		sl_event ce = {ids[i], 0, "chunk_end", 1, 1, 0, 5, NULL};
		OK(s->txn, sl_js_event_insert(s, &ce));
	}
	uint64_t jobs = 99;
	OK(s->txn, sl_js_gc(s, 500000, &jobs));
	assert_int_equal(jobs, 1);
	for (int i = 0; i < 3; i++) {
		struct rj w = {0};
		OK(s->txn, sl_js_rejects_each(s, ids[i], 0, collect_reject, &w));
		assert_int_equal(w.n, i == 0 ? 0 : 1);
	}
	/* the job itself stays */
	sl_job got = {0};
	assert_int_equal(sl_js_job_get(s, "old_done", &got), 1);
	sl_job_clear(&got);
}

/* --- idempotency keys and cancel requests -------------------------------------------- */

static void idempotency_keys_are_kept_once(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	sl_idem e = {0};
	e.key = "key-1";
	assert_int_equal(sl_js_idem_get(s, &e), 0);
	sl_idem put = {"key-1", "j42", "cdr", 123456789012345u, 0xdeadbeefcafef00du};
	OK(s->txn, sl_js_idem_put(s, &put));
	assert_int_equal(sl_js_idem_get(s, &e), 1);
	assert_string_equal(e.key, "key-1");
	assert_string_equal(e.job_id, "j42");
	assert_string_equal(e.dataset, "cdr");
	assert_true(e.size == put.size);
	assert_true(e.hash == put.hash);
	/* a key is used once: a second put fails and leaves the first */
	sl_idem again = {"key-1", "j43", "other", 1, 2};
	assert_true(sl_js_idem_put(s, &again) < 0);
	memset(&e, 0, sizeof e);
	e.key = "key-1";
	assert_int_equal(sl_js_idem_get(s, &e), 1);
	assert_string_equal(e.job_id, "j42");
	e.key = "key-2";
	assert_int_equal(sl_js_idem_get(s, &e), 0);
}

static void cancel_requests_are_per_job(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	assert_int_equal(sl_js_cancel_get(s, "a"), 0);
	OK(s->txn, sl_js_cancel_set(s, "a", true));
	OK(s->txn, sl_js_cancel_set(s, "a", true)); /* asking twice is asking */
	assert_int_equal(sl_js_cancel_get(s, "a"), 1);
	assert_int_equal(sl_js_cancel_get(s, "b"), 0);
	OK(s->txn, sl_js_cancel_set(s, "a", false));
	assert_int_equal(sl_js_cancel_get(s, "a"), 0);
	OK(s->txn, sl_js_cancel_set(s, "b", false)); /* clearing nothing is fine */
}

/* --- counters as increments ------------------------------------------------------- */

static void counters_change_by_increments_from_any_connection(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	sl_job j, got = {0};
	make_job(&j, "jc", "/data/c.csv", SL_JOB_PROCESSING, 1000);
	OK(s->txn, sl_js_job_insert(s, &j)); /* rows_read 1000, loaded 990, rejected 10 ... */
	/* a second connection to the same database, as a second worker would be */
	sl_store other;
	char msg[256];
	int rc = f->b->open(f->dir, 2000, &other, msg, sizeof msg);
	if (rc < 0)
		fail_msg("second open: %s (%s)", sl_error_name(rc), msg);
	sl_job_counts a = {.rows_read = 100,
	                   .rows_loaded = 98,
	                   .rows_rejected = 2,
	                   .rows_inserted = 60,
	                   .rows_updated = 38,
	                   .records_padded = 1,
	                   .chunks_processed = 1,
	                   .chunks_succeeded = 1,
	                   .bytes_done = 500};
	a.by_code[sl_error_index(SL_VAL_TYPE)] = 2;
	sl_job_counts b = {.rows_read = 10,
	                   .rows_loaded = 9,
	                   .rows_rejected = 1,
	                   .rows_inserted = 9,
	                   .records_truncated = 4,
	                   .chunks_processed = 1,
	                   .chunks_failed = 1,
	                   .bytes_done = 50};
	b.by_code[sl_error_index(SL_DUP_KEY)] = 1;
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_counts_add(s, "jc", &a));
	OK(s->txn, sl_txn_commit(s->txn));
	OK(other.txn, sl_txn_begin(other.txn));
	OK(other.txn, sl_js_counts_add(other.js, "jc", &b));
	OK(other.txn, sl_txn_commit(other.txn));
	/* the one that wrote first still holds the old numbers in memory; its
	   job_update must not take the second one's increments back */
	OK(s->txn, sl_js_job_update(s, &j));
	sl_job want = j;
	sl_job_counts_apply(&want, &a);
	sl_job_counts_apply(&want, &b);
	assert_int_equal(sl_js_job_get(other.js, "jc", &got), 1);
	want.updated_ms = got.updated_ms; /* counts_add keeps the newest time */
	assert_true(got.updated_ms >= j.updated_ms);
	assert_job_equal(&got, &want);
	assert_true(got.rows_read == j.rows_read + 110 && got.rows_loaded == j.rows_loaded + 107);
	assert_true(got.rows_inserted == j.rows_inserted + 69 &&
	            got.rows_updated == j.rows_updated + 38);
	assert_true(got.chunks_failed == j.chunks_failed + 1);
	assert_true(got.rejects_by_code[sl_error_index(SL_VAL_TYPE)] == 9);
	assert_true(got.rejects_by_code[sl_error_index(SL_DUP_KEY)] == 1);
	assert_true(got.records_padded == 1 && got.records_truncated == 4);
	/* negative increments take back (a retry queues a failed chunk again) */
	sl_job_counts back = {.chunks_failed = -1, .chunks_processed = -1};
	OK(s->txn, sl_js_counts_add(s, "jc", &back));
	assert_int_equal(sl_js_job_get(s, "jc", &got), 1);
	assert_true(got.chunks_failed == j.chunks_failed &&
	            got.chunks_processed == j.chunks_processed + 1);
	/* no such job: said, not ignored */
	assert_int_equal(sl_js_counts_add(s, "nope", &a), SL_NOT_FOUND);
	sl_store_close(&other);
	sl_job_clear(&got);
	sl_job_clear(&j);
}

static void chunk_commit_writes_the_chunk_and_adds_to_its_job(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	sl_job j, got = {0};
	make_job(&j, "jk", "/data/k.csv", SL_JOB_PROCESSING, 1000);
	OK(s->txn, sl_js_job_insert(s, &j));
	sl_chunk c[2];
	memset(c, 0, sizeof c);
	for (uint32_t i = 0; i < 2; i++) {
		c[i].seq = i;
		c[i].length = 100;
		c[i].records_planned = 10;
		c[i].status = SL_CHUNK_QUEUED;
	}
	OK(s->txn, sl_js_chunks_replace(s, "jk", c, 2));
	c[1].status = SL_CHUNK_SUCCEEDED;
	c[1].rows_read = 10;
	c[1].rows_loaded = 7;
	c[1].rows_inserted = 5;
	c[1].rows_updated = 2;
	c[1].rows_rejected = 3;
	sl_job_counts d = {.rows_read = 10,
	                   .rows_loaded = 7,
	                   .rows_rejected = 3,
	                   .rows_inserted = 5,
	                   .rows_updated = 2,
	                   .chunks_processed = 1,
	                   .chunks_succeeded = 1,
	                   .bytes_done = 100};
	d.by_code[sl_error_index(SL_VAL_RANGE)] = 3;
	/* rolled back: neither the chunk nor the job moved */
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_chunk_commit(s, "jk", &c[1], &d));
	sl_txn_rollback(s->txn);
	sl_chunk *back = NULL;
	size_t n = 0;
	OK(s->txn, sl_js_chunks_get(s, "jk", &back, &n));
	assert_int_equal(n, 2);
	assert_int_equal(back[1].status, SL_CHUNK_QUEUED);
	free(back);
	assert_int_equal(sl_js_job_get(s, "jk", &got), 1);
	assert_true(got.rows_read == j.rows_read && got.chunks_succeeded == j.chunks_succeeded);
	/* committed: both */
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_chunk_commit(s, "jk", &c[1], &d));
	OK(s->txn, sl_txn_commit(s->txn));
	OK(s->txn, sl_js_chunks_get(s, "jk", &back, &n));
	assert_int_equal(back[1].status, SL_CHUNK_SUCCEEDED);
	assert_true(back[1].rows_loaded == 7 && back[1].rows_rejected == 3);
	assert_true(back[1].rows_inserted == 5 && back[1].rows_updated == 2);
	assert_int_equal(back[0].status, SL_CHUNK_QUEUED);
	free(back);
	assert_int_equal(sl_js_job_get(s, "jk", &got), 1);
	assert_true(got.rows_read == j.rows_read + 10 && got.rows_loaded == j.rows_loaded + 7);
	assert_true(got.rows_inserted == j.rows_inserted + 5 &&
	            got.rows_updated == j.rows_updated + 2);
	assert_true(got.chunks_succeeded == j.chunks_succeeded + 1);
	assert_true(got.bytes_done == j.bytes_done + 100);
	assert_true(got.rejects_by_code[sl_error_index(SL_VAL_RANGE)] == 3);
	sl_job_clear(&got);
	sl_job_clear(&j);
}

/* --- the listing: filters, keyset pages ---------------------------------------------- */

struct page {
	char ids[64][SL_JOB_ID_LEN];
	int n;
	sl_job_cursor last;
};

static int page_job(void *ctx, const sl_job *j)
{
	struct page *p = ctx;
	if (p->n < 64)
		snprintf(p->ids[p->n++], SL_JOB_ID_LEN, "%s", j->id);
	p->last.created_ms = j->created_ms;
	snprintf(p->last.id, sizeof p->last.id, "%s", j->id);
	return 0;
}

static void jobs_list_pages_by_keyset(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	/* 11 jobs; several share a creation time (ties go by id); every third
	   is another dataset, every other one Succeeded */
	char want[11][SL_JOB_ID_LEN];
	for (int i = 0; i < 11; i++) {
		sl_job j;
		char id[16];
		snprintf(id, sizeof id, "j%02d", i);
		make_job(&j, id, "/data/x.csv", i % 2 ? SL_JOB_SUCCEEDED : SL_JOB_FAILED,
		         1000 + i / 3);
		if (i % 3 == 0) {
			free(j.dataset);
			j.dataset = strdup("other");
		}
		OK(s->txn, sl_js_job_insert(s, &j));
		sl_job_clear(&j);
		snprintf(want[10 - i], SL_JOB_ID_LEN, "%s", id); /* newest first */
	}
	/* pages of 3 from the newest: every job once, in order */
	sl_job_filter fl = SL_JOB_FILTER_ALL;
	fl.limit = 3;
	int seen = 0, pages = 0;
	for (;;) {
		struct page p = {0};
		OK(s->txn, sl_js_job_list(s, &fl, page_job, &p));
		assert_true(p.n <= 3);
		for (int i = 0; i < p.n; i++)
			assert_string_equal(p.ids[i], want[seen + i]);
		seen += p.n;
		pages++;
		if (p.n < 3)
			break;
		fl.after = p.last;
	}
	assert_int_equal(seen, 11);
	assert_int_equal(pages, 4);
	/* filters with the cursor: Succeeded of dataset "cdr" (odd i, i % 3 != 0:
	   1, 5, 7), two per page */
	fl = SL_JOB_FILTER_ALL;
	fl.status = SL_JOB_SUCCEEDED;
	fl.dataset = "cdr";
	fl.limit = 2;
	struct page p = {0};
	OK(s->txn, sl_js_job_list(s, &fl, page_job, &p));
	assert_int_equal(p.n, 2);
	assert_string_equal(p.ids[0], "j07");
	assert_string_equal(p.ids[1], "j05");
	fl.after = p.last;
	memset(&p, 0, sizeof p);
	OK(s->txn, sl_js_job_list(s, &fl, page_job, &p));
	assert_int_equal(p.n, 1);
	assert_string_equal(p.ids[0], "j01");
	/* a prefix of the id, or of the correlation id */
	fl = SL_JOB_FILTER_ALL;
	fl.prefix = "j0";
	memset(&p, 0, sizeof p);
	OK(s->txn, sl_js_job_list(s, &fl, page_job, &p));
	assert_int_equal(p.n, 10);
	assert_string_equal(p.ids[0], "j09");
	fl.prefix = "corr-";
	fl.limit = 4;
	memset(&p, 0, sizeof p);
	OK(s->txn, sl_js_job_list(s, &fl, page_job, &p));
	assert_int_equal(p.n, 4);
	assert_string_equal(p.ids[0], "j10");
	fl.prefix = "j1x";
	memset(&p, 0, sizeof p);
	OK(s->txn, sl_js_job_list(s, &fl, page_job, &p));
	assert_int_equal(p.n, 0);
	fl = SL_JOB_FILTER_ALL;
	fl.status = SL_JOB_SUCCEEDED;
	fl.dataset = "cdr";
	/* a cursor at the oldest match (j01): nothing after it */
	fl.after = (sl_job_cursor){1000, "j01"};
	memset(&p, 0, sizeof p);
	OK(s->txn, sl_js_job_list(s, &fl, page_job, &p));
	assert_int_equal(p.n, 0);
}

/* fix and refeed: rows taken in record order, held until the refeed
   settles, resolved in every copy, never taken twice (docs/ingest.md) */
struct raws {
	char got[4][8];
	uint64_t off[4];
	size_t n;
};
static int collect_raw(void *ctx, uint64_t off, sl_str raw)
{
	struct raws *w = ctx;
	if (w->n < 4) {
		w->off[w->n] = off;
		snprintf(w->got[w->n++], 8, "%.*s", (int)raw.n, raw.p);
	}
	return 0;
}

/* the rows a refeed holds from byte off of its input */
static struct raws read_from(sl_jobstore *s, const char *id, uint64_t off)
{
	struct raws w = {0};
	OK(s->txn, sl_js_refeed_read(s, id, off, 1 << 20, collect_raw, &w));
	return w;
}

static void refeed_claims_settles_and_resolves_copies(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	sl_job j, n1;
	make_job(&j, "jfirst", "/data/a.csv", SL_JOB_PARTIAL, 1000);
	OK(s->txn, sl_js_job_insert(s, &j));
	put_reject(s, "jfirst", 0, 30, SL_VAL_TYPE, "cost", "c", 1);
	put_reject(s, "jfirst", 0, 10, SL_VAL_TYPE, "cost", "a", 1);
	put_reject(s, "jfirst", 0, 20, SL_CSV_ROW_TOO_LONG, NULL, "b", 1);
	sl_refeed_input in = {0};
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_refeed_claim(s, "jfirst", "jrefeed1", SL_STR_LIT("h\n"), &in));
	OK(s->txn, sl_txn_commit(s->txn));
	assert_int_equal(in.rows, 2); /* the cut row is never taken */
	/* the input: "h\n" "a\n" "c\n", its fingerprint the hash of those bytes */
	assert_int_equal(in.bytes, 6);
	assert_true(in.hash == XXH3_64bits("h\na\nc\n", 6));
	assert_true(in.created_ms > 0);
	struct raws w = read_from(s, "jrefeed1", 0);
	assert_int_equal(w.n, 2);
	assert_string_equal(w.got[0], "a");
	assert_string_equal(w.got[1], "c");
	assert_int_equal(w.off[0], 2);
	assert_int_equal(w.off[1], 4);
	/* a range from inside a row starts at that row; past the end: none */
	w = read_from(s, "jrefeed1", 3);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.off[0], 2);
	w = read_from(s, "jrefeed1", 4);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.got[0], "c");
	w = read_from(s, "jrefeed1", 5);
	assert_int_equal(w.n, 1);
	assert_int_equal(read_from(s, "jrefeed1", 6).n, 0);
	assert_int_equal(read_from(s, "jnobody", 0).n, 0);
	/* held: nothing for a second refeed */
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_refeed_claim(s, "jfirst", "jother", SL_STR_LIT(""), &in));
	sl_txn_rollback(s->txn);
	assert_int_equal(in.rows, 0);
	/* the refeed job: its input's record 1 ("a") loaded, record 2 ("c") rejected again */
	make_job(&n1, "jrefeed1", "/db.refeed-jrefeed1.csv", SL_JOB_PARTIAL, 2000);
	OK(s->txn, sl_js_job_insert(s, &n1));
	sl_chunk c;
	make_chunk(&c, 0);
	c.first_record = 0;
	c.records_planned = 2;
	c.status = SL_CHUNK_SUCCEEDED;
	OK(s->txn, sl_js_chunks_replace(s, "jrefeed1", &c, 1));
	put_reject(s, "jrefeed1", 0, 2, SL_VAL_TYPE, "cost", "c", 1);
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_refeed_settle(s, "jrefeed1"));
	OK(s->txn, sl_txn_commit(s->txn));
	sl_job got = {0};
	assert_int_equal(sl_js_job_get(s, "jfirst", &got), 1);
	assert_int_equal(got.rejects_resolved, 1);
	assert_string_equal(got.refeed_of, "");
	assert_int_equal(sl_js_job_get(s, "jrefeed1", &got), 1);
	assert_string_equal(got.refeed_of, "jfirst");
	assert_int_equal(got.rejects_resolved, 0);
	sl_refeed_input got_in = {0};
	assert_int_equal(sl_js_refeed_input(s, "jrefeed1", &got_in), 1);
	assert_int_equal(got_in.header_len, 2);
	assert_memory_equal(got_in.header, "h\n", 2);
	assert_int_equal(got_in.rows, 2);
	assert_int_equal(got_in.bytes, 6);
	assert_true(got_in.hash == XXH3_64bits("h\na\nc\n", 6));
	sl_refeed_input_clear(&got_in);
	assert_int_equal(sl_js_refeed_input(s, "jfirst", &got_in), 0);
	/* settled: the loaded row ("a") is no longer held, "c" is free again */
	assert_int_equal(read_from(s, "jrefeed1", 0).n, 0);
	/* "c" is open again, in the first job and as the refeed's own reject:
	   one of them may be taken, then the other is held with it */
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_refeed_claim(s, "jfirst", "jrefeed2", SL_STR_LIT(""), &in));
	assert_int_equal(in.rows, 1);
	assert_int_equal(in.bytes, 2);
	w = read_from(s, "jrefeed2", 0);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.got[0], "c");
	assert_int_equal(w.off[0], 0);
	OK(s->txn, sl_js_refeed_claim(s, "jrefeed1", "jrefeed3", SL_STR_LIT(""), &in));
	assert_int_equal(in.rows, 0);
	OK(s->txn, sl_txn_commit(s->txn));
	/* jrefeed2 loads it: both copies are resolved */
	sl_job n2;
	make_job(&n2, "jrefeed2", "/db.refeed-jrefeed2.csv", SL_JOB_SUCCEEDED, 3000);
	OK(s->txn, sl_js_job_insert(s, &n2));
	c.records_planned = 1;
	OK(s->txn, sl_js_chunks_replace(s, "jrefeed2", &c, 1));
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_refeed_settle(s, "jrefeed2"));
	OK(s->txn, sl_txn_commit(s->txn));
	assert_int_equal(sl_js_job_get(s, "jfirst", &got), 1);
	assert_int_equal(got.rejects_resolved, 2);
	assert_int_equal(sl_js_job_get(s, "jrefeed1", &got), 1);
	assert_int_equal(got.rejects_resolved, 1);
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_refeed_claim(s, "jrefeed1", "jrefeed4", SL_STR_LIT(""), &in));
	sl_txn_rollback(s->txn);
	assert_int_equal(in.rows, 0);
	sl_job_clear(&got);
	sl_job_clear(&j);
	sl_job_clear(&n1);
	sl_job_clear(&n2);
}

int js_suite_run(const store_backend *b)
{
	void *st = (void *)b;
#define T(fn) cmocka_unit_test_prestate_setup_teardown(fn, store_fx_setup, store_fx_teardown, st)
	const struct CMUnitTest tests[] = {
	    T(jobs_round_trip_every_field),
	    T(jobs_list_filters_by_status_newest_first),
	    T(jobs_find_open_takes_the_newest_unfinished_match),
	    T(rollback_undoes_and_commit_keeps),
	    T(a_second_writer_is_told_busy),
	    T(chunks_replace_get_update),
	    T(chunk_counts_cover_every_job),
	    T(rejects_read_back_in_record_order_and_by_code),
	    T(gc_removes_rejects_of_old_finished_jobs_only),
	    T(idempotency_keys_are_kept_once),
	    T(cancel_requests_are_per_job),
	    T(counters_change_by_increments_from_any_connection),
	    T(chunk_commit_writes_the_chunk_and_adds_to_its_job),
	    T(jobs_list_pages_by_keyset),
	    T(refeed_claims_settles_and_resolves_copies),
	};
#undef T
	char name[128];
	snprintf(name, sizeof name, "jobstore suite: %s", b->name);
	return _cmocka_run_group_tests(name, tests, SL_ARRAY_LEN(tests), NULL, NULL);
}
