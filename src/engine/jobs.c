/*
 * Reading the job store for front ends (the CLI now, the HTTP API later):
 * list jobs, load one with its chunks, stream its rejected rows, and clean
 * up old error rows. Each call opens the store, does its reading and
 * closes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "engine/engine_int.h"
#include "store/store.h"

static int done(sl_jobstore *st, int rc, char *msg, size_t msglen)
{
	if (rc < 0 && !msg[0] && st)
		snprintf(msg, msglen, "database: %s", sl_js_errmsg(st));
	if (st)
		sl_js_close(st);
	return rc;
}

int sl_jobs_list(const char *db, int status, sl_job_cb cb, void *ctx, char *msg, size_t msglen)
{
	sl_jobstore *st = NULL;
	msg[0] = 0;
	sl_job_filter f = SL_JOB_FILTER_ALL;
	f.status = status;
	int rc = sl_jobstore_open(db, 0, &st, msg, msglen);
	if (rc == 0)
		rc = sl_js_job_list(st, &f, cb, ctx);
	return done(st, rc, msg, msglen);
}

static int one_job(void *ctx, const sl_job *j)
{
	(void)ctx;
	(void)j;
	return 1; /* one row is enough to know the store reads */
}

int sl_store_check(const char *db, sl_store_status *out, char *msg, size_t msglen)
{
	sl_jobstore *st = NULL;
	msg[0] = 0;
	memset(out, 0, sizeof *out);
	sl_job_filter f = SL_JOB_FILTER_ALL;
	f.limit = 1;
	int rc = sl_jobstore_open(db, 0, &st, msg, msglen);
	if (rc == 0) {
		sl_jobstore *b = st;
		while (b->next) /* the backend under any wrapper */
			b = b->next;
		snprintf(out->backend, sizeof out->backend, "%s", b->ops->name);
		rc = sl_js_version(st, &out->version, &out->wanted);
	}
	if (rc == 0 && (rc = sl_js_job_list(st, &f, one_job, NULL)) > 0)
		rc = 0;
	if (rc == 0 && out->version != out->wanted) {
		rc = SL_DB_SCHEMA;
		snprintf(msg, msglen, "the job store is at version %d, this sluice writes %d",
		         out->version, out->wanted);
	}
	return done(st, rc, msg, msglen);
}

int sl_jobs_page(const char *db, const sl_job_filter *f, sl_job_cb cb, void *ctx, char *msg,
                 size_t msglen)
{
	sl_jobstore *st = NULL;
	msg[0] = 0;
	int rc = sl_jobstore_open(db, 0, &st, msg, msglen);
	if (rc == 0)
		rc = sl_js_job_list(st, f, cb, ctx);
	return done(st, rc, msg, msglen);
}

static int load(sl_jobstore *st, const char *db, const char *id, sl_job *job, sl_chunk **chunks,
		size_t *nchunks, char *msg, size_t msglen)
{
	int rc = sl_js_job_get(st, id, job);
	if (rc == 0) {
		snprintf(msg, msglen, "no job %s in %s", id, db ? db : "sluice.db");
		rc = SL_NOT_FOUND;
	} else if (rc == 1) {
		rc = chunks ? sl_js_chunks_get(st, id, chunks, nchunks) : 0;
	}
	return rc;
}

int sl_job_load(const char *db, const char *id, sl_job *job, sl_chunk **chunks, size_t *nchunks,
		char *msg, size_t msglen)
{
	sl_jobstore *st = NULL;
	msg[0] = 0;
	memset(job, 0, sizeof *job);
	int rc = sl_jobstore_open(db, 0, &st, msg, msglen);
	if (rc == 0)
		rc = load(st, db, id, job, chunks, nchunks, msg, msglen);
	return done(st, rc, msg, msglen);
}

/* A kept connection: opening one costs more than the read (the file, the
   WAL index, the schema parsed on the first statement), and a service
   reads a job on every status request. */
struct sl_reader {
	sl_jobstore *st;
	char *db;
};

int sl_reader_open(const char *db, sl_reader **out, char *msg, size_t msglen)
{
	sl_reader *r = calloc(1, sizeof *r);
	msg[0] = 0;
	*out = NULL;
	if (!r || !(r->db = strdup(db ? db : "sluice.db"))) {
		free(r);
		snprintf(msg, msglen, "out of memory");
		return SL_NOMEM;
	}
	int rc = sl_jobstore_open(r->db, 0, &r->st, msg, msglen);
	if (rc < 0) {
		free(r->db);
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void sl_reader_close(sl_reader *r)
{
	if (!r)
		return;
	sl_js_close(r->st);
	free(r->db);
	free(r);
}

int sl_reader_job(sl_reader *r, const char *id, sl_job *job, sl_chunk **chunks, size_t *nchunks,
		  char *msg, size_t msglen)
{
	msg[0] = 0;
	memset(job, 0, sizeof *job);
	int rc = load(r->st, r->db, id, job, chunks, nchunks, msg, msglen);
	if (rc < 0 && !msg[0])
		snprintf(msg, msglen, "database: %s", sl_js_errmsg(r->st));
	return rc;
}

int sl_job_rejects(const char *db, const char *id, int code, sl_reject_cb cb, void *ctx, char *msg,
		   size_t msglen)
{
	sl_jobstore *st = NULL;
	sl_job j = {0};
	msg[0] = 0;
	int rc = sl_jobstore_open(db, 0, &st, msg, msglen);
	if (rc == 0) {
		rc = sl_js_job_get(st, id, &j);
		if (rc == 0) {
			snprintf(msg, msglen, "no job %s in %s", id, db ? db : "sluice.db");
			rc = SL_NOT_FOUND;
		} else if (rc == 1) {
			rc = sl_js_rejects_each(st, id, code, cb, ctx);
		}
	}
	sl_job_clear(&j);
	return done(st, rc, msg, msglen);
}

int sl_idem_lookup(const char *db, const char *key, char job_id[SL_JOB_ID_LEN], char *dataset,
		   size_t dlen, uint64_t *size, uint64_t *hash, char *msg, size_t msglen)
{
	sl_jobstore *st = NULL;
	sl_idem e = {.key = key};
	msg[0] = 0;
	int rc = sl_jobstore_open(db, 0, &st, msg, msglen);
	if (rc == 0 && (rc = sl_js_idem_get(st, &e)) == 1) {
		snprintf(job_id, SL_JOB_ID_LEN, "%s", e.job_id);
		snprintf(dataset, dlen, "%s", e.dataset);
		*size = e.size;
		*hash = e.hash;
	}
	return done(st, rc, msg, msglen);
}

int sl_chunk_counts(const char *db, uint64_t *out, char *msg, size_t msglen)
{
	sl_jobstore *st = NULL;
	msg[0] = 0;
	int rc = sl_jobstore_open(db, 0, &st, msg, msglen);
	if (rc == 0)
		rc = sl_js_chunk_counts(st, out);
	return done(st, rc, msg, msglen);
}

int sl_gc(const char *db, int64_t age_ms, uint64_t *jobs, char *msg, size_t msglen)
{
	sl_jobstore *st = NULL;
	msg[0] = 0;
	int rc = sl_jobstore_open(db, 0, &st, msg, msglen);
	if (rc == 0 && (rc = sl_txn_begin(st->txn)) == 0) {
		rc = sl_js_gc(st, sl_now_ms() - age_ms, jobs);
		if (rc == 0)
			rc = sl_txn_commit(st->txn);
		else
			sl_txn_rollback(st->txn);
	}
	return done(st, rc, msg, msglen);
}
