/*
 * Leases as the engine holds them: who this process is (an owner id that
 * says host, pid and the pid's start time, so a lease of a process of this
 * host that died, kill -9 included, is void at once instead of after its
 * TTL), claiming a chunk in a transaction of its own, giving it back, and
 * the heartbeat: a thread with its own store connection that renews every
 * lease the process holds, every third of the TTL.
 *
 * Threads: the heartbeat's set of held leases is guarded by its mutex;
 * the runners add and drop leases, the heartbeat renews them. The
 * process-wide counters of sl_lease_stats_get are relaxed atomics (a
 * scrape may see one a moment before another). Nothing else is shared.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "engine/ingest_int.h"

/* The start time of process `pid` (field 22 of /proc/PID/stat), 0 when it
   does not exist or is a zombie (killed, not reaped yet: dead all the same). */
static unsigned long long proc_start(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return 0;
	p += 2;
	/* fields 3.. follow: state is 3, starttime is 22 */
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtoull(p, NULL, 10) : 0;
}

static void host_name(char *out, size_t n)
{
	if (gethostname(out, n) != 0)
		snprintf(out, n, "localhost");
	out[n - 1] = 0;
	for (char *p = out; *p; p++)
		if (*p == '/' || *p == ' ')
			*p = '_';
}

/* A connection that works under leases of ttl_ms: a transaction of it left
   idle for longer (its process paused mid-transaction) is ended by the
   database, so the row locks it holds do not outlive its leases and block
   their takeover (sl_txn_hold_limit). Never below SL_HOLD_MIN_MS: a live
   writer may wait inside its chunk's transaction for the readers' next
   batch, and ending its session then costs a retry of the chunk. */
int sl__lease_hold_limit(sl_txn *t, int64_t ttl_ms)
{
	int64_t ms = ttl_ms > SL_HOLD_MIN_MS ? ttl_ms : SL_HOLD_MIN_MS;
	return sl_txn_hold_limit(t, ms > INT32_MAX ? INT32_MAX : (int)ms);
}

void sl__lease_owner(const char *name, char *out, size_t n)
{
	char host[64];
	unsigned r = 0;
	host_name(host, sizeof host);
	if (getrandom(&r, sizeof r, 0) != sizeof r)
		r = (unsigned)time(NULL);
	/* NAME HOST PID START RANDOM: the random part tells two runs of one
	   process apart (a worker thread's second job, a service's runners) */
	snprintf(out, n, "%.64s %s %d %llu %08x", name && *name ? name : "sluice", host,
	         (int)getpid(), proc_start(getpid()), r);
}

bool sl__lease_owner_dead(const char *owner)
{
	char name[80], host[64], mine[64];
	int pid;
	unsigned long long start;
	if (sscanf(owner, "%79s %63s %d %llu", name, host, &pid, &start) != 4 || pid <= 0)
		return false; /* not ours to judge */
	host_name(mine, sizeof mine);
	if (strcmp(host, mine))
		return false; /* another machine: only its lease's expiry tells */
	if (pid == (int)getpid())
		return false;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	unsigned long long now = proc_start(pid);
	return now == 0 || now != start;
}

/* --- the process's lease counters (sl_lease_stats_get) --------------------- */

static const double claim_le[SL_CLAIM_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                  0.025,  0.05,  0.1,    0.25,  1};
static atomic_uint_fast64_t held_n, claims_n, renewals_n, renewals_lost_n, claim_us;
static atomic_uint_fast64_t claim_hist[SL_CLAIM_BUCKETS + 1];

static void claim_observe(double seconds)
{
	size_t i = 0;
	while (i < SL_CLAIM_BUCKETS && seconds > claim_le[i])
		i++;
	atomic_fetch_add_explicit(&claim_hist[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&claim_us, (uint_fast64_t)(seconds * 1e6), memory_order_relaxed);
	atomic_fetch_add_explicit(&claims_n, 1, memory_order_relaxed);
}

void sl_lease_stats_get(sl_lease_stats *out)
{
	memset(out, 0, sizeof *out);
	out->held = atomic_load_explicit(&held_n, memory_order_relaxed);
	out->claims = atomic_load_explicit(&claims_n, memory_order_relaxed);
	out->renewals = atomic_load_explicit(&renewals_n, memory_order_relaxed);
	out->renewals_lost = atomic_load_explicit(&renewals_lost_n, memory_order_relaxed);
	memcpy(out->claim_le, claim_le, sizeof claim_le);
	for (size_t i = 0; i <= SL_CLAIM_BUCKETS; i++)
		out->claim_count[i] = atomic_load_explicit(&claim_hist[i], memory_order_relaxed);
	out->claim_sum_s = (double)atomic_load_explicit(&claim_us, memory_order_relaxed) / 1e6;
}

/* Claim a chunk of `job_id` (NULL: any job) in a transaction of its own,
   with the start event; retried when the database is busy. */
int sl__lease_claim(ingest *g, const char *job_id, sl_lease *l)
{
	int rc = 0;
	for (int attempt = 1; attempt <= 5; attempt++) {
		double t0 = sl_now();
		rc = sl_txn_begin(g->txn);
		if (rc == 0)
			rc = sl_js_chunk_claim(g->st, job_id, g->owner, g->ttl_ms, l);
		if (rc == 1) {
			sl_event ev = {l->job_id, l->seq, "chunk_start", 0, 0, 0, 0, l->owner};
			rc = sl_js_event_insert(g->st, &ev);
			if (rc == 0 && (rc = sl_txn_commit(g->txn)) == 0) {
				claim_observe(sl_now() - t0);
				return 1;
			}
		} else if (rc == 0) {
			sl_txn_rollback(g->txn);
			return 0;
		}
		sl_txn_rollback(g->txn);
		if (sl_error_class(rc) != SL_CLASS_RETRY)
			break;
		sl__ingest_backoff(attempt);
	}
	return rc;
}

void sl__lease_give_back(ingest *g, const sl_lease *l)
{
	if (!g->st || !l->epoch)
		return;
	sl__heart_drop(g->hb, l);
	/* best effort: a lease not given back runs out by itself */
	if (sl_txn_begin(g->txn) == 0 && sl_js_lease_release(g->st, l) == 0 &&
	    sl_txn_commit(g->txn) == 0)
		return;
	sl_txn_rollback(g->txn);
}

/* --- the heartbeat ---------------------------------------------------------- */

#define HEART_MAX 256 /* leases one process holds at once: threads x slots */

struct heart {
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	sl_jobstore *st;
	int64_t ttl_ms;
	sl_lease held[HEART_MAX];
	size_t n;
	uint64_t renewals, lost;
};

static void *heart_main(void *arg)
{
	heart *h = arg;
	sl_lease mine[HEART_MAX];
	pthread_mutex_lock(&h->mu);
	while (!h->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t ns = ts.tv_nsec + (h->ttl_ms / 3) * 1000000;
		ts.tv_sec += ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		pthread_cond_timedwait(&h->cv, &h->mu, &ts);
		if (h->stop || !h->n)
			continue;
		size_t n = h->n;
		memcpy(mine, h->held, n * sizeof *mine);
		pthread_mutex_unlock(&h->mu);
		/* one transaction for all: the write lock once per beat */
		int rc = sl_txn_begin(h->st->txn);
		bool lost[HEART_MAX] = {0};
		for (size_t i = 0; rc == 0 && i < n; i++) {
			int r = sl_js_lease_renew(h->st, &mine[i], h->ttl_ms);
			if (r == SL_LEASE_LOST)
				lost[i] =
				    true; /* the fence refuses its commit; nothing to do here */
			else if (r < 0)
				rc = r;
		}
		if (rc == 0)
			rc = sl_txn_commit(h->st->txn);
		if (rc < 0)
			sl_txn_rollback(h->st->txn); /* busy: the next beat tries again */
		pthread_mutex_lock(&h->mu);
		if (rc == 0) {
			h->renewals += n;
			for (size_t i = 0; i < n; i++)
				h->lost += lost[i];
			atomic_fetch_add_explicit(&renewals_n, n, memory_order_relaxed);
			for (size_t i = 0; i < n; i++)
				if (lost[i])
					atomic_fetch_add_explicit(&renewals_lost_n, 1,
					                          memory_order_relaxed);
		}
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

int sl__heart_start(const char *db, int busy_timeout_ms, int64_t ttl_ms, heart **out)
{
	heart *h = calloc(1, sizeof *h);
	*out = NULL;
	if (!h)
		return SL_NOMEM;
	char msg[512];
	int rc = sl_jobstore_open(db, busy_timeout_ms, &h->st, msg, sizeof msg);
	if (rc < 0) {
		free(h);
		return rc;
	}
	h->ttl_ms = ttl_ms;
	if ((rc = sl__lease_hold_limit(sl_js_txn(h->st), ttl_ms)) < 0) {
		sl_js_close(h->st);
		free(h);
		return rc;
	}
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	if (pthread_create(&h->tid, NULL, heart_main, h) != 0) {
		sl_js_close(h->st);
		pthread_mutex_destroy(&h->mu);
		pthread_cond_destroy(&h->cv);
		free(h);
		return SL_NOMEM;
	}
	*out = h;
	return 0;
}

void sl__heart_stop(heart *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->tid, NULL);
	/* leases still listed are held no more by this process */
	atomic_fetch_sub_explicit(&held_n, h->n, memory_order_relaxed);
	sl_js_close(h->st);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h);
}

static bool same_lease(const sl_lease *a, const sl_lease *b)
{
	return a->seq == b->seq && a->epoch == b->epoch && !strcmp(a->job_id, b->job_id);
}

int sl__heart_add(heart *h, const sl_lease *l)
{
	int rc = 0;
	if (!h)
		return 0;
	pthread_mutex_lock(&h->mu);
	if (h->n < HEART_MAX) {
		h->held[h->n++] = *l;
		atomic_fetch_add_explicit(&held_n, 1, memory_order_relaxed);
	} else {
		rc = SL_LIMIT;
	}
	pthread_mutex_unlock(&h->mu);
	return rc;
}

void sl__heart_drop(heart *h, const sl_lease *l)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->n; i++) {
		if (same_lease(&h->held[i], l)) {
			h->held[i] = h->held[--h->n];
			atomic_fetch_sub_explicit(&held_n, 1, memory_order_relaxed);
			break;
		}
	}
	pthread_mutex_unlock(&h->mu);
}
