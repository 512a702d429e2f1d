/*
 * Jobs created ahead of their run, and stopped on request.
 *
 * sl_job_accept() records a job for a file in status Accepted, so a
 * service can answer an upload with the real job id at once and a restart
 * finds the job (and runs it) even when it never started. The idempotency
 * key is checked and stored in the same transaction as the job: two
 * uploads racing with one key get one job, and the key survives restarts.
 *
 * sl_job_cancel() asks a job to stop: a row in the store's cancel table
 * that every runner reads after each chunk (ingest.c, worker.c), and that
 * makes claims skip the job. When no process runs a chunk of it (no live
 * lease), the job becomes Cancelled here and then, in the transaction that
 * sees no lease, so no runner can commit a chunk of it meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine_int.h"
#include "source/source.h"

int sl__job_init(sl_job *j, const char *path, const struct stat *st, const sl_schema *sc,
                 const char *schema_path, const char *correlation_id)
{
	sl_job_new_id(j->id);
	j->status = SL_JOB_ACCEPTED;
	j->file = strdup(path);
	j->schema_path = realpath(schema_path, NULL);
	j->dataset = strdup(sc->name);
	j->table = strdup(sc->table);
	j->schema_hash = sc->hash;
	j->file_size = (uint64_t)st->st_size;
	j->bytes_total = j->file_size; /* planning confirms it; a job failing before shows it too */
	j->file_mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	j->created_ms = j->updated_ms = sl_now_ms();
	j->correlation_id = correlation_id ? strdup(correlation_id) : NULL;
	snprintf(j->mode, sizeof j->mode, "%s", sl_load_mode_name(sc->mode));
	if (!j->file || !j->dataset || !j->table || !j->schema_path ||
	    (correlation_id && !j->correlation_id))
		return SL_NOMEM;
	return 0;
}

/* An object's fingerprint as the engine's run will see it (the source's
   stat: size, and Last-Modified with the ETag folded in), so the first run
   of the job finds it unchanged. */
static int object_stat(const sl_accept_opts *o, struct stat *sb, char *msg, size_t msglen)
{
	sl_source_opts so = {.s3_endpoint = o->s3_endpoint};
	sl_source *src = NULL;
	sl_source_stat ss;
	int rc = sl_source_open(o->file, &so, &src, msg, msglen);
	if (rc < 0)
		return rc;
	if ((rc = sl_source_stat_get(src, &ss)) < 0)
		snprintf(msg, msglen, "%s", src->msg);
	sl_source_close(src);
	if (rc < 0)
		return rc;
	memset(sb, 0, sizeof *sb);
	sb->st_size = (off_t)ss.raw_size;
	sb->st_mtim.tv_sec = (time_t)(ss.mtime_ns / 1000000000);
	sb->st_mtim.tv_nsec = (long)(ss.mtime_ns % 1000000000);
	sb->st_mode = S_IFREG;
	return 0;
}

int sl_job_accept(const sl_accept_opts *o, sl_job *job, char *msg, size_t msglen)
{
	sl_jobstore *st = NULL;
	sl_schema *sc = NULL;
	char *path = NULL, err[512] = "";
	struct stat sb;
	bool tx = false;
	int rc;
	memset(job, 0, sizeof *job);
	msg[0] = 0;
	if ((rc = sl_schema_load(o->schema_path, &sc, err, sizeof err)) < 0) {
		snprintf(msg, msglen, "%s", err);
		goto out;
	}
	if (!strncmp(o->file, "glob:", 5)) {
		/* a set of files (a drop-folder batch: its directory's files) */
		if (!(path = strdup(o->file))) {
			rc = SL_NOMEM;
			goto out;
		}
		if ((rc = sl__multi_stat(path, &sb, msg, msglen)) < 0)
			goto out;
	} else if (strstr(o->file, "://") && strncmp(o->file, "file://", 7)) {
		if ((rc = object_stat(o, &sb, msg, msglen)) < 0 || !(path = strdup(o->file))) {
			rc = rc < 0 ? rc : SL_NOMEM;
			goto out;
		}
	} else if (!(path = realpath(o->file, NULL)) || stat(path, &sb) != 0 ||
	           !S_ISREG(sb.st_mode)) {
		rc = SL_IO_OPEN;
		snprintf(msg, msglen, "%s: %s", o->file,
		         path ? "not a regular file" : strerror(errno));
		goto out;
	}
	if ((rc = sl_jobstore_open(o->db, 0, &st, msg, msglen)) < 0)
		goto out;
	if ((rc = sl_txn_begin(st->txn)) < 0)
		goto fail;
	tx = true;
	bool keyed = o->idempotency_key && o->idempotency_key[0];
	sl_idem e = {.key = o->idempotency_key};
	if (keyed) {
		if ((rc = sl_js_idem_get(st, &e)) < 0)
			goto fail;
		if (rc == 1) {
			if (e.size != (uint64_t)sb.st_size || e.hash != o->content_hash ||
			    strcmp(e.dataset, sc->name)) {
				rc = SL_IDEMPOTENCY_CONFLICT;
				snprintf(msg, msglen,
				         "the idempotency key was used with another file or "
				         "dataset (job %s)",
				         e.job_id);
				goto out;
			}
			rc = sl_js_job_get(st, e.job_id, job);
			if (rc == 0) {
				rc = SL_INTERNAL;
				snprintf(
				    msg, msglen,
				    "the idempotency key names job %s, which is not in the store",
				    e.job_id);
			}
			if (rc < 0)
				goto fail;
			rc = 1;
			goto out;
		}
	}
	if (o->mode != SL_MODE_DEFAULT)
		sc->mode = o->mode; /* the caller's (the API's ?mode=) over the schema's */
	if ((rc = sl__job_init(job, path, &sb, sc, o->schema_path, o->correlation_id)) < 0)
		goto out;
	if (o->job_id) {
		/* the caller's id (it answered with it already): the job may be
		   there from an earlier try that committed */
		snprintf(job->id, sizeof job->id, "%s", o->job_id);
		sl_job old = {0};
		if ((rc = sl_js_job_get(st, job->id, &old)) < 0)
			goto fail;
		if (rc == 1) {
			sl_job_clear(job);
			*job = old;
			rc = 0;
			goto out;
		}
	}
	if (o->created_ms)
		job->created_ms = job->updated_ms = o->created_ms;
	if ((rc = sl_js_job_insert(st, job)) < 0)
		goto fail;
	if (keyed) {
		snprintf(e.job_id, sizeof e.job_id, "%s", job->id);
		snprintf(e.dataset, sizeof e.dataset, "%s", sc->name);
		e.size = (uint64_t)sb.st_size;
		e.hash = o->content_hash;
		if ((rc = sl_js_idem_put(st, &e)) < 0)
			goto fail;
	}
	sl_event ev = {job->id, -1, "accepted", 0, 0, 0, 0, NULL};
	if ((rc = sl_js_event_insert(st, &ev)) < 0 || (rc = sl_txn_commit(st->txn)) < 0)
		goto fail;
	tx = false;
	rc = 0;
	goto out;
fail:
	if (!msg[0])
		snprintf(msg, msglen, "database: %s", sl_js_errmsg(st));
out:
	if (tx)
		sl_txn_rollback(st->txn);
	if (rc < 0)
		sl_job_clear(job);
	if (st)
		sl_js_close(st);
	sl_schema_free(sc);
	free(path);
	return rc;
}

int sl_job_cancel(const char *db, const char *id, sl_job_status *status, char *msg, size_t msglen)
{
	sl_jobstore *st = NULL;
	sl_job j = {0};
	int rc;
	msg[0] = 0;
	if ((rc = sl_jobstore_open(db, 0, &st, msg, msglen)) < 0)
		goto out;
	if ((rc = sl_js_job_get(st, id, &j)) <= 0) {
		if (rc == 0) {
			rc = SL_NOT_FOUND;
			snprintf(msg, msglen, "no job %s", id);
		}
		goto out;
	}
	*status = j.status;
	if (sl_job_status_final(j.status)) {
		rc = SL_CONFLICT;
		snprintf(msg, msglen, "job %s is %s already", id, sl_job_status_name(j.status));
		goto out;
	}
	/* the request first: a runner that starts from now on sees it */
	if ((rc = sl_txn_begin(st->txn)) < 0 || (rc = sl_js_cancel_set(st, id, true)) < 0 ||
	    (rc = sl_txn_commit(st->txn)) < 0)
		goto fail;
	/* nobody runs a chunk of it now (no live lease)? Then it ends here;
	   claims skip it from now on */
	sl_job_clear(&j);
	uint64_t open = 0, live = 0;
	if ((rc = sl_txn_begin(st->txn)) < 0 || (rc = sl_js_job_get(st, id, &j)) < 0 ||
	    (rc = sl_js_chunks_open(st, id, sl__lease_owner_dead, &open, &live)) < 0)
		goto fail;
	if (live) {
		sl_txn_rollback(st->txn);
		rc = 0; /* running: its runners stop after the chunks they commit */
		goto out;
	}
	if (!sl_job_status_final(j.status)) {
		j.status = SL_JOB_CANCELLED;
		j.finished_ms = j.updated_ms = sl_now_ms();
		sl_event ev = {j.id,
		               -1,
		               "job_end",
		               j.rows_read,
		               j.rows_loaded,
		               j.rows_rejected,
		               0,
		               "cancelled on request"};
		if ((rc = sl_js_job_update(st, &j)) < 0 ||
		    (rc = sl_js_cancel_set(st, id, false)) < 0 ||
		    (rc = sl_js_event_insert(st, &ev)) < 0)
			goto fail;
	}
	if ((rc = sl_txn_commit(st->txn)) < 0)
		goto fail;
	*status = j.status;
	rc = 0;
	goto out;
fail:
	snprintf(msg, msglen, "database: %s", sl_js_errmsg(st));
	sl_txn_rollback(st->txn);
out:
	sl_job_clear(&j);
	if (st)
		sl_js_close(st);
	return rc;
}

int sl_job_requeue(const char *db, const char *id, char *msg, size_t msglen)
{
	sl_jobstore *st = NULL;
	sl_job j = {0};
	sl_chunk *ch = NULL;
	size_t n = 0;
	int rc;
	msg[0] = 0;
	if ((rc = sl_jobstore_open(db, 0, &st, msg, msglen)) < 0)
		goto out;
	/* a finished job has no runner (a stale one that wakes up is fenced) */
	if ((rc = sl_txn_begin(st->txn)) < 0 || (rc = sl_js_job_get(st, id, &j)) < 0)
		goto fail;
	if (rc == 0) {
		rc = SL_NOT_FOUND;
		snprintf(msg, msglen, "no job %s", id);
		goto rollback;
	}
	if (!sl_job_status_final(j.status) || j.status == SL_JOB_ROLLEDBACK) {
		rc = SL_CONFLICT;
		snprintf(msg, msglen, "job %s is %s: only a finished job can be retried", id,
		         sl_job_status_name(j.status));
		goto rollback;
	}
	if ((rc = sl_js_chunks_get(st, id, &ch, &n)) < 0)
		goto fail;
	size_t todo = 0;
	sl_job_counts back = {0}; /* the failed chunks queued again, off the counters */
	for (size_t i = 0; i < n; i++) {
		if (ch[i].status == SL_CHUNK_FAILED) {
			ch[i].status = SL_CHUNK_QUEUED;
			ch[i].attempts = 0;
			back.chunks_failed--;
			back.chunks_processed--;
			if ((rc = sl_js_chunk_update(st, id, &ch[i])) < 0)
				goto fail;
		}
		todo += ch[i].status != SL_CHUNK_SUCCEEDED;
	}
	/* a job that failed before its chunks were planned plans them again */
	if (!todo && j.status != SL_JOB_FAILED) {
		rc = SL_CONFLICT;
		snprintf(msg, msglen,
		         "job %s has no failed or remaining chunks; its rejected rows are fixed "
		         "and loaded again instead",
		         id);
		goto rollback;
	}
	j.status = n ? SL_JOB_QUEUED : SL_JOB_ACCEPTED;
	j.error_code = 0;
	free(j.error_message);
	j.error_message = NULL;
	j.finished_ms = 0;
	j.updated_ms = sl_now_ms();
	sl_event ev = {j.id, -1, "retry", 0, 0, 0, 0, NULL};
	if ((rc = sl_js_counts_add(st, id, &back)) < 0 || (rc = sl_js_job_rewrite(st, &j)) < 0 ||
	    (rc = sl_js_cancel_set(st, id, false)) < 0 || (rc = sl_js_event_insert(st, &ev)) < 0 ||
	    (rc = sl_txn_commit(st->txn)) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	snprintf(msg, msglen, "database: %s", sl_js_errmsg(st));
rollback:
	sl_txn_rollback(st->txn);
out:
	free(ch);
	sl_job_clear(&j);
	if (st)
		sl_js_close(st);
	return rc;
}
