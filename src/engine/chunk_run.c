/*
 * A job as several processes share it: `sluice ingest`, `sluice worker`s
 * and the service's runners each claim chunks of it (lease.c) and commit
 * them (sl__chunk_run in chunk_write.c). So no process owns the job's row:
 *
 *   - counters are added as increments in each chunk's transaction and
 *     read back (sl__ingest_job_refresh), never written from a copy that
 *     another process's commit has outdated;
 *   - fan-in: the job finishes (Succeeded, PartiallySucceeded, Failed) in
 *     the transaction that commits its last open chunk, whoever commits it
 *     (sl__ingest_fan_in), with its final counters checked (read = loaded +
 *     rejected);
 *   - a run that stops the job itself (a failure, a cancel, the error
 *     budget) writes its end over the job as it is in the store
 *     (sl__ingest_finish_job), and leaves a job another process finished
 *     alone.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ingest_int.h"

void sl__ingest_merge_counts(sl_job *dst, const sl_job *fresh)
{
	dst->chunks_total = fresh->chunks_total;
	dst->chunks_processed = fresh->chunks_processed;
	dst->chunks_succeeded = fresh->chunks_succeeded;
	dst->chunks_failed = fresh->chunks_failed;
	dst->rows_read = fresh->rows_read;
	dst->rows_loaded = fresh->rows_loaded;
	dst->rows_rejected = fresh->rows_rejected;
	dst->rows_inserted = fresh->rows_inserted;
	dst->rows_updated = fresh->rows_updated;
	dst->records_padded = fresh->records_padded;
	dst->records_truncated = fresh->records_truncated;
	dst->bytes_done = fresh->bytes_done;
	memcpy(dst->rejects_by_code, fresh->rejects_by_code, sizeof dst->rejects_by_code);
	if (fresh->started_ms && (!dst->started_ms || fresh->started_ms < dst->started_ms))
		dst->started_ms = fresh->started_ms;
}

/* The job's counters as the store has them now (inside the caller's
   transaction); a job another process finished keeps its end. */
int sl__ingest_job_refresh(ingest *g)
{
	sl_job fresh = {0};
	int rc = sl_js_job_get(g->st, g->job.id, &fresh);
	if (rc == 1) {
		sl__ingest_merge_counts(&g->job, &fresh);
		if (sl_job_status_final(fresh.status)) {
			g->job.status = fresh.status;
			g->job.error_code = fresh.error_code;
			g->job.finished_ms = fresh.finished_ms;
			free(g->job.error_message);
			g->job.error_message = fresh.error_message;
			fresh.error_message = NULL;
		}
		rc = 0;
	} else if (rc == 0) {
		rc = SL_NOT_FOUND;
	}
	sl_job_clear(&fresh);
	return rc;
}

/* Test only: SLUICE_TEST_KILL (see docs/ingest.md, Faults). */
void sl__ingest_test_kill(const char *name)
{
	const char *k = getenv("SLUICE_TEST_KILL");
	if (k && !strcmp(k, name))
		raise(SIGKILL);
}

/* The job's final status, error and message by its counters (as refreshed). */
static void final_state(ingest *g)
{
	sl_job *j = &g->job;
	j->error_code = 0;
	if (g->fatal_rc) {
		j->status = SL_JOB_FAILED;
		j->error_code = g->fatal_rc;
	} else if (j->rows_read != j->rows_loaded + j->rows_rejected ||
	           j->rows_inserted + j->rows_updated != j->rows_loaded) {
		j->status = SL_JOB_FAILED;
		j->error_code = SL_INTERNAL;
		sl__ingest_say(
		    g,
		    "internal error: the job read %llu rows but loaded %llu (inserted %llu +"
		    " updated %llu) + rejected %llu",
		    (unsigned long long)j->rows_read, (unsigned long long)j->rows_loaded,
		    (unsigned long long)j->rows_inserted, (unsigned long long)j->rows_updated,
		    (unsigned long long)j->rows_rejected);
	} else if (sl__ingest_budget_exceeded(g)) {
		j->status = SL_JOB_FAILED;
		j->error_code = SL_LIMIT;
	} else {
		j->status = sl__ingest_final_status(g);
	}
	free(j->error_message);
	j->error_message =
	    j->error_code ? strdup(g->msg[0] ? g->msg : sl_error_message(j->error_code)) : NULL;
	j->finished_ms = j->updated_ms = sl_now_ms();
}

static int write_end(ingest *g)
{
	sl_job *j = &g->job;
	sl_event ev = {j->id,
	               -1,
	               "job_end",
	               j->rows_read,
	               j->rows_loaded,
	               j->rows_rejected,
	               j->finished_ms - j->started_ms,
	               j->error_message};
	int rc = sl_js_job_update(g->st, j);
	if (rc == 0)
		rc = sl_js_event_insert(g->st, &ev);
	/* a refeed job's end marks what it loaded resolved (refeed.c) */
	if (rc == 0 && j->refeed_of[0])
		rc = sl_js_refeed_settle(g->st, j->id);
	/* a cancel request is answered once the job is final, whatever ended it */
	if (rc == 0 && sl_js_cancel_get(g->st, j->id) == 1)
		rc = sl_js_cancel_set(g->st, j->id, false);
	return rc;
}

/* In a chunk's transaction, after its counters: was it the job's last open
   chunk? Then the job finishes here. */
int sl__ingest_fan_in(ingest *g)
{
	uint64_t open = 0, live = 0;
	if (sl_job_status_final(g->job.status) || g->planning)
		return 0; /* finished by someone else; or a pipelined plan not complete yet */
	int rc = sl_js_chunks_open(g->st, g->job.id, sl__lease_owner_dead, &open, &live);
	if (rc < 0 || open)
		return rc;
	sl__ingest_test_kill("last_chunk");
	final_state(g);
	if ((rc = sl__modes_finish(g)) == 0 && (rc = write_end(g)) == 0)
		g->finished = true;
	return rc;
}

/* The end a run gives the job itself: Cancelled on request, Failed with
   rc, else its final status by its counters (final_state). */
static void own_end(ingest *g, int rc)
{
	sl_job *j = &g->job;
	if (rc >= 0 && g->cancelled) {
		j->status = SL_JOB_CANCELLED;
		j->error_code = 0;
		free(j->error_message);
		j->error_message = strdup("cancelled on request");
		j->finished_ms = j->updated_ms = sl_now_ms();
	} else if (rc < 0) {
		j->status = SL_JOB_FAILED;
		j->error_code = rc;
		if (!g->msg[0])
			sl__ingest_say(g, "%s", sl_error_message(rc));
		free(j->error_message);
		j->error_message = strdup(g->msg);
		j->finished_ms = j->updated_ms = sl_now_ms();
	} else {
		final_state(g);
	}
}

/*
 * The run stops the job (rc < 0: Failed; a cancel: Cancelled; else its
 * final status), over the job as the store has it now. A job finished
 * meanwhile (by the fan-in of this or another process, or a cancel) is
 * left as it is, and g->job takes its state.
 */
int sl__ingest_finish_job(ingest *g, int rc)
{
	sl_job *j = &g->job;
	if (g->st && g->finished)
		return 0;
	if (g->st) {
		int r = 0;
		for (int attempt = 1; attempt <= 5; attempt++) {
			if ((r = sl_txn_begin(g->txn)) == 0 &&
			    (r = sl__ingest_job_refresh(g)) == 0) {
				if (sl_job_status_final(j->status)) {
					sl_txn_rollback(g->txn);
					return 0;
				}
				own_end(g, rc);
				if ((r = sl__modes_finish(g)) == 0 && (r = write_end(g)) == 0 &&
				    (r = sl_txn_commit(g->txn)) == 0)
					break;
			}
			sl_txn_rollback(g->txn);
			if (sl_error_class(r) != SL_CLASS_RETRY)
				break;
			sl__ingest_backoff(attempt);
		}
		if (r == 0)
			sl__ingest_test_kill("finished");
		return r;
	}
	own_end(g, rc); /* a dry run: nothing shared */
	return 0;
}
