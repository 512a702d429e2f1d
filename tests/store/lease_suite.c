/*
 * The job store's lease ops, a conformance suite every backend must pass
 * (run by test_lease_store.c for each backend of backends.c): claims take
 * Queued chunks in order and bump the epoch, two connections never claim
 * one chunk, an expired lease (or one whose owner is dead), queued again
 * by the reaper, is claimed again and its old holder is fenced off, a renewal keeps a lease, a
 * cancel request or a finished job stops claims and commits, and the open
 * and live counts say who still runs a job. Real databases in temporary
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

/* a job in status st with n Queued chunks (backends.h) */
void lease_job_with_chunks(sl_jobstore *s, const char *id, sl_job_status st, uint32_t n)
{
	sl_job j = {0};
	snprintf(j.id, sizeof j.id, "%s", id);
	j.status = st;
	j.file = strdup("/data/f.csv");
	j.table = strdup("t");
	j.created_ms = 1000;
	j.chunks_total = n;
	OK(s->txn, sl_js_job_insert(s, &j));
	sl_chunk c[8];
	assert_true(n <= 8);
	for (uint32_t i = 0; i < n; i++) {
		memset(&c[i], 0, sizeof c[i]);
		c[i].seq = i;
		c[i].records_planned = 10;
		c[i].status = SL_CHUNK_QUEUED;
	}
	OK(s->txn, sl_js_chunks_replace(s, id, c, n));
	sl_job_clear(&j);
}

/* In the open transaction: the reaper (leases that ran out, or whose
   owner `dead` says is gone, queued again at once: no backoff), then a
   claim (backends.h). */
int lease_reap_claim(sl_jobstore *s, const char *job, const char *owner, int64_t ttl,
                     sl_owner_dead_fn dead, sl_lease *l)
{
	uint64_t n = 0;
	int rc = sl_js_chunks_reap(s, sl_now_ms(), dead, 0, -1, 16, &n);
	return rc < 0 ? rc : sl_js_chunk_claim(s, job, owner, ttl, l);
}

/* reap and claim in a transaction of its own: 1, 0, or fail */
static int claim(sl_jobstore *s, const char *job, const char *owner, int64_t ttl,
                 sl_owner_dead_fn dead, sl_lease *l)
{
	OK(s->txn, sl_txn_begin(s->txn));
	int rc = lease_reap_claim(s, job, owner, ttl, dead, l);
	if (rc < 0)
		fail_msg("claim: %s (%s)", sl_error_name(rc), sl_txn_errmsg(s->txn));
	OK(s->txn, sl_txn_commit(s->txn));
	return rc;
}

static bool all_dead(const char *owner)
{
	(void)owner;
	return true;
}

static bool a_dead(const char *owner)
{
	return !strcmp(owner, "A");
}

static void claims_take_queued_chunks_in_order_and_fence_the_old_holder(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	lease_job_with_chunks(s, "jl", SL_JOB_QUEUED, 3);
	sl_lease a, b, c, d;
	assert_int_equal(claim(s, NULL, "A", 60000, NULL, &a), 1);
	assert_string_equal(a.job_id, "jl");
	assert_int_equal(a.seq, 0);
	assert_int_equal(a.epoch, 1);
	assert_int_equal(a.attempts, 1);
	/* the job is Processing once a chunk of it is claimed */
	sl_job j = {0};
	assert_int_equal(sl_js_job_get(s, "jl", &j), 1);
	assert_int_equal(j.status, SL_JOB_PROCESSING);
	assert_true(j.started_ms > 0);
	sl_job_clear(&j);
	/* a second connection (another worker) gets the next one, never the same */
	sl_store other;
	char msg[256];
	if (f->b->open(f->dir, 2000, &other, msg, sizeof msg) < 0)
		fail_msg("second open: %s", msg);
	assert_int_equal(claim(other.js, "jl", "B", 60000, NULL, &b), 1);
	assert_int_equal(b.seq, 1);
	assert_int_equal(claim(s, "jl", "A", 60000, NULL, &c), 1);
	assert_int_equal(c.seq, 2);
	/* nothing left while the leases live (their owners are not said dead) */
	assert_int_equal(claim(other.js, NULL, "B", 60000, NULL, &d), 0);
	uint64_t open = 0, live = 0;
	OK(s->txn, sl_js_chunks_open(s, "jl", NULL, &open, &live));
	assert_true(open == 3 && live == 3);
	/* an owner said dead: its leases are void at once (the reaper queues
	   A's chunks 0 and 2 again), the chunk claimed again */
	OK(s->txn, sl_js_chunks_open(s, "jl", all_dead, &open, &live));
	assert_true(open == 3 && live == 0);
	assert_int_equal(claim(other.js, "jl", "B", 60000, a_dead, &d), 1);
	assert_int_equal(d.seq, 0);
	assert_int_equal(d.epoch, 2);
	assert_int_equal(d.attempts, 2);
	/* the old holder is fenced: renewal and commit refused */
	OK(s->txn, sl_txn_begin(s->txn));
	assert_int_equal(sl_js_lease_renew(s, &a, 60000), SL_LEASE_LOST);
	assert_int_equal(sl_js_lease_fence(s, &a), SL_LEASE_LOST);
	/* the new one's fence and renewal pass */
	assert_int_equal(sl_js_lease_fence(s, &d), 0);
	assert_int_equal(sl_js_lease_renew(s, &d, 60000), 0);
	sl_txn_rollback(s->txn);
	/* a chunk given back is Queued again, its epoch kept (so the next claim
	   bumps it past every holder's); c was queued again by the reaper
	   already, so A's release changes nothing */
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_lease_release(s, &c));
	OK(s->txn, sl_txn_commit(s->txn));
	assert_int_equal(claim(s, "jl", "C", 60000, NULL, &c), 1);
	assert_int_equal(c.seq, 2);
	assert_int_equal(c.epoch, 2);
	/* a chunk's row written whole keeps its lease (chunk_update) */
	sl_chunk *ch = NULL;
	size_t n = 0;
	OK(s->txn, sl_js_chunks_get(s, "jl", &ch, &n));
	assert_int_equal(n, 3);
	ch[2].status = SL_CHUNK_PROCESSING;
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_chunk_update(s, "jl", &ch[2]));
	assert_int_equal(sl_js_lease_fence(s, &c), 0);
	OK(s->txn, sl_txn_commit(s->txn));
	free(ch);
	sl_store_close(&other);
}

static void an_expired_lease_is_claimed_again(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	lease_job_with_chunks(s, "je", SL_JOB_PROCESSING, 1);
	sl_lease a, b;
	assert_int_equal(claim(s, "je", "A", -1, NULL, &a), 1); /* expired at once */
	uint64_t open = 0, live = 0;
	OK(s->txn, sl_js_chunks_open(s, "je", NULL, &open, &live));
	assert_true(open == 1 && live == 0);
	assert_int_equal(claim(s, "je", "B", 60000, NULL, &b), 1);
	assert_true(b.seq == 0 && b.epoch == a.epoch + 1);
	OK(s->txn, sl_txn_begin(s->txn));
	assert_int_equal(sl_js_lease_fence(s, &a), SL_LEASE_LOST);
	/* and a release by the old holder changes nothing */
	OK(s->txn, sl_js_lease_release(s, &a));
	assert_int_equal(sl_js_lease_fence(s, &b), 0);
	sl_txn_rollback(s->txn);
}

static void cancel_and_final_jobs_stop_claims_and_commits(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	lease_job_with_chunks(s, "jx", SL_JOB_PROCESSING, 2);
	lease_job_with_chunks(s, "jy", SL_JOB_ACCEPTED, 1); /* not planned: nothing to claim */
	sl_lease a, b;
	assert_int_equal(claim(s, NULL, "A", 60000, NULL, &a), 1);
	assert_string_equal(a.job_id, "jx");
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_cancel_set(s, "jx", true));
	OK(s->txn, sl_txn_commit(s->txn));
	assert_int_equal(claim(s, NULL, "A", 60000, NULL, &b), 0);
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_cancel_set(s, "jx", false));
	OK(s->txn, sl_txn_commit(s->txn));
	/* a finished job: no claims, and the holder's fence refuses its commit */
	sl_job j = {0};
	assert_int_equal(sl_js_job_get(s, "jx", &j), 1);
	j.status = SL_JOB_FAILED;
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_job_update(s, &j));
	OK(s->txn, sl_txn_commit(s->txn));
	sl_job_clear(&j);
	assert_int_equal(claim(s, NULL, "A", 60000, NULL, &b), 0);
	OK(s->txn, sl_txn_begin(s->txn));
	assert_int_equal(sl_js_lease_fence(s, &a), SL_LEASE_LOST);
	sl_txn_rollback(s->txn);
}

struct got_reject {
	char msg[160];
	int n;
};

static int read_reject(void *ctx, uint32_t chunk, const sl_reject *r, const char *column)
{
	struct got_reject *g = ctx;
	(void)chunk;
	(void)column;
	snprintf(g->msg, sizeof g->msg, "%.*s", (int)r->message.n, r->message.p);
	g->n++;
	return 0;
}

static void chunk_add_and_reject_holders(void **state)
{
	store_fx *f = *state;
	sl_jobstore *s = f->s.js;
	lease_job_with_chunks(s, "jd", SL_JOB_PROCESSING, 2);
	sl_chunk *ch = NULL;
	size_t n = 0;
	OK(s->txn, sl_js_chunks_get(s, "jd", &ch, &n));
	ch[1].status = SL_CHUNK_SUCCEEDED;
	ch[1].rows_read = 10;
	ch[1].rows_loaded = 10;
	ch[1].rows_inserted = 10;
	OK(s->txn, sl_txn_begin(s->txn));
	OK(s->txn, sl_js_chunk_update(s, "jd", &ch[1]));
	OK(s->txn, sl_js_chunk_add(s, "jd", 1, -1, 1));
	sl_reject r = {.record = 15, .line = 16, .offset = 1500, .column = 0, .code = SL_DUP_KEY};
	r.message = SL_STR_LIT("key k=1 already loaded by record 12, an earlier row of this file");
	r.raw = SL_STR_LIT("1,x");
	OK(s->txn, sl_js_reject_insert(s, "jd", 1, &r, "k"));
	OK(s->txn, sl_js_reject_holder(s, 12));
	OK(s->txn, sl_js_rejects_rehold(s, "jd", 12, 3, "by record 12,", "by record 3,"));
	OK(s->txn, sl_txn_commit(s->txn));
	free(ch);
	OK(s->txn, sl_js_chunks_get(s, "jd", &ch, &n));
	assert_true(ch[1].rows_loaded == 9 && ch[1].rows_rejected == 1 && ch[1].rows_read == 10);
	assert_true(ch[1].rows_inserted == 9 && ch[1].rows_updated == 0); /* an insert moved */
	free(ch);
	struct got_reject got = {"", 0};
	OK(s->txn, sl_js_rejects_each(s, "jd", SL_DUP_KEY, read_reject, &got));
	assert_int_equal(got.n, 1);
	/* the reject that named record 12 as the key's holder names record 3 now */
	assert_string_equal(got.msg,
	                    "key k=1 already loaded by record 3, an earlier row of this file");
}

int lease_suite_run(const store_backend *b)
{
	void *st = (void *)b;
#define T(fn) cmocka_unit_test_prestate_setup_teardown(fn, store_fx_setup, store_fx_teardown, st)
	const struct CMUnitTest tests[] = {
	    T(claims_take_queued_chunks_in_order_and_fence_the_old_holder),
	    T(an_expired_lease_is_claimed_again),
	    T(cancel_and_final_jobs_stop_claims_and_commits),
	    T(chunk_add_and_reject_holders),
	};
#undef T
	char name[128];
	snprintf(name, sizeof name, "lease suite: %s", b->name);
	return _cmocka_run_group_tests(name, tests, SL_ARRAY_LEN(tests), NULL, NULL);
}
