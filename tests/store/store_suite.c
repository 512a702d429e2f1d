/*
 * The store suite (see store_suite.h): what every backend of
 * src/store/store.h must do, through its ops only. Each test gets a fresh
 * store in a fresh temporary directory; expected values are the ones the
 * test wrote, read back field by field.
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

#include "base/base.h"
#include "sluice/error.h"
#include "store_suite.h"

typedef struct fx {
	const store_backend *b;
	char dir[64];
	sl_store *s;
} fx;

#define OPS(s) ((s)->ops)
/* a call that must succeed, with the store's own words when it does not */
#define OK(s, call)                                                                                \
	do {                                                                                       \
		int rc_ = (call);                                                                  \
		if (rc_ < 0)                                                                       \
			fail_msg("%s: %s (%s)", #call, sl_error_name(rc_), sl_store_errmsg(s));    \
	} while (0)

static int setup(void **state)
{
	const store_backend *b = *state;
	fx *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	f->b = b;
	snprintf(f->dir, sizeof f->dir, "/tmp/sluice_store_XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	int rc = b->open(f->dir, 2000, &f->s);
	if (rc < 0) {
		fprintf(stderr, "%s: open: %s (%s)\n", b->name, sl_error_name(rc),
		        f->s ? sl_store_errmsg(f->s) : "");
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	if (f->s)
		OPS(f->s)->close(f->s);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

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
	fx *f = *state;
	sl_store *s = f->s;
	sl_job a, b, got = {0};
	make_job(&a, "j1", "/data/a.csv", SL_JOB_PROCESSING, 1000);
	make_job(&b, "j2", "/data/b.csv", SL_JOB_ACCEPTED, 2000);
	free(b.correlation_id);
	b.correlation_id = NULL; /* NULL strings stay NULL */
	OK(s, OPS(s)->job_insert(s, &a));
	OK(s, OPS(s)->job_insert(s, &b));
	assert_int_equal(a.seq, 1);
	assert_int_equal(b.seq, 2);
	/* job_insert stores the row; the per-code counts are job_update's */
	OK(s, OPS(s)->job_update(s, &a));
	assert_int_equal(OPS(s)->job_get(s, "j1", &got), 1);
	assert_job_equal(&got, &a);
	assert_int_equal(OPS(s)->job_get(s, "j2", &got), 1);
	assert_string_equal(got.id, "j2");
	assert_null(got.correlation_id);
	assert_int_equal(OPS(s)->job_get(s, "nope", &got), 0);

	/* an update rewrites what it is given */
	a.status = SL_JOB_FAILED;
	a.error_code = SL_DB_IO;
	a.error_message = strdup("the disk went away");
	a.rows_loaded = 991;
	a.finished_ms = 5000;
	a.rejects_by_code[sl_error_index(SL_VAL_TYPE)] = 8;
	a.rejects_by_code[sl_error_index(SL_DUP_KEY)] = 1;
	OK(s, OPS(s)->job_update(s, &a));
	assert_int_equal(OPS(s)->job_get(s, "j1", &got), 1);
	assert_job_equal(&got, &a);
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
	fx *f = *state;
	sl_store *s = f->s;
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
		OK(s, OPS(s)->job_insert(s, &j));
		sl_job_clear(&j);
	}
	struct seen w = {0};
	OK(s, OPS(s)->job_list(s, -1, collect_job, &w));
	assert_int_equal(w.n, 5);
	const char *all[] = {"je", "jd", "jc", "jb", "ja"};
	for (int i = 0; i < 5; i++)
		assert_string_equal(w.ids[i], all[i]);
	memset(&w, 0, sizeof w);
	OK(s, OPS(s)->job_list(s, SL_JOB_SUCCEEDED, collect_job, &w));
	assert_int_equal(w.n, 3);
	assert_string_equal(w.ids[0], "je");
	assert_string_equal(w.ids[1], "jc");
	assert_string_equal(w.ids[2], "ja");
	memset(&w, 0, sizeof w);
	OK(s, OPS(s)->job_list(s, SL_JOB_CANCELLED, collect_job, &w));
	assert_int_equal(w.n, 0);
	/* a callback's non-zero answer stops the walk and comes back */
	memset(&w, 0, sizeof w);
	w.stop_after = 2;
	assert_int_equal(OPS(s)->job_list(s, -1, collect_job, &w), 42);
	assert_int_equal(w.n, 2);
}

static void jobs_find_open_takes_the_newest_unfinished_match(void **state)
{
	fx *f = *state;
	sl_store *s = f->s;
	sl_job j, got = {0};
	make_job(&j, "old", "/data/x.csv", SL_JOB_PROCESSING, 1000);
	OK(s, OPS(s)->job_insert(s, &j));
	sl_job_clear(&j);
	make_job(&j, "new", "/data/x.csv", SL_JOB_QUEUED, 2000);
	OK(s, OPS(s)->job_insert(s, &j));
	sl_job_clear(&j);
	make_job(&j, "done", "/data/x.csv", SL_JOB_SUCCEEDED, 3000);
	OK(s, OPS(s)->job_insert(s, &j));
	sl_job_clear(&j);
	make_job(&j, "other", "/data/y.csv", SL_JOB_PROCESSING, 4000);
	OK(s, OPS(s)->job_insert(s, &j));
	const uint64_t h = j.schema_hash;
	sl_job_clear(&j);

	assert_int_equal(OPS(s)->job_find_open(s, "/data/x.csv", "calls", h, &got), 1);
	assert_string_equal(got.id, "new");
	/* another table or schema is another job */
	assert_int_equal(OPS(s)->job_find_open(s, "/data/x.csv", "other_table", h, &got), 0);
	assert_int_equal(OPS(s)->job_find_open(s, "/data/x.csv", "calls", h + 1, &got), 0);
	assert_int_equal(OPS(s)->job_find_open(s, "/data/z.csv", "calls", h, &got), 0);
	/* once finished, it is no longer open */
	make_job(&j, "new", "/data/x.csv", SL_JOB_CANCELLED, 2000);
	j.seq = 2;
	OK(s, OPS(s)->job_update(s, &j));
	sl_job_clear(&j);
	assert_int_equal(OPS(s)->job_find_open(s, "/data/x.csv", "calls", h, &got), 1);
	assert_string_equal(got.id, "old");
	sl_job_clear(&got);
}

/* --- transactions ---------------------------------------------------------------- */

static void rollback_undoes_and_commit_keeps(void **state)
{
	fx *f = *state;
	sl_store *s = f->s;
	sl_job j, got = {0};
	make_job(&j, "tx", "/data/x.csv", SL_JOB_PROCESSING, 1000);
	OK(s, OPS(s)->begin(s));
	OK(s, OPS(s)->job_insert(s, &j));
	OK(s, OPS(s)->cancel_set(s, "tx", true));
	OPS(s)->rollback(s);
	assert_int_equal(OPS(s)->job_get(s, "tx", &got), 0);
	assert_int_equal(OPS(s)->cancel_get(s, "tx"), 0);
	OK(s, OPS(s)->begin(s));
	OK(s, OPS(s)->job_insert(s, &j));
	OK(s, OPS(s)->commit(s));
	assert_int_equal(OPS(s)->job_get(s, "tx", &got), 1);
	/* a rollback outside a transaction is harmless */
	OPS(s)->rollback(s);
	assert_int_equal(OPS(s)->job_get(s, "tx", &got), 1);
	sl_job_clear(&got);
	sl_job_clear(&j);
}

static void a_second_writer_is_told_busy(void **state)
{
	fx *f = *state;
	sl_store *s = f->s, *t = NULL;
	int rc = f->b->open(f->dir, 50, &t);
	if (rc < 0)
		fail_msg("second open: %s", sl_error_name(rc));
	OK(s, OPS(s)->begin(s));
	/* begin takes the write lock: the second handle waits 50 ms, then
	   hears DB_BUSY (transient), and gets it once the first commits */
	assert_int_equal(OPS(t)->begin(t), SL_DB_BUSY);
	assert_true(strlen(sl_store_errmsg(t)) > 0);
	OK(s, OPS(s)->commit(s));
	OK(t, OPS(t)->begin(t));
	OK(t, OPS(t)->commit(t));
	OPS(t)->close(t);
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
	assert_true(a->duration_ms == b->duration_ms);
	assert_int_equal(a->last_error, b->last_error);
	assert_string_equal(a->last_message, b->last_message);
}

static void chunks_replace_get_update(void **state)
{
	fx *f = *state;
	sl_store *s = f->s;
	sl_chunk c[5], *got = NULL;
	size_t n = 99;
	/* inserted out of order, read back in seq order */
	for (uint32_t i = 0; i < 5; i++)
		make_chunk(&c[i], 4 - i);
	OK(s, OPS(s)->chunks_replace(s, "j1", c, 5));
	OK(s, OPS(s)->chunks_replace(s, "j2", c, 2));
	OK(s, OPS(s)->chunks_get(s, "j1", &got, &n));
	assert_int_equal(n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_chunk_equal(&got[i], &c[4 - i]);
	free(got);

	sl_chunk u = c[2]; /* seq 2 */
	u.status = SL_CHUNK_FAILED;
	u.attempts = 3;
	u.rows_read = 10;
	u.rows_loaded = 8;
	u.rows_rejected = 2;
	u.duration_ms = 77;
	u.last_error = SL_DB_BUSY;
	snprintf(u.last_message, sizeof u.last_message, "database is locked");
	OK(s, OPS(s)->chunk_update(s, "j1", &u));
	OK(s, OPS(s)->chunks_get(s, "j1", &got, &n));
	assert_int_equal(n, 5);
	assert_chunk_equal(&got[2], &u);
	assert_chunk_equal(&got[3], &c[1]);
	free(got);

	/* replace drops what is not given again; other jobs keep theirs */
	OK(s, OPS(s)->chunks_replace(s, "j1", &c[4], 1));
	OK(s, OPS(s)->chunks_get(s, "j1", &got, &n));
	assert_int_equal(n, 1);
	assert_chunk_equal(&got[0], &c[4]);
	free(got);
	OK(s, OPS(s)->chunks_get(s, "j2", &got, &n));
	assert_int_equal(n, 2);
	free(got);
	OK(s, OPS(s)->chunks_get(s, "none", &got, &n));
	assert_int_equal(n, 0);
	free(got);
}

static void chunk_counts_cover_every_job(void **state)
{
	fx *f = *state;
	sl_store *s = f->s;
	sl_chunk c[6];
	for (uint32_t i = 0; i < 6; i++) {
		make_chunk(&c[i], i);
		c[i].status = (sl_chunk_status)(i % SL_CHUNK_NSTATUS);
	}
	/* j1: Queued, Processing, Succeeded, Failed, Queued, Processing; j2: Queued, Processing */
	OK(s, OPS(s)->chunks_replace(s, "j1", c, 6));
	OK(s, OPS(s)->chunks_replace(s, "j2", c, 2));
	uint64_t out[SL_CHUNK_NSTATUS];
	memset(out, 0xff, sizeof out);
	OK(s, OPS(s)->chunk_counts(s, out));
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

static void put_reject(sl_store *s, const char *job, uint32_t chunk, uint64_t record, int code,
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
	OK(s, OPS(s)->reject_insert(s, job, chunk, &r, col));
}

static void rejects_read_back_in_record_order_and_by_code(void **state)
{
	fx *f = *state;
	sl_store *s = f->s;
	put_reject(s, "j1", 1, 30, SL_VAL_TYPE, "cost", "a,b\0c", 5);
	put_reject(s, "j1", 0, 10, SL_CSV_TOO_FEW_FIELDS, NULL, "x", 1);
	put_reject(s, "j1", 0, 20, SL_VAL_TYPE, "duration", "", 0);
	put_reject(s, "j2", 0, 5, SL_VAL_TYPE, "cost", "y", 1);
	struct rj w = {0};
	OK(s, OPS(s)->rejects_each(s, "j1", 0, collect_reject, &w));
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
	OK(s, OPS(s)->rejects_each(s, "j1", SL_VAL_TYPE, collect_reject, &w));
	assert_int_equal(w.n, 2);
	assert_int_equal(w.records[0], 20);
	assert_int_equal(w.records[1], 30);
	memset(&w, 0, sizeof w);
	OK(s, OPS(s)->rejects_each(s, "j1", SL_DUP_KEY, collect_reject, &w));
	assert_int_equal(w.n, 0);
	memset(&w, 0, sizeof w);
	w.stop_at = 1;
	assert_int_equal(OPS(s)->rejects_each(s, "j1", 0, collect_reject, &w), 7);
	assert_int_equal(w.n, 1);
}

static void gc_removes_rejects_of_old_finished_jobs_only(void **state)
{
	fx *f = *state;
	sl_store *s = f->s;
	sl_job j;
	make_job(&j, "old_done", "/d/a.csv", SL_JOB_SUCCEEDED, 1000);
	OK(s, OPS(s)->job_insert(s, &j));
	sl_job_clear(&j);
	make_job(&j, "old_running", "/d/b.csv", SL_JOB_PROCESSING, 1000);
	OK(s, OPS(s)->job_insert(s, &j));
	sl_job_clear(&j);
	make_job(&j, "new_done", "/d/c.csv", SL_JOB_FAILED, 900000);
	OK(s, OPS(s)->job_insert(s, &j));
	sl_job_clear(&j);
	const char *ids[] = {"old_done", "old_running", "new_done"};
	for (int i = 0; i < 3; i++) {
		put_reject(s, ids[i], 0, 1, SL_VAL_RANGE, "c", "r", 1);
		sl_event e = {ids[i], -1, "job_end", 1, 1, 0, 5, "done"};
		OK(s, OPS(s)->event_insert(s, &e));
		sl_event ce = {ids[i], 0, "chunk_end", 1, 1, 0, 5, NULL};
		OK(s, OPS(s)->event_insert(s, &ce));
	}
	uint64_t jobs = 99;
	OK(s, OPS(s)->gc(s, 500000, &jobs));
	assert_int_equal(jobs, 1);
	for (int i = 0; i < 3; i++) {
		struct rj w = {0};
		OK(s, OPS(s)->rejects_each(s, ids[i], 0, collect_reject, &w));
		assert_int_equal(w.n, i == 0 ? 0 : 1);
	}
	/* the job itself stays */
	sl_job got = {0};
	assert_int_equal(OPS(s)->job_get(s, "old_done", &got), 1);
	sl_job_clear(&got);
}

/* --- idempotency keys and cancel requests -------------------------------------------- */

static void idempotency_keys_are_kept_once(void **state)
{
	fx *f = *state;
	sl_store *s = f->s;
	sl_idem e = {0};
	e.key = "key-1";
	assert_int_equal(OPS(s)->idem_get(s, &e), 0);
	sl_idem put = {"key-1", "j42", "cdr", 123456789012345u, 0xdeadbeefcafef00du};
	OK(s, OPS(s)->idem_put(s, &put));
	assert_int_equal(OPS(s)->idem_get(s, &e), 1);
	assert_string_equal(e.key, "key-1");
	assert_string_equal(e.job_id, "j42");
	assert_string_equal(e.dataset, "cdr");
	assert_true(e.size == put.size);
	assert_true(e.hash == put.hash);
	/* a key is used once: a second put fails and leaves the first */
	sl_idem again = {"key-1", "j43", "other", 1, 2};
	assert_true(OPS(s)->idem_put(s, &again) < 0);
	memset(&e, 0, sizeof e);
	e.key = "key-1";
	assert_int_equal(OPS(s)->idem_get(s, &e), 1);
	assert_string_equal(e.job_id, "j42");
	e.key = "key-2";
	assert_int_equal(OPS(s)->idem_get(s, &e), 0);
}

static void cancel_requests_are_per_job(void **state)
{
	fx *f = *state;
	sl_store *s = f->s;
	assert_int_equal(OPS(s)->cancel_get(s, "a"), 0);
	OK(s, OPS(s)->cancel_set(s, "a", true));
	OK(s, OPS(s)->cancel_set(s, "a", true)); /* asking twice is asking */
	assert_int_equal(OPS(s)->cancel_get(s, "a"), 1);
	assert_int_equal(OPS(s)->cancel_get(s, "b"), 0);
	OK(s, OPS(s)->cancel_set(s, "a", false));
	assert_int_equal(OPS(s)->cancel_get(s, "a"), 0);
	OK(s, OPS(s)->cancel_set(s, "b", false)); /* clearing nothing is fine */
}

/* --- the target table and records ------------------------------------------------------ */

static const char target_yaml[] = "name: t\ntable: loaded\nkey: [id]\non_duplicate: reject\n"
                                  "columns:\n"
                                  "  - {name: id, type: integer, required: true}\n"
                                  "  - {name: who, type: text, index: true}\n"
                                  "  - {name: cost, type: decimal, precision: 10, scale: 2}\n";
static const char nokey_yaml[] = "name: n\ntable: plain\ncolumns:\n"
                                 "  - {name: a, type: integer}\n  - {name: b, type: text}\n";

static sl_schema *schema(const char *yaml)
{
	char err[256] = "";
	sl_schema *sc = NULL;
	if (sl_schema_parse(yaml, strlen(yaml), "t.yaml", &sc, err, sizeof err))
		fail_msg("schema: %s", err);
	return sc;
}

struct recs {
	int n;
	int64_t ids[64];
	char who[64][8];
	char job[64][8];
	int64_t last_rowid;
};

static int collect_record(void *ctx, const sl_record *r)
{
	struct recs *w = ctx;
	assert_true(r->rowid > w->last_rowid); /* rowid order */
	w->last_rowid = r->rowid;
	if (w->n < 64) {
		w->ids[w->n] = r->vals[0].i;
		if (r->vals[1].kind == SL_VALUE_TEXT)
			snprintf(w->who[w->n], 8, "%.*s", (int)r->vals[1].s.n, r->vals[1].s.p);
		else
			snprintf(w->who[w->n], 8, "NULL");
		snprintf(w->job[w->n], 8, "%s", r->job_id);
		w->n++;
	}
	return 0;
}

static void target_rows_insert_dedupe_read_and_delete(void **state)
{
	fx *f = *state;
	sl_store *s = f->s;
	sl_schema *sc = schema(target_yaml);
	struct recs w = {0};
	/* no table yet: no rows, not an error */
	OK(s, OPS(s)->records_each(s, sc, NULL, NULL, 0, NULL, 0, 100, collect_record, &w));
	assert_int_equal(w.n, 0);

	OK(s, OPS(s)->target_prepare(s, sc, "ja"));
	bool dup = true;
	for (int i = 1; i <= 5; i++) {
		sl_value v[3] = {{.kind = SL_VALUE_INT, .i = i},
		                 {.kind = SL_VALUE_TEXT, .s = i % 2 ? SL_STR_LIT("odd") : SL_STR_LIT("even")},
		                 {.kind = SL_VALUE_TEXT, .s = SL_STR_LIT("1.50")}};
		OK(s, OPS(s)->target_insert(s, v, (uint64_t)i, &dup));
		assert_false(dup);
	}
	sl_value again[3] = {
	    {.kind = SL_VALUE_INT, .i = 3}, {.kind = SL_VALUE_NULL}, {.kind = SL_VALUE_NULL}};
	OK(s, OPS(s)->target_insert(s, again, 9, &dup));
	assert_true(dup);
	/* a second job adds two rows */
	OK(s, OPS(s)->target_prepare(s, sc, "jb"));
	for (int i = 6; i <= 7; i++) {
		sl_value v[3] = {
		    {.kind = SL_VALUE_INT, .i = i}, {.kind = SL_VALUE_NULL}, {.kind = SL_VALUE_NULL}};
		OK(s, OPS(s)->target_insert(s, v, (uint64_t)i, &dup));
		assert_false(dup);
	}

	OK(s, OPS(s)->records_each(s, sc, NULL, NULL, 0, NULL, 0, 100, collect_record, &w));
	assert_int_equal(w.n, 7);
	for (int i = 0; i < 7; i++)
		assert_int_equal(w.ids[i], i + 1);
	assert_string_equal(w.who[2], "odd"); /* the duplicate changed nothing */
	assert_string_equal(w.job[6], "jb");
	/* filters: who = odd; who IS NULL; one job; a page after a rowid */
	size_t col_who = 1;
	sl_value odd = {.kind = SL_VALUE_TEXT, .s = SL_STR_LIT("odd")}, null = {.kind = SL_VALUE_NULL};
	memset(&w, 0, sizeof w);
	OK(s, OPS(s)->records_each(s, sc, &col_who, &odd, 1, NULL, 0, 100, collect_record, &w));
	assert_int_equal(w.n, 3);
	assert_int_equal(w.ids[0] + w.ids[1] + w.ids[2], 1 + 3 + 5);
	memset(&w, 0, sizeof w);
	OK(s, OPS(s)->records_each(s, sc, &col_who, &null, 1, NULL, 0, 100, collect_record, &w));
	assert_int_equal(w.n, 2);
	memset(&w, 0, sizeof w);
	OK(s, OPS(s)->records_each(s, sc, NULL, NULL, 0, "ja", 0, 100, collect_record, &w));
	assert_int_equal(w.n, 5);
	memset(&w, 0, sizeof w);
	OK(s, OPS(s)->records_each(s, sc, NULL, NULL, 0, NULL, 0, 2, collect_record, &w));
	assert_int_equal(w.n, 2);
	int64_t after = w.last_rowid;
	memset(&w, 0, sizeof w);
	OK(s, OPS(s)->records_each(s, sc, NULL, NULL, 0, NULL, after, 100, collect_record, &w));
	assert_int_equal(w.n, 5);
	assert_int_equal(w.ids[0], 3);

	uint64_t rows = 0;
	OK(s, OPS(s)->target_delete_job(s, "loaded", "ja", &rows));
	assert_int_equal(rows, 5);
	memset(&w, 0, sizeof w);
	OK(s, OPS(s)->records_each(s, sc, NULL, NULL, 0, NULL, 0, 100, collect_record, &w));
	assert_int_equal(w.n, 2);
	sl_schema_free(sc);
}

static void target_insert_many_without_a_key(void **state)
{
	fx *f = *state;
	sl_store *s = f->s;
	sl_schema *sc = schema(nokey_yaml);
	OK(s, OPS(s)->target_prepare(s, sc, "jm"));
	/* 100 rows: more than one multi-row statement's worth */
	static sl_value rows[100][2];
	const sl_value *ptrs[100];
	for (int i = 0; i < 100; i++) {
		rows[i][0] = (sl_value){.kind = SL_VALUE_INT, .i = i};
		rows[i][1] = (sl_value){.kind = SL_VALUE_TEXT, .s = SL_STR_LIT("same")};
		ptrs[i] = rows[i];
	}
	static uint64_t recs[100];
	for (int i = 0; i < 100; i++)
		recs[i] = (uint64_t)i + 1;
	OK(s, OPS(s)->target_insert_many(s, ptrs, recs, 100));
	OK(s, OPS(s)->target_insert_many(s, ptrs, recs, 3)); /* no key: repeats are rows too */
	struct recs w = {0};
	int64_t after = 0;
	int total = 0;
	long sum = 0;
	do {
		memset(&w, 0, sizeof w);
		w.last_rowid = after;
		OK(s,
		   OPS(s)->records_each(s, sc, NULL, NULL, 0, NULL, after, 64, collect_record, &w));
		for (int i = 0; i < w.n; i++)
			sum += w.ids[i];
		total += w.n;
		after = w.last_rowid;
	} while (w.n == 64);
	assert_int_equal(total, 103);
	assert_int_equal(sum, 99 * 100 / 2 + 0 + 1 + 2);
	sl_schema_free(sc);
}

/* A table already there with other columns is refused, not altered. */
static void target_with_other_columns_is_refused(void **state)
{
	fx *f = *state;
	sl_store *s = f->s;
	sl_schema *a = schema(nokey_yaml);
	OK(s, OPS(s)->target_prepare(s, a, "j1"));
	sl_schema_free(a);
	sl_schema *b = schema("name: n\ntable: plain\ncolumns:\n  - {name: a, type: integer}\n"
	                      "  - {name: zzz, type: text}\n");
	int rc = OPS(s)->target_prepare(s, b, "j2");
	assert_true(rc < 0);
	assert_non_null(strstr(sl_store_errmsg(s), "zzz"));
	sl_schema_free(b);
}

int store_suite_run(const store_backend *b)
{
	void *st = (void *)b;
#define T(fn) cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, st)
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
	    T(target_rows_insert_dedupe_read_and_delete),
	    T(target_insert_many_without_a_key),
	    T(target_with_other_columns_is_refused),
	};
#undef T
	return _cmocka_run_group_tests(b->name, tests, SL_ARRAY_LEN(tests), NULL, NULL);
}
