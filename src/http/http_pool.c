/*
 * Work off the event loop. libmicrohttpd runs a few event-loop threads
 * (epoll) that hold every connection, idle ones included, cheaply; nothing
 * on them may wait for a disk sync or the database's write lock, or every
 * connection of that thread waits too. A handler that may wait (a route
 * marked RF_SLOW in the route table, the end of every body: fdatasync and
 * the hand-over to the acceptor, a request's on_done) is run here instead:
 * the connection is suspended, a pool thread runs the handler with
 * r->off_loop set (so its answer is kept in r->held, not queued: queueing
 * is for the loop thread), then resumes the connection, and the router
 * queues the answer when libmicrohttpd calls it again.
 *
 * A body that comes faster than it can be stored (an upload into the
 * bucket, http_s3store.c) holds its connection suspended the same way
 * (http_pool_hold) until its writer has room.
 *
 * Event streams park here between events: the reader suspends its
 * connection and the ticker resumes every parked one each HTTP_PARK_MS, so
 * an idle stream costs no thread and no busy loop.
 *
 * At stop (s->stopping set first, so no new work is deferred or parked),
 * http_pool_quiesce resumes every parked stream and waits for the deferred
 * handlers, so that no connection is suspended when the daemon stops (an
 * API violation); http_pool_stop runs the remaining tasks and joins.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "http/http_reply.h"

typedef struct pool_task {
	struct pool_task *next;
	void (*fn)(http_srv *s, void *arg);
	void *arg;
} pool_task;

typedef struct parked {
	struct parked *next;
	struct MHD_Connection *c;
} parked;

static void *pool_main(void *arg)
{
	http_srv *s = arg;
	pthread_mutex_lock(&s->pool_mu);
	for (;;) {
		while (!s->pool_head && !s->pool_stop)
			pthread_cond_wait(&s->pool_cv, &s->pool_mu);
		pool_task *t = s->pool_head;
		if (!t)
			break; /* stop, and nothing left */
		s->pool_head = t->next;
		if (!s->pool_head)
			s->pool_tail = NULL;
		pthread_mutex_unlock(&s->pool_mu);
		t->fn(s, t->arg);
		free(t);
		pthread_mutex_lock(&s->pool_mu);
	}
	pthread_mutex_unlock(&s->pool_mu);
	return NULL;
}

static void resume_parked(http_srv *s, bool close)
{
	pthread_mutex_lock(&s->pool_mu);
	parked *p = s->parked;
	s->parked = NULL;
	if (close)
		s->park_closed = true;
	/* under the lock: a reader parks (suspends, then links) under it too,
	   so nothing is resumed before it is suspended */
	while (p) {
		parked *n = p->next;
		MHD_resume_connection(p->c);
		free(p);
		p = n;
	}
	pthread_mutex_unlock(&s->pool_mu);
}

static void *ticker_main(void *arg)
{
	http_srv *s = arg;
	pthread_mutex_lock(&s->pool_mu);
	while (!s->pool_stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += HTTP_PARK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->tick_cv, &s->pool_mu, &until);
		pthread_mutex_unlock(&s->pool_mu);
		resume_parked(s, false);
		pthread_mutex_lock(&s->pool_mu);
	}
	pthread_mutex_unlock(&s->pool_mu);
	return NULL;
}

int http_pool_start(http_srv *s, unsigned n)
{
	if (n > HTTP_MAX_POOL)
		n = HTTP_MAX_POOL;
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&s->pool_tid[i], NULL, pool_main, s) != 0) {
			http_log(s, "error", "cannot start a pool thread: %s", strerror(errno));
			return SL_NOMEM;
		}
		s->npool++;
	}
	if (pthread_create(&s->ticker, NULL, ticker_main, s) != 0) {
		http_log(s, "error", "cannot start the event stream ticker: %s", strerror(errno));
		return SL_NOMEM;
	}
	s->ticker_up = true;
	return 0;
}

/* Run fn(s, arg) on a pool thread; when no task can be made, here and now
   (a malloc failure must not lose an on_done). */
static void pool_run(http_srv *s, void (*fn)(http_srv *, void *), void *arg)
{
	pool_task *t = malloc(sizeof *t);
	pthread_mutex_lock(&s->pool_mu);
	bool up = s->npool && !s->pool_stop;
	if (t && up) {
		t->next = NULL;
		t->fn = fn;
		t->arg = arg;
		if (s->pool_tail)
			s->pool_tail->next = t;
		else
			s->pool_head = t;
		s->pool_tail = t;
		pthread_cond_signal(&s->pool_cv);
		t = NULL;
		up = false; /* queued */
	} else {
		up = true; /* run it inline */
	}
	pthread_mutex_unlock(&s->pool_mu);
	free(t);
	if (up)
		fn(s, arg);
}

static void run_deferred(http_srv *s, void *arg)
{
	http_req *r = arg;
	struct MHD_Connection *c = r->conn;
	http_end_fn fn = r->deferred;
	r->deferred = NULL;
	r->off_loop = true;
	if (fn(c, r) != MHD_YES)
		r->held_no = true;
	r->off_loop = false;
	if (!r->held && !r->held_no && !r->on_body)
		r->held_no =
		    true; /* a handler that did not answer: do not leave the client waiting */
	pthread_mutex_lock(&s->pool_mu);
	s->ndeferred--;
	pthread_cond_broadcast(&s->pool_idle_cv);
	MHD_resume_connection(c);
	pthread_mutex_unlock(&s->pool_mu);
}

bool http_pool_defer(http_srv *s, struct MHD_Connection *c, http_req *r, http_end_fn fn)
{
	pthread_mutex_lock(&s->pool_mu);
	bool ok = s->npool && !s->pool_stop && !atomic_load(&s->stopping);
	if (ok) {
		s->ndeferred++;
		MHD_suspend_connection(c);
	}
	pthread_mutex_unlock(&s->pool_mu);
	if (!ok)
		return false;
	r->conn = c;
	r->deferred = fn;
	pool_run(s, run_deferred, r);
	return true;
}

bool http_pool_hold(http_srv *s, struct MHD_Connection *c)
{
	pthread_mutex_lock(&s->pool_mu);
	bool ok = !atomic_load(&s->stopping);
	if (ok) {
		s->ndeferred++;
		MHD_suspend_connection(c);
	}
	pthread_mutex_unlock(&s->pool_mu);
	return ok;
}

void http_pool_unhold(http_srv *s, struct MHD_Connection *c)
{
	pthread_mutex_lock(&s->pool_mu);
	s->ndeferred--;
	pthread_cond_broadcast(&s->pool_idle_cv);
	MHD_resume_connection(c);
	pthread_mutex_unlock(&s->pool_mu);
}

static void run_done(http_srv *s, void *arg)
{
	http_req *r = arg;
	(void)s;
	r->on_done(r, r->done_ok);
	free(r);
}

void http_pool_done(http_srv *s, http_req *r)
{
	pool_run(s, run_done, r);
}

bool http_pool_park(http_srv *s, struct MHD_Connection *c)
{
	parked *p = malloc(sizeof *p);
	if (!p)
		return false;
	pthread_mutex_lock(&s->pool_mu);
	bool ok = !s->park_closed && s->ticker_up && !atomic_load(&s->stopping);
	if (ok) {
		MHD_suspend_connection(c);
		p->c = c;
		p->next = s->parked;
		s->parked = p;
		p = NULL;
	}
	pthread_mutex_unlock(&s->pool_mu);
	free(p);
	return ok;
}

void http_pool_quiesce(http_srv *s)
{
	resume_parked(s, true);
	pthread_mutex_lock(&s->pool_mu);
	while (s->ndeferred)
		pthread_cond_wait(&s->pool_idle_cv, &s->pool_mu);
	pthread_mutex_unlock(&s->pool_mu);
}

void http_pool_stop(http_srv *s)
{
	pthread_mutex_lock(&s->pool_mu);
	s->pool_stop = true;
	pthread_cond_broadcast(&s->pool_cv);
	pthread_cond_broadcast(&s->tick_cv);
	pthread_mutex_unlock(&s->pool_mu);
	for (unsigned i = 0; i < s->npool; i++)
		pthread_join(s->pool_tid[i], NULL);
	s->npool = 0;
	if (s->ticker_up)
		pthread_join(s->ticker, NULL);
	s->ticker_up = false;
	/* tasks queued after the threads left (none should be): run them here */
	for (pool_task *t = s->pool_head, *n; t; t = n) {
		n = t->next;
		t->fn(s, t->arg);
		free(t);
	}
	s->pool_head = s->pool_tail = NULL;
}
