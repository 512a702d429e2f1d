/*
 * A job row in a final status is fenced in the store (issue 11): the job
 * store's update leaves it as it is and says CONFLICT, naming the job and
 * its status, whatever the caller holds in memory (a planner or runner
 * that did not see a cancel); the rewrite a retry or a rollback does goes
 * through; a job that is not final takes updates as before, and no job is
 * NOT_FOUND. Run for every backend of backends.c that is wanted (SQLite
 * here; PostgreSQL as pg_job_final, with the server of its fixture).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/base.h"
#include "sluice/error.h"
#include "store/backends.h"

static void put_job(sl_jobstore *s, const char *id, sl_job_status st)
{
	sl_job j = {0};
	snprintf(j.id, sizeof j.id, "%s", id);
	j.status = st;
	j.created_ms = 1000;
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_job_insert(s, &j));
	OK(s->txn, sl_txn_commit(s->txn));
}

static sl_job_status status_of(sl_jobstore *s, const char *id)
{
	sl_job j = {0};
	assert_int_equal(sl_js_job_get(s, id, &j), 1);
	sl_job_status st = j.status;
	sl_job_clear(&j);
	return st;
}

static void a_final_job_is_not_overwritten(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	static const sl_job_status finals[] = {SL_JOB_SUCCEEDED, SL_JOB_PARTIAL, SL_JOB_FAILED,
	                                       SL_JOB_CANCELLED, SL_JOB_ROLLEDBACK};
	for (size_t i = 0; i < SL_ARRAY_LEN(finals); i++) {
		char id[16];
		snprintf(id, sizeof id, "jf%zu", i);
		put_job(s, id, finals[i]);
		/* a writer that still holds the job as Processing */
		sl_job stale = {0};
		snprintf(stale.id, sizeof stale.id, "%s", id);
		stale.status = SL_JOB_PROCESSING;
		stale.chunks_total = 9;
		OK(s->txn, sl_txn_begin(s->txn));
		assert_int_equal(sl_js_job_update(s, &stale), SL_CONFLICT);
		char want[128];
		snprintf(want, sizeof want, "job %s is %s already", id,
		         sl_job_status_name(finals[i]));
		assert_non_null(strstr(sl_txn_errmsg(s->txn), want));
		sl_txn_rollback(s->txn);
		assert_int_equal(status_of(s, id), finals[i]);
	}
}

static void a_rewrite_reopens_a_final_job(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	put_job(s, "jr", SL_JOB_FAILED);
	sl_job j = {0};
	snprintf(j.id, sizeof j.id, "jr");
	j.status = SL_JOB_QUEUED; /* what a retry writes */
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_job_rewrite(s, &j));
	OK(s->txn, sl_txn_commit(s->txn));
	assert_int_equal(status_of(s, "jr"), SL_JOB_QUEUED);
	/* open again: a plain update goes through, to a final status too */
	j.status = SL_JOB_SUCCEEDED;
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_job_update(s, &j));
	OK(s->txn, sl_txn_commit(s->txn));
	assert_int_equal(status_of(s, "jr"), SL_JOB_SUCCEEDED);
	/* and a rollback over that final job */
	j.status = SL_JOB_ROLLEDBACK;
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_job_rewrite(s, &j));
	OK(s->txn, sl_txn_commit(s->txn));
	assert_int_equal(status_of(s, "jr"), SL_JOB_ROLLEDBACK);
	/* no job: NOT_FOUND either way */
	snprintf(j.id, sizeof j.id, "ghost");
	OK(s->txn, sl_txn_begin(s->txn));
	assert_int_equal(sl_js_job_update(s, &j), SL_NOT_FOUND);
	assert_int_equal(sl_js_job_rewrite(s, &j), SL_NOT_FOUND);
	sl_txn_rollback(s->txn);
}

static int final_suite_run(const store_backend *b)
{
	void *st = (void *)b;
#define T(fn) cmocka_unit_test_prestate_setup_teardown(fn, store_fx_setup, store_fx_teardown, st)
	const struct CMUnitTest tests[] = {
	    T(a_final_job_is_not_overwritten),
	    T(a_rewrite_reopens_a_final_job),
	};
#undef T
	char name[128];
	snprintf(name, sizeof name, "final jobs: %s", b->name);
	return _cmocka_run_group_tests(name, tests, SL_ARRAY_LEN(tests), NULL, NULL);
}

int main(void)
{
	int failed = 0;
	for (const store_backend *b = store_backends; b->name; b++)
		if (store_backend_wanted(b))
			failed += final_suite_run(b);
	return failed ? 1 : 0;
}
