/*
 * The shared default implementations of the optional ops of sink.h and
 * jobstore.h: what a backend gets when it leaves an op NULL (the inline
 * wrappers fall back to these), written once over the required ops, so no
 * backend writes them again and a wrapper never passes them through.
 */
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
                            int (*cb)(void *ctx, sl_str raw), void *ctx, uint64_t *n)
{
	(void)s, (void)job_id, (void)new_id, (void)header, (void)cb, (void)ctx;
	*n = 0;
	return SL_CONFIG;
}

int sl__js_def_refeed_header(sl_jobstore *s, const char *job_id, char **out, size_t *n)
{
	(void)s, (void)job_id;
	*out = NULL;
	*n = 0;
	return 0;
}

int sl__js_def_refeed_settle(sl_jobstore *s, const char *job_id)
{
	(void)s, (void)job_id;
	return 0;
}
