/*
 * The shared default implementations of the optional ops of sink.h and
 * jobstore.h: what a backend gets when it leaves an op NULL (the inline
 * wrappers fall back to these), written once over the required ops, so no
 * backend writes them again and a wrapper never passes them through.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "store/store.h"

/* Nothing deferred: every row was told by write(). */
int sl__sink_def_flush(sl_sink *k, const sl_sink_cb *cb)
{
	(void)k;
	(void)cb;
	return 0;
}

void sl__sink_def_discard(sl_sink *k)
{
	(void)k;
}

/* The rows are in the table already (append). */
int sl__sink_def_finish(sl_sink *k)
{
	(void)k;
	return 0;
}

/* A backend that cannot put an earlier record's row in place of a later
   one's refuses, as a setting would: the job cannot keep the earliest
   record of a key when its chunks commit out of file order (the engine
   names the sink and the record, chunk_write.c). Never reached by a sink
   without provenance: it cannot tell which record came first. */
int sl__sink_def_replace(sl_sink *k, const sl_sink_row *r)
{
	(void)k, (void)r;
	return SL_CONFIG;
}

/* The chunk's row, then the job's counters: the caller's transaction makes
   the two one step. A backend overrides it when one statement can do both. */
int sl__js_def_chunk_commit(sl_jobstore *s, const char *job_id, const sl_chunk *c,
                            const sl_job_counts *d)
{
	int rc = sl_js_chunk_update(s, job_id, c);
	return rc < 0 ? rc : sl_js_counts_add(s, job_id, d);
}

int sl__js_def_refeed_claim(sl_jobstore *s, const char *job_id, const char *new_id, sl_str header,
                            sl_refeed_input *out)
{
	(void)s, (void)job_id, (void)new_id, (void)header;
	memset(out, 0, sizeof *out);
	return SL_CONFIG;
}

int sl__js_def_refeed_input(sl_jobstore *s, const char *job_id, sl_refeed_input *out)
{
	(void)s, (void)job_id;
	memset(out, 0, sizeof *out);
	return 0;
}

int sl__js_def_refeed_read(sl_jobstore *s, const char *job_id, uint64_t off, size_t max,
                           int (*cb)(void *ctx, uint64_t off, sl_str raw), void *ctx)
{
	(void)s, (void)job_id, (void)off, (void)max, (void)cb, (void)ctx;
	return 0; /* no refeed job here: no rows */
}

int sl__refeed_fp_begin(sl_refeed_fp *f, sl_str header, sl_refeed_input *out)
{
	XXH3_state_t *h = XXH3_createState();
	f->state = h;
	if (!h || XXH3_64bits_reset(h) != XXH_OK)
		return SL_NOMEM;
	if (header.n)
		XXH3_64bits_update(h, header.p, header.n);
	out->bytes = header.n;
	out->rows = 0;
	return 0;
}

void sl__refeed_fp_row(sl_refeed_fp *f, sl_refeed_input *out, const void *raw, size_t n)
{
	if (n)
		XXH3_64bits_update(f->state, raw, n);
	XXH3_64bits_update(f->state, "\n", 1);
	out->bytes += n + 1;
	out->rows++;
}

void sl__refeed_fp_end(sl_refeed_fp *f, sl_refeed_input *out)
{
	if (f->state)
		out->hash = XXH3_64bits_digest(f->state);
	XXH3_freeState(f->state);
	f->state = NULL;
}

int sl__js_def_refeed_settle(sl_jobstore *s, const char *job_id)
{
	(void)s, (void)job_id;
	return 0;
}

/* No leader ops: nobody leads this store, and nothing is reaped (its
   claims are all there is). */
int sl__js_def_leader_acquire(sl_jobstore *s, const char *owner, int64_t ttl_ms,
                              sl_owner_dead_fn dead, sl_leader *l)
{
	(void)s, (void)owner, (void)ttl_ms, (void)dead;
	memset(l, 0, sizeof *l);
	return 0;
}

int sl__js_def_leader_fence(sl_jobstore *s, sl_leader *l, int64_t ttl_ms)
{
	(void)s, (void)l, (void)ttl_ms;
	return SL_TERM_LOST;
}

int sl__js_def_leader_release(sl_jobstore *s, const sl_leader *l)
{
	(void)s, (void)l;
	return 0;
}

int sl__js_def_leader_get(sl_jobstore *s, sl_leader *l)
{
	(void)s;
	memset(l, 0, sizeof *l);
	return 0;
}

int sl__js_def_chunks_reap(sl_jobstore *s, int64_t now_ms, sl_owner_dead_fn dead, int max_attempts,
                           int64_t backoff_ms, uint32_t limit, uint64_t *n)
{
	(void)s, (void)now_ms, (void)dead, (void)max_attempts, (void)backoff_ms, (void)limit;
	*n = 0;
	return 0;
}

int sl__js_def_chunks_due(sl_jobstore *s, int64_t now_ms, sl_owner_dead_fn dead, uint64_t *n)
{
	(void)s, (void)now_ms, (void)dead;
	*n = 0;
	return 0;
}

int sl__js_def_idle_wait(sl_jobstore *s, int64_t timeout_ms)
{
	(void)s;
	if (timeout_ms > 0) {
		struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

void sl__js_reap_message(char *out, size_t n, uint32_t attempts, const char *owner,
                         int max_attempts, int64_t wait_ms)
{
	char when[64] = "";
	if (wait_ms > 0)
		snprintf(when, sizeof when, ", not before %lld ms from now", (long long)wait_ms);
	snprintf(out, n,
	         "attempt %u: the lease of %s ran out (or its process died) before the chunk "
	         "committed; queued again%s%s",
	         attempts, owner && owner[0] ? owner : "(nobody)",
	         max_attempts > 0 && attempts >= (uint32_t)max_attempts ? ", its attempts used up"
	                                                                : "",
	         when);
}

int64_t sl__js_backoff_ms(int64_t base_ms, uint32_t attempts, int max_attempts)
{
	const int64_t cap = 5 * 60 * 1000;
	if (base_ms <= 0 || attempts <= 1 ||
	    (max_attempts > 0 && attempts >= (uint32_t)max_attempts))
		return 0;
	unsigned shift = attempts - 2;
	int64_t d = shift >= 20 ? cap : base_ms << shift;
	if (d > cap || d < 0)
		d = cap;
	unsigned r = 0;
	if (getrandom(&r, sizeof r, 0) != sizeof r)
		r = (unsigned)getpid();
	/* [0.5, 1): spread, never later than the exponential's own value */
	return d / 2 + (int64_t)((double)(d / 2) * (double)(r % 10000) / 10000.0);
}
