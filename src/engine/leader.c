/*
 * The leader candidate (sluice/ingest.h sl_candidate; docs/scaling.md): one
 * thread per process that runs chunks, with its own store connection. Each
 * beat it either takes the store's leader lease (when nobody holds it, its
 * holder's lease ran out, or the holder is a dead process of this host) or,
 * while it leads, runs one leader-only transaction: the fence (term and
 * owner still ours; it renews the lease), the reaper (chunks whose lease
 * ran out are queued again with a backoff), and retention (rejects and
 * events of jobs finished longer ago than retention_ms, once a minute).
 * When the fence is refused (TERM_LOST: this process was paused past its
 * lease and another took over) the transaction rolls back whole, the
 * process says so on stderr and becomes a candidate again.
 *
 * Why every chunk runner is a candidate: chunks whose lease ran out are
 * queued again only by the leader, so wherever chunks run a leader must
 * exist; with one candidate per process there is one as long as any
 * process runs.
 *
 * Threads: the candidate's thread owns its connection and state; the
 * counters it shares with sl_candidate_stats are under its mutex.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "engine/ingest_int.h"

#define REAP_LIMIT         256         /* chunks requeued a beat at most */
#define RETENTION_EVERY_MS (60 * 1000) /* how often retention runs while leading */
#define CANDIDATE_WAIT_MS  500         /* its connection's busy or lock timeout */

struct sl_candidate {
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	sl_jobstore *st; /* NULL while the store cannot be opened: each beat tries */
	char *db;
	int wait_ms;
	sl_leader_opts o;
	int64_t ttl_ms;
	char owner[160];
	sl_leader me; /* term 0: not leading */
	int64_t gc_at_ms;
	sl_leader_stats stats;
};

/* The time of the next beat: a third of the TTL, at most 1 s, at least
   5 ms, minus up to a tenth at random (candidates started together do not
   beat together). */
static void next_beat(const sl_candidate *c, struct timespec *ts)
{
	int64_t ms = c->ttl_ms / 3;
	unsigned r = 0;
	if (ms > 1000)
		ms = 1000;
	if (ms < 5)
		ms = 5;
	if (getrandom(&r, sizeof r, 0) == sizeof r)
		ms -= (int64_t)(r % 1000) * ms / 10000;
	clock_gettime(CLOCK_REALTIME, ts);
	int64_t ns = ts->tv_nsec + ms * 1000000;
	ts->tv_sec += ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
}

/* The leader's work, in one transaction that the fence opens. */
static int lead(sl_candidate *c, uint64_t *reaped, uint64_t *gc_jobs)
{
	sl_txn *t = sl_js_txn(c->st);
	int64_t now = sl_now_ms();
	int max = c->o.max_attempts > 0 ? c->o.max_attempts : SL_MAX_ATTEMPTS;
	int64_t base = c->o.backoff_ms ? c->o.backoff_ms : SL_BACKOFF_MS;
	int rc = sl_txn_begin(t);
	if (rc == 0)
		rc = sl_js_leader_fence(c->st, &c->me, c->ttl_ms);
	if (rc == 0)
		rc = sl_js_chunks_reap(c->st, now, sl__lease_owner_dead, max, base, REAP_LIMIT,
		                       reaped);
	if (rc == 0 && c->o.retention_ms > 0 && now >= c->gc_at_ms)
		rc = sl_js_gc(c->st, now - c->o.retention_ms, gc_jobs);
	if (rc == 0)
		rc = sl_txn_commit(t);
	if (rc < 0)
		sl_txn_rollback(t);
	else if (c->o.retention_ms > 0 && now >= c->gc_at_ms)
		c->gc_at_ms = now + RETENTION_EVERY_MS;
	return rc;
}

static void beat(sl_candidate *c)
{
	if (!c->st) {
		/* the database was not there (not created yet, down, newer than
		   this build): a candidate of a long-running process waits for it
		   rather than ending the process; the process's own use of the
		   store says what is wrong (a service's /healthz/ready) */
		char msg[256];
		if (sl_jobstore_open(c->db, c->wait_ms, &c->st, msg, sizeof msg) < 0) {
			c->st = NULL;
			return;
		}
		/* the reaper locks expired chunks' rows: a leader paused with
		   them locked must not keep them from the next leader */
		(void)sl__lease_hold_limit(sl_js_txn(c->st), c->ttl_ms);
	}
	sl_txn *t = sl_js_txn(c->st);
	uint64_t reaped = 0, gc_jobs = 0;
	if (!c->me.term) {
		sl_leader l;
		int rc = sl_txn_begin(t);
		if (rc == 0)
			rc = sl_js_leader_acquire(c->st, c->owner, c->ttl_ms, sl__lease_owner_dead,
			                          &l);
		if (rc == 1 && sl_txn_commit(t) == 0) {
			pthread_mutex_lock(&c->mu);
			if (l.term != c->stats.term)
				c->stats.takeovers++;
			c->me = l;
			c->stats.leading = true;
			c->stats.term = l.term;
			c->gc_at_ms = 0;
			pthread_mutex_unlock(&c->mu);
		} else {
			sl_txn_rollback(t); /* led by another, or busy: the next beat looks again */
			return;
		}
	}
	int rc = lead(c, &reaped, &gc_jobs);
	pthread_mutex_lock(&c->mu);
	if (rc == 0) {
		c->stats.renewals++;
		c->stats.reaped += reaped;
		c->stats.gc_jobs += gc_jobs;
	} else if (rc == SL_TERM_LOST) {
		c->stats.refused++;
		c->stats.leading = false;
		c->stats.term = 0;
	}
	pthread_mutex_unlock(&c->mu);
	if (rc == SL_TERM_LOST) {
		/* this process was paused past its lease: nothing of the beat was
		   written; say so, and be a candidate again */
		fprintf(stderr, "sluice: leader: %s: %s; this beat's writes were refused\n",
		        sl__error_report(SL_TERM_LOST), sl_js_errmsg(c->st));
		memset(&c->me, 0, sizeof c->me);
	}
	/* other failures (a busy database, a restart): the next beat tries
	   again, and the lease runs out if they last */
}

static void *candidate_main(void *arg)
{
	sl_candidate *c = arg;
	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		struct timespec ts;
		next_beat(c, &ts); /* the first beat was sl_candidate_start's */
		while (!c->stop && pthread_cond_timedwait(&c->cv, &c->mu, &ts) == 0)
			;
		if (c->stop)
			break;
		pthread_mutex_unlock(&c->mu);
		beat(c);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	if (c->me.term) {
		/* step down: the next candidate need not wait for the lease */
		sl_txn *t = sl_js_txn(c->st);
		if (sl_txn_begin(t) == 0 && sl_js_leader_release(c->st, &c->me) == 0 &&
		    sl_txn_commit(t) == 0)
			return NULL;
		sl_txn_rollback(t);
	}
	return NULL;
}

int sl_candidate_start(const char *db, int busy_timeout_ms, int64_t ttl_ms, const char *name,
                       const sl_leader_opts *o, sl_candidate **out, char *msg, size_t msglen)
{
	sl_candidate *c = calloc(1, sizeof *c);
	*out = NULL;
	if (!c)
		return SL_NOMEM;
	/* a short wait for locks: a busy beat is tried again at the next one,
	   and a process that starts while another holds the write lock is
	   not held up by its candidate */
	int wait_ms = busy_timeout_ms > 0 && busy_timeout_ms < CANDIDATE_WAIT_MS
	                  ? busy_timeout_ms
	                  : CANDIDATE_WAIT_MS;
	c->wait_ms = wait_ms;
	if (!(c->db = strdup(db ? db : "sluice.db"))) {
		free(c);
		return SL_NOMEM;
	}
	c->ttl_ms = ttl_ms > 0 ? ttl_ms : SL_LEASE_TTL_MS;
	if (sl_jobstore_open(c->db, wait_ms, &c->st, msg, msglen) < 0)
		c->st = NULL; /* the beats try again */
	else
		(void)sl__lease_hold_limit(sl_js_txn(c->st), c->ttl_ms); /* as in beat() */
	if (o)
		c->o = *o;
	sl__lease_owner(name && *name ? name : "sluice", c->owner, sizeof c->owner);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	/* the first beat before the caller claims anything: chunks a dead
	   process held are queued again first, so a resume after kill -9
	   claims them in file order as it did before the kill */
	beat(c);
	if (pthread_create(&c->tid, NULL, candidate_main, c) != 0) {
		sl_js_close(c->st);
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
		free(c->db);
		free(c);
		snprintf(msg, msglen, "cannot start the leader candidate's thread");
		return SL_NOMEM;
	}
	*out = c;
	return 0;
}

void sl_candidate_stats(sl_candidate *c, sl_leader_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	*out = c->stats;
	pthread_mutex_unlock(&c->mu);
}

void sl_candidate_stop(sl_candidate *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->tid, NULL);
	sl_js_close(c->st);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c->db);
	free(c);
}
