/*
 * What the PostgreSQL job store's leases (src/store/store_pg_lease.c) must
 * do that SQLite cannot even be asked (its write lock serialises every
 * claim): two connections with transactions open at the same time. A claim
 * passes over a chunk another transaction has locked (FOR NO KEY UPDATE
 * SKIP LOCKED) instead of waiting for it or taking it too, and the fence of
 * a committing holder locks its chunk so that a claimer cannot take it over
 * in the middle of that commit. Each connection has lock_timeout set, so a
 * claim that waited for a lock fails the test instead of hanging it.
 * Against the server of the `postgres` fixture (tests/pg/run_unit.sh), a
 * database per case (tests/store/backends.c).
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
#include "store/store_pg_int.h"

static const store_backend *postgres(void)
{
	for (const store_backend *b = store_backends; b->name; b++)
		if (!strcmp(b->name, "postgres"))
			return b;
	return NULL;
}

/* a second connection to the case's database, that waits at most 2 s for a lock */
static void open_other(store_fx *f, sl_store *other)
{
	char msg[256];
	if (f->b->open(f->dir, 2000, other, msg, sizeof msg) < 0)
		fail_msg("second open: %s", msg);
	sl_store *both[2] = {&f->s, other};
	for (int i = 0; i < 2; i++)
		OK(both[i]->txn, sl__pg_exec(pq_of_js(both[i]->js)->pg, "SET lock_timeout = '2s'"));
}

/* Two claims in transactions open at once take two chunks, neither waits. */
static void claims_in_open_transactions_skip_each_others_chunk(void **state)
{
	store_fx *f = *state;
	sl_store o;
	open_other(f, &o);
	lease_job_with_chunks(f->s.js, "jc", SL_JOB_QUEUED, 2);
	sl_lease a, b, c;
	OK(f->s.txn, sl_txn_begin(f->s.txn));
	assert_int_equal(lease_reap_claim(f->s.js, "jc", "A", 60000, NULL, &a), 1);
	OK(o.txn, sl_txn_begin(o.txn));
	/* chunk 0 is locked by A's open claim: B gets chunk 1 at once */
	int rc = lease_reap_claim(o.js, "jc", "B", 60000, NULL, &b);
	if (rc < 0)
		fail_msg("claim B: %s (%s)", sl_error_name(rc), sl_txn_errmsg(o.txn));
	assert_int_equal(rc, 1);
	assert_int_equal(a.seq, 0);
	assert_int_equal(b.seq, 1);
	assert_int_equal(b.epoch, 1);
	OK(f->s.txn, sl_txn_commit(f->s.txn));
	OK(o.txn, sl_txn_commit(o.txn));
	/* both committed: nothing left to claim, and each holds its own */
	OK(o.txn, sl_txn_begin(o.txn));
	assert_int_equal(lease_reap_claim(o.js, "jc", "C", 60000, NULL, &c), 0);
	assert_int_equal(sl_js_lease_fence(o.js, &a), 0);
	assert_int_equal(sl_js_lease_fence(o.js, &b), 0);
	sl_txn_rollback(o.txn);
	sl_store_close(&o);
}

/* A holder whose lease ran out but that is committing (its fence passed,
   its transaction open) keeps the chunk: a claimer passes over it, and
   only takes it once that commit is over; the old holder's next commit is
   then refused. */
static void a_committing_holder_is_not_taken_over(void **state)
{
	store_fx *f = *state;
	sl_store o;
	open_other(f, &o);
	lease_job_with_chunks(f->s.js, "jf", SL_JOB_QUEUED, 1);
	sl_lease a, b;
	/* a lease already expired (a negative TTL: no waiting for the clock) */
	OK(f->s.txn, sl_txn_begin(f->s.txn));
	assert_int_equal(lease_reap_claim(f->s.js, "jf", "A", -1000, NULL, &a), 1);
	OK(f->s.txn, sl_txn_commit(f->s.txn));
	/* A commits its chunk: the fence passes (nobody claimed it) and locks the row */
	OK(f->s.txn, sl_txn_begin(f->s.txn));
	assert_int_equal(sl_js_lease_fence(f->s.js, &a), 0);
	/* meanwhile B finds nothing it can take, without waiting */
	OK(o.txn, sl_txn_begin(o.txn));
	int rc = lease_reap_claim(o.js, "jf", "B", 60000, NULL, &b);
	if (rc < 0)
		fail_msg("claim B: %s (%s)", sl_error_name(rc), sl_txn_errmsg(o.txn));
	assert_int_equal(rc, 0);
	OK(o.txn, sl_txn_commit(o.txn));
	OK(f->s.txn, sl_txn_commit(f->s.txn));
	/* A's commit is over (the chunk is still Processing here: the engine
	   marks it done in that transaction): B takes the expired lease over */
	OK(o.txn, sl_txn_begin(o.txn));
	assert_int_equal(lease_reap_claim(o.js, "jf", "B", 60000, NULL, &b), 1);
	assert_int_equal(b.seq, 0);
	assert_int_equal(b.epoch, 2);
	OK(o.txn, sl_txn_commit(o.txn));
	/* and A, fenced now, can commit nothing more */
	OK(f->s.txn, sl_txn_begin(f->s.txn));
	assert_int_equal(sl_js_lease_fence(f->s.js, &a), SL_LEASE_LOST);
	assert_non_null(strstr(sl_txn_errmsg(f->s.txn), "taken over"));
	sl_txn_rollback(f->s.txn);
	sl_store_close(&o);
}

/* A claimer whose claim is not committed yet holds the chunk's row: the old
   holder's fence waits for it and then, the epoch having moved, fails. Here
   the wait is bounded by lock_timeout instead: the fence is refused (a lock
   it could not get) rather than passing on the old epoch. */
static void a_fence_never_passes_under_an_open_takeover(void **state)
{
	store_fx *f = *state;
	sl_store o;
	open_other(f, &o);
	lease_job_with_chunks(f->s.js, "jt", SL_JOB_QUEUED, 1);
	sl_lease a, b;
	OK(f->s.txn, sl_txn_begin(f->s.txn));
	assert_int_equal(lease_reap_claim(f->s.js, "jt", "A", -1000, NULL, &a), 1);
	OK(f->s.txn, sl_txn_commit(f->s.txn));
	OK(o.txn, sl_txn_begin(o.txn));
	assert_int_equal(lease_reap_claim(o.js, "jt", "B", 60000, NULL, &b), 1);
	OK(f->s.txn, sl__pg_exec(pq_of_js(f->s.js)->pg, "SET lock_timeout = '50ms'"));
	OK(f->s.txn, sl_txn_begin(f->s.txn));
	int rc = sl_js_lease_fence(f->s.js, &a);
	assert_true(rc < 0); /* the lock timed out: not 0 */
	sl_txn_rollback(f->s.txn);
	OK(o.txn, sl_txn_commit(o.txn));
	OK(f->s.txn, sl_txn_begin(f->s.txn));
	assert_int_equal(sl_js_lease_fence(f->s.js, &a), SL_LEASE_LOST);
	assert_int_equal(sl_js_lease_fence(f->s.js, &b), 0);
	sl_txn_rollback(f->s.txn);
	sl_store_close(&o);
}

int main(void)
{
	void *st = (void *)postgres();
	if (!st)
		return 1;
#define T(fn) cmocka_unit_test_prestate_setup_teardown(fn, store_fx_setup, store_fx_teardown, st)
	const struct CMUnitTest tests[] = {
	    T(claims_in_open_transactions_skip_each_others_chunk),
	    T(a_committing_holder_is_not_taken_over),
	    T(a_fence_never_passes_under_an_open_takeover),
	};
#undef T
	return cmocka_run_group_tests_name("PostgreSQL leases, concurrent", tests, NULL, NULL);
}
