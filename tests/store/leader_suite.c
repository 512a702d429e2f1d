/*
 * The job store's leader and reaper ops, a conformance suite every backend
 * must pass (run by test_leader_store.c for each backend of backends.c):
 * the first candidate leads in term 1, a second one does not while the
 * lease lives, takes it over (term 2) once it ran out or its holder is
 * dead, and the old leader's fence is refused (TERM_LOST) and rolls its
 * transaction back; a release lets the next candidate in at once; the
 * reaper queues chunks whose lease ran out again with their attempts kept
 * and a backoff that claims honour, leaves live leases and finished jobs
 * alone, and fences the old holder out. Real databases in temporary
 * directories, through the jobstore.h wrappers only.
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
#include "backends.h"

/* acquire in a transaction of its own: 1 or 0 */
static int acquire(sl_jobstore *s, const char *owner, int64_t ttl, sl_owner_dead_fn dead,
                   sl_leader *l)
{
	OK(s->txn, sl_txn_begin(s->txn));
	int rc = sl_js_leader_acquire(s, owner, ttl, dead, l);
	if (rc < 0)
		fail_msg("acquire: %s (%s)", sl_error_name(rc), sl_txn_errmsg(s->txn));
	OK(s->txn, sl_txn_commit(s->txn));
	return rc;
}

static bool all_dead(const char *owner)
{
	(void)owner;
	return true;
}

static void open_other(store_fx *f, sl_store *o)
{
	char msg[256];
	if (f->b->open(f->dir, 2000, o, msg, sizeof msg) < 0)
		fail_msg("second open: %s", msg);
}

static void one_leader_per_term_and_the_old_one_is_fenced(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	sl_store other;
	open_other(f, &other);
	sl_leader a, b, got;
	assert_int_equal(sl_js_leader_get(s, &got), 0); /* nobody led yet */
	assert_int_equal(acquire(s, "A", 60000, NULL, &a), 1);
	assert_int_equal(a.term, 1);
	assert_string_equal(a.owner, "A");
	/* A again: still term 1 (a renewal, not a takeover) */
	assert_int_equal(acquire(s, "A", 60000, NULL, &a), 1);
	assert_int_equal(a.term, 1);
	/* B while A's lease lives: not B, and B is told who leads */
	assert_int_equal(acquire(other.js, "B", 60000, NULL, &b), 0);
	assert_string_equal(b.owner, "A");
	assert_int_equal(b.term, 1);
	/* A's fence passes and renews */
	OK(s->txn, sl_txn_begin(s->txn));
	int64_t before = a.expires_ms;
	OK(s->txn, sl_js_leader_fence(s, &a, 120000));
	assert_true(a.expires_ms > before);
	OK(s->txn, sl_txn_commit(s->txn));
	/* A said dead: B takes over in term 2 */
	assert_int_equal(acquire(other.js, "B", 60000, all_dead, &b), 1);
	assert_int_equal(b.term, 2);
	assert_int_equal(sl_js_leader_get(s, &got), 1);
	assert_int_equal(got.term, 2);
	assert_string_equal(got.owner, "B");
	/* A's leader-only writes are refused: the fence, first in its
	   transaction, says TERM_LOST, and what it wrote before rolls back */
	lease_job_with_chunks(s, "jx", SL_JOB_QUEUED, 1);
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_cancel_set(s, "jx", true));
	assert_int_equal(sl_js_leader_fence(s, &a, 60000), SL_TERM_LOST);
	assert_non_null(strstr(sl_txn_errmsg(s->txn), "term 1"));
	sl_txn_rollback(s->txn);
	assert_int_equal(sl_js_cancel_get(s, "jx"), 0);
	/* and A cannot take the lease back while B's lives */
	assert_int_equal(acquire(s, "A", 60000, NULL, &a), 0);
	/* B steps down: the next candidate leads at once, in term 3 */
	OK(s->txn, sl_txn_begin(other.js->txn));
	OK(other.js->txn, sl_js_leader_release(other.js, &b));
	OK(other.js->txn, sl_txn_commit(other.js->txn));
	assert_int_equal(acquire(s, "A", 60000, NULL, &a), 1);
	assert_int_equal(a.term, 3);
	/* a release by B, no longer the leader, changes nothing */
	OK(other.js->txn, sl_txn_begin(other.js->txn));
	OK(other.js->txn, sl_js_leader_release(other.js, &b));
	OK(other.js->txn, sl_txn_commit(other.js->txn));
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_leader_fence(s, &a, 60000));
	OK(s->txn, sl_txn_commit(s->txn));
	sl_store_close(&other);
}

static void an_expired_leader_lease_is_taken_over(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	sl_leader a, b;
	/* a lease already run out (a negative TTL: no waiting for the clock) */
	assert_int_equal(acquire(s, "A", -1000, NULL, &a), 1);
	assert_int_equal(acquire(s, "B", 60000, NULL, &b), 1);
	assert_int_equal(b.term, a.term + 1);
	OK(s->txn, sl_txn_begin(s->txn));
	assert_int_equal(sl_js_leader_fence(s, &a, 60000), SL_TERM_LOST);
	sl_txn_rollback(s->txn);
}

static int claim(sl_jobstore *s, const char *job, const char *owner, int64_t ttl, sl_lease *l)
{
	OK(s->txn, sl_txn_begin(s->txn));
	int rc = sl_js_chunk_claim(s, job, owner, ttl, l);
	if (rc < 0)
		fail_msg("claim: %s (%s)", sl_error_name(rc), sl_txn_errmsg(s->txn));
	OK(s->txn, sl_txn_commit(s->txn));
	return rc;
}

static uint64_t reap(sl_jobstore *s, int64_t now, sl_owner_dead_fn dead, int max, int64_t base)
{
	uint64_t n = 0;
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_chunks_reap(s, now, dead, max, base, 16, &n));
	OK(s->txn, sl_txn_commit(s->txn));
	return n;
}

static void the_reaper_requeues_with_attempts_kept_and_a_backoff(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	lease_job_with_chunks(s, "jr", SL_JOB_QUEUED, 2);
	sl_lease a, b, c;
	assert_int_equal(claim(s, "jr", "A", -1000, &a), 1); /* run out at once */
	assert_int_equal(claim(s, "jr", "B", 60000, &b), 1); /* lives */
	assert_int_equal(a.seq, 0);
	assert_int_equal(b.seq, 1);
	/* an expired lease is not claimable until the reaper queues it */
	assert_int_equal(claim(s, "jr", "C", 60000, &c), 0);
	int64_t now = sl_now_ms();
	assert_int_equal(reap(s, now, NULL, 5, 60000), 1); /* A's only: B's lives */
	sl_chunk *ch = NULL;
	size_t n = 0;
	OK(s->txn, sl_js_chunks_get(s, "jr", &ch, &n));
	assert_int_equal(n, 2);
	assert_int_equal(ch[0].status, SL_CHUNK_QUEUED);
	assert_int_equal(ch[0].attempts, 1); /* kept */
	assert_int_equal(ch[0].last_error, SL_LEASE_LOST);
	assert_non_null(strstr(ch[0].last_message, "attempt 1"));
	assert_non_null(strstr(ch[0].last_message, "A"));
	assert_int_equal(ch[1].status, SL_CHUNK_PROCESSING);
	free(ch);
	/* the old holder is fenced out: the chunk is not Processing any more */
	OK(s->txn, sl_txn_begin(s->txn));
	assert_int_equal(sl_js_lease_fence(s, &a), SL_LEASE_LOST);
	sl_txn_rollback(s->txn);
	/* after a first attempt no backoff: claimable at once (by C, whose
	   lease runs out at once too) */
	assert_int_equal(claim(s, "jr", "C", -1000, &c), 1);
	assert_true(c.seq == 0 && c.attempts == 2 && c.epoch == a.epoch + 1);
	assert_int_equal(reap(s, sl_now_ms(), NULL, 5, 60000), 1);
	/* after the second, the backoff (30..60 s here) holds claims off */
	assert_int_equal(claim(s, "jr", "D", 60000, &c), 0);
	OK(s->txn, sl_js_chunks_get(s, "jr", &ch, &n));
	assert_true(ch[0].status == SL_CHUNK_QUEUED && ch[0].attempts == 2);
	free(ch);
	/* what a --once worker waits for: the chunk in its backoff; B's live
	   lease is not (another's commit ends it) */
	uint64_t due = 0;
	OK(s->txn, sl_js_chunks_due(s, sl_now_ms(), NULL, &due));
	assert_int_equal(due, 1);
	OK(s->txn, sl_js_chunks_due(s, sl_now_ms(), all_dead, &due));
	assert_int_equal(due, 2);
	/* B's owner said dead: its lease is void; attempts used up (1 of 1):
	   no backoff, so the next claim (which fails it in the engine) comes
	   at once */
	assert_int_equal(reap(s, now, all_dead, 1, 60000), 1);
	assert_int_equal(claim(s, "jr", "E", 60000, &c), 1);
	assert_int_equal(c.seq, 1);
	assert_int_equal(c.attempts, 2);
	assert_int_equal(c.epoch, b.epoch + 1);
	OK(s->txn, sl_txn_begin(s->txn));
	assert_int_equal(sl_js_lease_fence(s, &b), SL_LEASE_LOST);
	OK(s->txn, sl_js_lease_fence(s, &c));
	sl_txn_rollback(s->txn);
	/* nothing left to reap: a second pass changes nothing */
	assert_int_equal(reap(s, now, NULL, 5, 60000), 0);
	/* a cancel request: nothing of the job is due any more */
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_cancel_set(s, "jr", true));
	OK(s->txn, sl_txn_commit(s->txn));
	OK(s->txn, sl_js_chunks_due(s, sl_now_ms(), all_dead, &due));
	assert_int_equal(due, 0);
}

static void the_reaper_leaves_finished_jobs_and_backoff_grows(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	lease_job_with_chunks(s, "jf", SL_JOB_QUEUED, 1);
	sl_lease a;
	assert_int_equal(claim(s, "jf", "A", -1000, &a), 1);
	/* a finished job's chunk stays as it is */
	sl_job j = {0};
	assert_int_equal(sl_js_job_get(s, "jf", &j), 1);
	j.status = SL_JOB_FAILED;
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_job_update(s, &j));
	OK(s->txn, sl_txn_commit(s->txn));
	sl_job_clear(&j);
	assert_int_equal(reap(s, sl_now_ms(), all_dead, 5, 0), 0);
	/* none after the first attempt, then the backoff doubles per attempt,
	   with jitter in [0.5, 1), capped, and is none once the attempts are
	   used up or the base is 0 */
	assert_int_equal(sl__js_backoff_ms(1000, 1, 5), 0);
	for (int i = 0; i < 50; i++) {
		int64_t d2 = sl__js_backoff_ms(1000, 2, 5), d4 = sl__js_backoff_ms(1000, 4, 5);
		assert_true(d2 >= 500 && d2 < 1000);
		assert_true(d4 >= 2000 && d4 < 4000);
		int64_t big = sl__js_backoff_ms(1000, 40, 0);
		assert_true(big >= 150000 && big <= 300000);
	}
	assert_int_equal(sl__js_backoff_ms(1000, 5, 5), 0);
	assert_int_equal(sl__js_backoff_ms(0, 2, 5), 0);
	assert_int_equal(sl__js_backoff_ms(-1, 2, 5), 0);
}

int leader_suite_run(const store_backend *b)
{
	void *st = (void *)b;
#define T(fn) cmocka_unit_test_prestate_setup_teardown(fn, store_fx_setup, store_fx_teardown, st)
	const struct CMUnitTest tests[] = {
	    T(one_leader_per_term_and_the_old_one_is_fenced),
	    T(an_expired_leader_lease_is_taken_over),
	    T(the_reaper_requeues_with_attempts_kept_and_a_backoff),
	    T(the_reaper_leaves_finished_jobs_and_backoff_grows),
	};
#undef T
	char name[128];
	snprintf(name, sizeof name, "leader and reaper ops (%s)", b->name);
	return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
