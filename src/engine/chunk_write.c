/*
 * Writing a chunk: the writer takes a chunk's batches and commits, in ONE
 * transaction, its rows (through the sink, which finds the duplicates), its
 * rejects, its status, the job's counters (as increments) and its end
 * event: the checkpoint. Transient faults roll the chunk back and retry it
 * with backoff; the error budget and a changed file stop the job.
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "engine/ingest_int.h"

/* --- writing: one chunk, one transaction ----------------------------------- */

/*
 * The writer gathers up to GROUP_ROWS rows of a keyed table's chunk and
 * hands them to the sink in one write (which the SQLite sink sorts into a
 * run: store_sqlite_sink.c); without a key, each batch is written as it
 * comes.
 */
#define GROUP_ROWS 16384

struct chunk_tx {
	const chunk_handles *h;
	ingest *g; /* the run: settings, batch pool, progress */
	sl_chunk *c;
	uint64_t read, loaded, rejected, dup_ignored, padded, truncated;
	uint64_t updated; /* of the loaded: updates of the row of their key */
	uint64_t displaced; /* rows of committed chunks this one's earlier records displaced */
	uint64_t by_code[SL_ERROR_COUNT];
	int err; /* first failure of a store call */
	batch *ghead, *gtail; /* the group: batches not yet written */
	size_t grows;
	sl_sink_row *rows; /* the group's good rows, for the sink */
	size_t rows_cap;
	uint64_t end_offset;
};

void sl__ingest_progress(ingest *g, const chunk_tx *tx, uint64_t end_offset)
{
	if (!g->o->progress)
		return;
	sl_job *l = &g->live;
	*l = g->job; /* shallow: strings are the job's */
	l->rows_read += tx ? tx->read : 0;
	l->rows_loaded += tx ? tx->loaded : 0;
	l->rows_rejected += tx ? tx->rejected : 0;
	l->rows_inserted += tx ? tx->loaded - tx->updated : 0;
	l->rows_updated += tx ? tx->updated : 0;
	if (tx) {
		/* every record of the chunk read: its bytes to its end (what
		   follows the last record, e.g. its line end, counts too) */
		uint64_t upto = end_offset > tx->c->offset ? end_offset - tx->c->offset : 0;
		if (tx->c->records_planned && tx->read >= tx->c->records_planned)
			upto = tx->c->length;
		l->bytes_done += upto;
	}
	sl_ingest_progress p = {l, sl_now() - g->t0, NULL, g->rows_planned, g->job.rows_read};
	g->o->progress(g->o->progress_ctx, &p);
}

/* A chunk is done: say so once, with the job as committed. */
void sl__ingest_progress_chunk(ingest *g, const sl_chunk *c)
{
	if (!g->o->progress)
		return;
	sl_ingest_progress p = {&g->job, sl_now() - g->t0, c, g->rows_planned, g->job.rows_read};
	g->o->progress(g->o->progress_ctx, &p);
}

static const char dup_reject_msg[] = "key already loaded (by this file or an earlier job)";
static const char dup_ignore_msg[] = "key already loaded (ignored: on_duplicate is ignore)";

static void mark_dup(chunk_tx *tx, entry *e)
{
	const sl_schema *sc = tx->g->schema;
	bool ign = sc->on_duplicate == SL_DUP_IGNORE;
	e->code = SL_DUP_KEY;
	e->column = (int)sc->key[0];
	e->msg = ign ? sl_str_make(dup_ignore_msg, sizeof dup_ignore_msg - 1)
		     : sl_str_make(dup_reject_msg, sizeof dup_reject_msg - 1);
	tx->dup_ignored += ign;
}

/* "key reference=R1 already loaded by job j... (ignored: ...)" */
static void dup_msg(const sl_schema *sc, const sl_value *vals, const char *owner, uint64_t orec,
                    const char *self, char *out, size_t n)
{
	size_t o = (size_t)snprintf(out, n, "key ");
	for (size_t k = 0; k < sc->nkey && o < n; k++) {
		const sl_value *v = &vals[sc->key[k]];
		int w;
		if (v->kind == SL_VALUE_INT)
			w = snprintf(out + o, n - o, "%s%s=%lld", k ? ", " : "",
			             sc->cols[sc->key[k]].name, (long long)v->i);
		else
			w = snprintf(out + o, n - o, "%s%s=%.*s%s", k ? ", " : "",
			             sc->cols[sc->key[k]].name, (int)(v->s.n > 80 ? 80 : v->s.n),
			             v->s.p, v->s.n > 80 ? "..." : "");
		o += w > 0 ? (size_t)w : 0;
	}
	if (o >= n)
		return;
	if (!owner[0])
		snprintf(out + o, n - o, " already loaded");
	else if (!strcmp(owner, self) && !orec) /* a backend without provenance */
		snprintf(out + o, n - o, " already loaded by an earlier row of this file%s",
		         sc->on_duplicate == SL_DUP_IGNORE ? " (ignored: on_duplicate is ignore)" : "");
	else if (!strcmp(owner, self)) /* no id: the same file gives the same messages */
		snprintf(out + o, n - o, " already loaded by record %llu, an earlier row of this file%s",
		         (unsigned long long)orec,
		         sc->on_duplicate == SL_DUP_IGNORE ? " (ignored: on_duplicate is ignore)"
		                                           : "");
	else if (orec) /* rows of an older sluice have no record */
		snprintf(out + o, n - o, " already loaded by job %s (record %llu)%s", owner,
		         (unsigned long long)orec,
		         sc->on_duplicate == SL_DUP_IGNORE ? " (ignored: on_duplicate is ignore)"
		                                           : "");
	else
		snprintf(out + o, n - o, " already loaded by job %s%s", owner,
		         sc->on_duplicate == SL_DUP_IGNORE ? " (ignored: on_duplicate is ignore)"
		                                           : "");
}

static int row_dup(void *ctx, const sl_sink_row *r);
static int row_refused(void *ctx, const sl_sink_row *r, int code, const char *msg);

/* The sink wrote n more rows: count them; a long merge shows progress. */
static int rows_loaded(void *ctx, size_t n)
{
	chunk_tx *tx = ctx;
	uint64_t before = tx->loaded;
	tx->loaded += n;
	if (before / 16384 != tx->loaded / 16384)
		sl__ingest_progress(tx->g, tx, tx->end_offset);
	return 0;
}

/* Of the rows the sink wrote, n were updates (on_duplicate: update). */
static int rows_updated(void *ctx, size_t n)
{
	((chunk_tx *)ctx)->updated += n;
	return 0;
}

/* Write the group: good rows to the sink, then every reject, then free it. */
static int flush_group(chunk_tx *tx)
{
	ingest *g = tx->g;
	const sl_schema *sc = g->schema;
	size_t n = 0;
	if (tx->grows > tx->rows_cap) {
		sl_sink_row *o = realloc(tx->rows, tx->grows * sizeof *o);
		if (!o)
			return tx->err = SL_NOMEM;
		tx->rows = o;
		tx->rows_cap = tx->grows;
	}
	for (batch *b = tx->ghead; b; b = b->next)
		for (size_t i = 0; i < b->n; i++) {
			const entry *e = &b->e[i];
			if (e->code == 0)
				tx->rows[n++] = (sl_sink_row){e->record, e->line, e->offset, e->raw,
				                              &b->vals[e->vals]};
		}
	sl_sink_cb cb = {rows_loaded, row_dup, tx, row_refused, rows_updated};
	tx->err = sl_sink_write(tx->h->sink, tx->rows, n, &cb);
	for (batch *b = tx->ghead; b && tx->err == 0; b = b->next) {
		for (size_t i = 0; i < b->n && tx->err == 0; i++) {
			entry *e = &b->e[i];
			tx->read++;
			tx->padded += e->shape == SHAPE_PADDED;
			tx->truncated += e->shape == SHAPE_TRUNCATED;
			if (e->code == 0)
				continue; /* counted by the sink (rows_loaded, row_dup) */
			tx->rejected++;
			int k = sl_error_index(e->code);
			if (k >= 0)
				tx->by_code[k]++;
			sl_reject r = {e->record, e->line, e->offset, e->column,
			               e->code,   e->msg,  e->raw, {0}, {0}};
			sl__multi_place(g, tx->c->seq, &r);
			const char *col = e->column >= 0 ? sc->cols[e->column].name : NULL;
			if (tx->h->js)
				tx->err = sl_js_reject_insert(tx->h->js, tx->h->job->id, tx->c->seq,
				                              &r, col);
			else if (g->o->reject && g->o->reject(g->o->reject_ctx, tx->c->seq, &r, col) != 0)
				tx->err = SL_INTERNAL; /* the caller stopped the listing */
		}
	}
	while (tx->ghead) {
		batch *b = tx->ghead;
		tx->ghead = b->next;
		sl__ingest_batch_put(g, b);
	}
	tx->gtail = NULL;
	tx->grows = 0;
	if (tx->err == 0)
		sl__ingest_progress(g, tx, tx->end_offset);
	return tx->err;
}

static int apply_batch(void *ctx, batch *b)
{
	chunk_tx *tx = ctx;
	b->next = NULL;
	if (tx->gtail)
		tx->gtail->next = b;
	else
		tx->ghead = b;
	tx->gtail = b;
	tx->grows += b->n;
	tx->end_offset = b->end_offset;
	/* A group is at most half a slot's queue, so the worker keeps
	   producing while the writer inserts (two cores stay busy). */
	return tx->grows >= (tx->g->schema->nkey ? GROUP_ROWS : 1) ? flush_group(tx) : 0;
}

/*
 * Find record `want` in chunk c (re-read from the file): its line, offset
 * and raw bytes (*raw malloc'ed). Only for a row displaced from a chunk
 * committed earlier, which is rare: a key met again across chunks that
 * committed out of file order.
 */
static int find_record(const chunk_handles *h, const sl_chunk *c, uint64_t want, entry *e,
                       char **raw)
{
	sl_csv_reader *rd = NULL;
	sl_source_reader *in = NULL;
	sl_csv_record rec;
	sl_buf at;
	ingest *g = h->parse->g;
	int rc;
	*raw = NULL;
	/* as a worker reads the chunk: the run's spool, else the source from
	   the chunk's access point */
	sl_buf_init(&at, 1u << 20);
	if (g->spool)
		rc = sl_source_open_range(h->src, c->offset, c->length, NULL, 0, &in);
	else if ((rc = sl__ingest_point(g, c->seq, &at)) == 0)
		rc = sl_source_open_range(h->src, c->offset, c->length, at.p, at.len, &in);
	sl_buf_free(&at);
	if (rc == 0)
		rc = sl_csv_reader_new(&g->d, SL_CSV_SCAN_AUTO, sl_source_read_fn, in, 1u << 16, &rd);
	if (rc < 0) {
		sl_source_reader_close(in);
		return rc;
	}
	if (c->seq > 0 || !g->d.header) {
		sl_csv_pos pos = {c->offset, c->first_record, c->first_line};
		sl_csv_parser_start_at(sl_csv_reader_parser(rd), &pos, g->expected);
	}
	while ((rc = sl_csv_reader_next(rd, &rec)) == 1) {
		if (rec.is_header || rec.record != want)
			continue;
		if (!(*raw = malloc(rec.raw.n + 1))) {
			rc = SL_NOMEM;
			break;
		}
		memcpy(*raw, rec.raw.p, rec.raw.n);
		*e = (entry){.record = rec.record, .line = rec.line, .offset = rec.offset};
		e->raw = sl_str_make(*raw, rec.raw.n);
		rc = 0;
		break;
	}
	sl_csv_reader_free(rd);
	sl_source_reader_close(in);
	if (rc == 0 && !*raw)
		rc = SL_INTERNAL;
	return rc < 0 ? rc : 0;
}

/*
 * Determinism without ordered commits: the row with this key came from a
 * later record of this job, whose chunk committed first. As a load in file
 * order would have it, the earlier record (ours) is the one loaded, and
 * the later one becomes a DUP_KEY reject of its chunk, whose counters and
 * the job's move with it, all in this transaction; the rejects that named
 * the displaced row as the key's holder name ours.
 */
static int displace(chunk_tx *tx, const sl_sink_row *r, uint64_t later)
{
	ingest *g = tx->g;
	const chunk_handles *h = tx->h;
	const sl_schema *sc = g->schema;
	const sl_chunk *c = NULL;
	for (size_t i = 0; i < g->nchunks; i++)
		if (g->chunks[i].first_record < later)
			c = &g->chunks[i];
	if (!c || c == tx->c) {
		sl__ingest_say(g, "internal error: record %llu of the table is in no other chunk",
		               (unsigned long long)later);
		return SL_INTERNAL;
	}
	entry e = {0};
	char *raw = NULL, text[512];
	int rc = sl_sink_replace(h->sink, r);
	if (rc == SL_CONFIG && !sl_sink_can_replace(h->sink))
		sl__ingest_say(g,
		               "the %s sink cannot keep the earliest record of a key: record %llu "
		               "comes before record %llu, whose row chunk %u committed first (a "
		               "sink without replace needs a job's chunks committed in file order)",
		               h->sink->ops->name, (unsigned long long)r->record,
		               (unsigned long long)later, c->seq);
	if (rc == 0)
		rc = find_record(h, c, later, &e, &raw);
	if (rc == 0) {
		mark_dup(tx, &e);
		dup_msg(sc, r->vals, h->job->id, r->record, h->job->id, text, sizeof text);
		e.msg = sl_str_make(text, strlen(text));
		sl_reject rj = {e.record, e.line, e.offset, e.column, e.code, e.msg, e.raw, {0}, {0}};
		sl__multi_place(h->parse->g, c->seq, &rj);
		rc = sl_js_reject_insert(h->js, h->job->id, c->seq, &rj, sc->cols[e.column].name);
	}
	if (rc == 0)
		rc = sl_js_reject_holder(h->js, r->record);
	if (rc == 0) {
		char from[48], to[48];
		snprintf(from, sizeof from, "by record %llu,", (unsigned long long)later);
		snprintf(to, sizeof to, "by record %llu,", (unsigned long long)r->record);
		rc = sl_js_rejects_rehold(h->js, h->job->id, later, r->record, from, to);
	}
	if (rc == 0)
		rc = sl_js_chunk_add(h->js, h->job->id, c->seq, -1, 1);
	free(raw);
	if (rc == 0) {
		tx->displaced++;
		tx->loaded++;
	}
	return rc;
}

/* A row the sink found a duplicate of a key already there: a DUP_KEY
   reject naming the key and the job and record whose row holds it (the
   user's next question is which load came first); or, when that row is a
   later record of this job, the displacement above. */
static int row_dup(void *ctx, const sl_sink_row *r)
{
	chunk_tx *tx = ctx;
	const chunk_handles *h = tx->h;
	const sl_schema *sc = tx->g->schema;
	int rc;
	char owner[SL_JOB_ID_LEN] = "", text[512];
	uint64_t orec = 0;
	if ((rc = sl_sink_key_owner(h->sink, r->vals, owner, &orec)) < 0)
		return tx->err = rc;
	bool mine = h->js && !strcmp(owner, h->job->id);
	if (mine && orec > r->record)
		return tx->err = displace(tx, r, orec);
	entry e = {.record = r->record, .line = r->line, .offset = r->offset, .raw = r->raw};
	mark_dup(tx, &e);
	dup_msg(sc, r->vals, owner, orec, h->job->id, text, sizeof text);
	e.msg = sl_str_make(text, strlen(text));
	tx->rejected++;
	tx->by_code[sl_error_index(SL_DUP_KEY)]++;
	sl_reject rj = {e.record, e.line, e.offset, e.column, e.code, e.msg, e.raw, {0}, {0}};
	sl__multi_place(h->parse->g, tx->c->seq, &rj);
	rc = sl_js_reject_insert(h->js, h->job->id, tx->c->seq, &rj, sc->cols[e.column].name);
	if (rc == 0 && mine && orec)
		rc = sl_js_reject_holder(h->js, orec);
	return tx->err = rc;
}

/* A row the database refused (a constraint the schema does not know, a
   value its column cannot hold): a reject with the database's code and
   words; the chunk's other rows load. */
static int row_refused(void *ctx, const sl_sink_row *r, int code, const char *msg)
{
	chunk_tx *tx = ctx;
	tx->rejected++;
	int k = sl_error_index(code);
	if (k >= 0)
		tx->by_code[k]++;
	sl_reject rj = {r->record, r->line, r->offset, -1,     code, sl_str_make(msg, strlen(msg)),
	                r->raw,    {0},     {0}};
	sl__multi_place(tx->h->parse->g, tx->c->seq, &rj);
	return tx->err = sl_js_reject_insert(tx->h->js, tx->h->job->id, tx->c->seq, &rj, NULL);
}

/* Free what a failed attempt left in its group. */
static void tx_discard(chunk_tx *tx)
{
	while (tx->ghead) {
		batch *b = tx->ghead;
		tx->ghead = b->next;
		sl__ingest_batch_put(tx->g, b);
	}
	tx->gtail = NULL;
	tx->grows = 0;
	sl_sink_discard(tx->h->sink); /* what a failed attempt deferred */
	free(tx->rows);
	tx->rows = NULL;
	tx->rows_cap = 0;
}

/* The rest of a chunk's transaction, after its rows: the chunk's row and
   the increments d of its job's counters (when d; then read back, with what
   other processes added), the event, the fan-in (the job finishes in this
   transaction when this was its last open chunk), and the commit; roll
   back if any step fails. */
static int record_chunk(const chunk_handles *h, const sl_chunk *c, const sl_job_counts *d,
                        const sl_event *ev)
{
	ingest *g = h->parse->g;
	int rc = d ? sl_js_chunk_commit(h->js, h->job->id, c, d)
	           : sl_js_chunk_update(h->js, h->job->id, c);
	if (rc == 0 && d)
		rc = sl__ingest_job_refresh(g);
	if (rc == 0)
		rc = sl_js_event_insert(h->js, ev);
	if (rc == 0 && d)
		rc = sl__ingest_fan_in(g);
	sl_trace("chunk %u: recorded%s", c->seq, g->finished ? ", job finished" : "");
	if (rc == 0)
		rc = sl_txn_commit(h->txn);
	sl_trace("chunk %u: committed", c->seq);
	if (rc < 0) {
		sl_txn_rollback(h->txn);
		g->finished = false;
	} else if (g->finished) {
		sl__ingest_test_kill("finished");
	}
	return rc;
}

/* The fence, first in every transaction that writes a chunk we run: the
   lease still ours (owner and epoch), and the job not finished by another
   process meanwhile (a Failed or Cancelled job takes no more chunks). */
static int fence(const chunk_handles *h, const sl_lease *l)
{
	if (!h->js || !l)
		return 0;
	/* one statement (the store's fence also refuses a finished job) */
	int rc = sl_js_lease_fence(h->js, l);
	if (rc != SL_LEASE_LOST)
		return rc;
	sl_job now = {0};
	if (sl_js_job_get(h->js, h->job->id, &now) == 1 && sl_job_status_final(now.status))
		sl__ingest_say(h->parse->g, "job %s is %s: chunk %u is not committed", h->job->id,
		               sl_job_status_name(now.status), l->seq);
	sl_job_clear(&now);
	return rc;
}

/* A retry of the chunk, in a small transaction of its own: attempts + 1,
   start event (the first attempt's are the claim's). */
static int chunk_restart(const chunk_handles *h, sl_chunk *c, const sl_lease *l)
{
	if (!h->js)
		return 0;
	sl_chunk saved = *c;
	c->status = SL_CHUNK_PROCESSING;
	c->attempts++;
	sl_event ev = {h->job->id, c->seq, "chunk_start", 0, 0, 0, 0, NULL};
	int rc = sl_txn_begin(h->txn);
	if (rc == 0 && (rc = fence(h, l)) < 0)
		sl_txn_rollback(h->txn);
	else if (rc == 0)
		rc = record_chunk(h, c, NULL, &ev);
	if (rc < 0)
		*c = saved;
	return rc;
}

static uint64_t budget_rejects(const ingest *g);

sl_job_status sl__ingest_final_status(const ingest *g)
{
	return (g->job.chunks_failed || budget_rejects(g)) ? SL_JOB_PARTIAL : SL_JOB_SUCCEEDED;
}

/* The checkpoint: chunk counters into the job, chunk Succeeded, end event, commit. */
static int chunk_commit(chunk_tx *tx, double t0)
{
	ingest *g = tx->g;
	sl_chunk *c = tx->c;
	sl_job saved = *tx->h->job;
	sl_chunk csaved = *c;
	int rc;
	if (tx->read != tx->loaded + tx->rejected || tx->read != c->records_planned ||
	    tx->updated > tx->loaded) {
		sl__ingest_say(g, "internal error: chunk %u read %llu rows (planned %llu) but loaded %llu (updated %llu) + rejected %llu",
		    c->seq, (unsigned long long)tx->read, (unsigned long long)c->records_planned,
		    (unsigned long long)tx->loaded, (unsigned long long)tx->updated,
		    (unsigned long long)tx->rejected);
		return SL_INTERNAL;
	}
	c->status = SL_CHUNK_SUCCEEDED;
	c->rows_read = tx->read;
	c->rows_loaded = tx->loaded;
	c->rows_rejected = tx->rejected;
	c->rows_inserted = tx->loaded - tx->updated;
	c->rows_updated = tx->updated;
	c->duration_ms = (int64_t)((sl_now() - t0) * 1000);
	c->last_error = 0;
	c->last_message[0] = 0;
	sl_job *j = tx->h->job;
	sl_job_counts d = {.rows_read = (int64_t)tx->read,
	                   .rows_loaded = (int64_t)tx->loaded,
	                   .rows_rejected = (int64_t)tx->rejected,
	                   .rows_inserted = (int64_t)(tx->loaded - tx->updated),
	                   .rows_updated = (int64_t)tx->updated,
	                   .records_padded = (int64_t)tx->padded,
	                   .records_truncated = (int64_t)tx->truncated,
	                   .chunks_processed = 1,
	                   .chunks_succeeded = 1,
	                   .bytes_done = (int64_t)c->length};
	for (int k = 0; k < SL_ERROR_COUNT; k++)
		d.by_code[k] = (int64_t)tx->by_code[k];
	/* rows of other chunks ours displaced: loaded there before, rejects now */
	d.rows_loaded -= (int64_t)tx->displaced;
	d.rows_inserted -= (int64_t)tx->displaced; /* inserts there (chunk_add moves them) */
	d.rows_rejected += (int64_t)tx->displaced;
	d.by_code[sl_error_index(SL_DUP_KEY)] += (int64_t)tx->displaced;
	sl_job_counts_apply(j, &d);
	j->updated_ms = sl_now_ms();
	if (!tx->h->js)
		return 0;
	sl_event ev = {j->id, c->seq, "chunk_end", tx->read, tx->loaded, tx->rejected, c->duration_ms, NULL};
	sl__ingest_test_pause(g, c, "SLUICE_TEST_PAUSE_COMMIT");
	rc = record_chunk(tx->h, c, &d, &ev); /* the transaction the chunk's rows are in */
	if (rc < 0) {
		*j = saved;
		*c = csaved;
	}
	return rc;
}

void sl__ingest_backoff(int attempt);

/* The chunk failed for good (attempts used up): say so, in its own transaction. */
static int chunk_fail(const chunk_handles *h, sl_chunk *c, const sl_lease *l, int err,
                      const char *why)
{
	c->status = SL_CHUNK_FAILED;
	c->last_error = err;
	snprintf(c->last_message, sizeof c->last_message, "%s", why);
	sl_job_counts d = {.chunks_processed = 1, .chunks_failed = 1};
	sl_job saved = *h->job;
	sl_job_counts_apply(h->job, &d);
	h->job->updated_ms = sl_now_ms();
	if (!h->js)
		return 0;
	sl_event ev = {h->job->id, c->seq, "chunk_failed", 0, 0, 0, 0, why};
	int rc = 0;
	for (int attempt = 1; attempt <= 3; attempt++) {
		rc = sl_txn_begin(h->txn);
		if (rc == 0 && (rc = fence(h, l)) < 0)
			sl_txn_rollback(h->txn);
		else if (rc == 0)
			rc = record_chunk(h, c, &d, &ev);
		if (rc == 0)
			break;
		if (rc == SL_LEASE_LOST) {
			*h->job = saved;
			break;
		}
		if (sl_error_class(rc) != SL_CLASS_RETRY)
			break;
		sl__ingest_backoff(attempt);
	}
	return rc;
}

void sl__ingest_backoff(int attempt)
{
	/* 100 ms, 200 ms, 400 ms ... with +-50 % jitter, so competing writers
	   do not retry in lockstep */
	unsigned r = 0;
	if (getrandom(&r, sizeof r, 0) != sizeof r)
		r = (unsigned)getpid();
	double ms = 100.0 * (double)(1u << (attempt < 8 ? attempt : 8)) * (0.5 + (r % 1000) / 1000.0);
	usleep((useconds_t)(ms * 1000));
}

/* Drop what the worker still sends for a chunk the writer redoes itself. */
void sl__ingest_slot_drain(ingest *g, slot *s)
{
	batch *b;
	while ((b = sl__ingest_slot_pop(g, s)))
		sl__ingest_batch_put(g, b);
}

/* Rows that count against the error budget: rejects, but not duplicates
   the schema says to ignore. */
static uint64_t budget_rejects(const ingest *g)
{
	uint64_t r = g->job.rows_rejected;
	if (g->schema->on_duplicate == SL_DUP_IGNORE)
		r -= g->job.rejects_by_code[sl_error_index(SL_DUP_KEY)];
	return r;
}

bool sl__ingest_budget_exceeded(ingest *g)
{
	const sl_job *j = &g->job;
	uint64_t bad = budget_rejects(g);
	if (g->has_max_errors && bad > g->max_errors) {
		sl__ingest_say(g, "error budget exceeded: %llu rows rejected, max_errors is %llu",
		    (unsigned long long)bad, (unsigned long long)g->max_errors);
		return true;
	}
	if (g->has_max_ratio && j->rows_read > 0 && (double)bad / (double)j->rows_read > g->max_ratio) {
		sl__ingest_say(g, "error budget exceeded: %llu of %llu rows rejected (%.2f %%), max_error_ratio is %g",
		    (unsigned long long)bad, (unsigned long long)j->rows_read,
		    100.0 * (double)bad / (double)j->rows_read, g->max_ratio);
		return true;
	}
	return false;
}

/*
 * How the file differs from the job's fingerprint: its size, else its
 * modification time. false when both are as planned (then only a content
 * hash can tell, which the chunk reads check).
 */
bool sl__ingest_what_changed(const ingest *g, const struct stat *st, char *out, size_t n)
{
	const sl_job *j = &g->job;
	int64_t mt = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	if ((uint64_t)st->st_size != j->file_size)
		snprintf(out, n, "its size changed from %llu to %llu bytes",
		         (unsigned long long)j->file_size, (unsigned long long)st->st_size);
	else if (mt != j->file_mtime_ns)
		snprintf(out, n, "its modification time changed (same size, %llu bytes)",
		         (unsigned long long)st->st_size);
	else
		return false;
	return true;
}

/* A chunk's content hash did not match: say what changed, as precisely as
   the file tells. */
static void changed_msg(const ingest *g, const sl_chunk *c, char *out, size_t n)
{
	struct stat st;
	char how[160];
	if (sl__ingest_source_stat(g, &st) < 0 || !sl__ingest_what_changed(g, &st, how, sizeof how))
		snprintf(how, sizeof how, "size and modification time are as planned");
	snprintf(out, n,
	         "the file changed while the job ran: the content hash of bytes %llu..%llu differs "
	         "from the plan; %s",
	         (unsigned long long)c->offset, (unsigned long long)(c->offset + c->length), how);
}

/*
 * Run chunk c under lease l against the handles h (sl_chunk_run of the
 * design: parse, validate, commit one chunk; ingest_int.h says what h holds
 * and what is left to the run's context). With a slot, the first attempt takes the worker's
 * batches from it; without one, or on a retry, the chunk is read on this
 * thread. Every transaction that writes the chunk starts with the fence.
 * Returns 0 when the chunk is done (Succeeded or Failed for good),
 * SL_LEASE_LOST when it is not ours any more (nothing of it written; an
 * event says so), <0 for a fatal error.
 */
/*
 * A chunk whose every attempt ended with its lease running out (its worker
 * died, crashed on it, or stalled) is not run again: it fails here, with
 * the job's counters and fan-in of any failed chunk. Asked right after the
 * claim, before anything reads the chunk (a parallel reader of `sluice
 * ingest` parses ahead of the writer: a chunk that kills its parser would
 * otherwise kill every run before its writer could tell). 1: spent, and
 * recorded Failed (ATTEMPTS); 0: not spent; SL_LEASE_LOST or <0.
 */
int sl__chunk_spent(const chunk_handles *h, sl_chunk *c, sl_lease *l)
{
	ingest *g = h->parse->g;
	int limit = g->o->leader.max_attempts > 0 ? g->o->leader.max_attempts : SL_MAX_ATTEMPTS;
	if (!l || l->attempts <= (uint32_t)limit)
		return 0;
	char why[300];
	c->status = SL_CHUNK_PROCESSING;
	c->attempts = (uint32_t)limit;
	snprintf(why, sizeof why,
	         "chunk %u: %d attempts, and each time its lease ran out before it "
	         "committed (its worker died, was killed or stalled)",
	         c->seq, limit);
	int rc = chunk_fail(h, c, l, SL_ATTEMPTS, why);
	return rc < 0 ? rc : 1;
}

chunk_handles sl__chunk_handles(ingest *g, worker *parse)
{
	return (chunk_handles){.js = g->st,
	                       .sink = g->sink,
	                       .txn = g->txn,
	                       .src = g->spool ? g->spool : g->src,
	                       .job = &g->job,
	                       .parse = parse};
}

int sl__chunk_run(const chunk_handles *h, sl_chunk *c, sl_lease *l, slot *s)
{
	ingest *g = h->parse->g;
	int max_attempts = g->o->max_attempts > 0 ? g->o->max_attempts : 3;
	bool from_slot = s != NULL, input_failed = false;
	int rc = 0;
	char why[300] = "";

	c->status = SL_CHUNK_PROCESSING;
	if (l)
		c->attempts = l->attempts;
	if ((rc = sl__chunk_spent(h, c, l)) != 0)
		return rc < 0 ? rc : 0;
	for (int attempt = 1;; attempt++) {
		chunk_tx tx = {.h = h, .g = g, .c = c};
		double t0 = sl_now();
		rc = attempt > 1 ? chunk_restart(h, c, l) : 0;
		if (rc == 0 && (rc = sl_txn_begin(h->txn)) == 0)
			rc = fence(h, l);
		sl_trace("chunk %u: begun and fenced", c->seq);
		if (rc == 0) {
			chunk_result res;
			if (from_slot) {
				batch *b;
				while ((b = sl__ingest_slot_pop(g, s)))
					if ((rc = apply_batch(&tx, b)) < 0)
						break;
				if (rc == 0) {
					pthread_mutex_lock(&s->mu);
					res = s->res;
					pthread_mutex_unlock(&s->mu);
					if (atomic_load(&g->abort) && !s->done)
						return SL_INTERNAL;
				}
			} else {
				rc = sl__ingest_produce(h->parse, c, apply_batch, &tx, &res);
				if (rc == 0 && tx.err)
					rc = tx.err;
			}
			if (rc == 0 && res.err) {
				/* the input failed: fatal for the job (a changed or unreadable file) */
				rc = res.err;
				input_failed = true;
				if (rc == SL_IO_CHANGED)
					changed_msg(g, c, res.msg, sizeof res.msg);
				snprintf(why, sizeof why, "chunk %u: %s", c->seq, res.msg);
			}
			sl_trace("chunk %u: rows in", c->seq);
			if (rc == 0 && tx.grows)
				rc = flush_group(&tx);
			if (rc == 0) {
				sl_sink_cb cb = {rows_loaded, row_dup, &tx, row_refused, rows_updated};
				rc = sl_sink_flush(h->sink, &cb);
			}
			if (rc == 0 && tx.err)
				rc = tx.err;
			sl_trace("chunk %u: flushed", c->seq);
			if (rc == 0)
				rc = chunk_commit(&tx, t0);
		}
		tx_discard(&tx);
		if (rc == 0)
			break;
		sl_txn_rollback(h->txn);
		if (from_slot) {
			sl__ingest_slot_drain(g, s);
			from_slot = false;
		}
		if (rc == SL_LEASE_LOST) {
			/* not ours: whoever holds the chunk now commits it; say so in
			   the job's events, in a transaction of its own */
			char m[300];
			snprintf(m, sizeof m, "%s: %s", l ? l->owner : "", sl_txn_errmsg(h->txn));
			sl_event ev = {h->job->id, c->seq, "chunk_lease_lost", 0, 0, 0, 0, m};
			if (h->js && sl_txn_begin(h->txn) == 0) {
				if (sl_js_event_insert(h->js, &ev) == 0)
					sl_txn_commit(h->txn);
				sl_txn_rollback(h->txn);
			}
			g->msg[0] = 0;
			return rc;
		}
		if (!why[0] || sl_error_class(rc) == SL_CLASS_RETRY)
			snprintf(why, sizeof why, "chunk %u: %s%s%s", c->seq, sl_error_message(rc),
			         h->js ? ": " : "", h->js ? sl_txn_errmsg(h->txn) : "");
		if (sl_error_class(rc) != SL_CLASS_RETRY) {
			if (!g->msg[0])
				sl__ingest_say(g, "%s", why);
			/* the chunk in flight is Failed with the reason, never left
			   Processing; the job fails with the same code */
			if (input_failed) {
				g->fatal_rc = rc;
				chunk_fail(h, c, l, rc, why);
			}
			return rc; /* fatal */
		}
		if (attempt >= max_attempts) {
			int fr = chunk_fail(h, c, l, rc, why);
			if (fr == SL_LEASE_LOST)
				return fr;
			if (fr < 0) {
				/* not even the failure could be recorded (a full disk, a
				   lock held for good): stop with the first reason; the
				   chunk stays Processing and runs again on resume */
				sl__ingest_say(g,
				               "%s (after %d attempts); the job stops and resumes "
				               "with 'sluice resume %s'",
				               why, attempt, h->job->id);
				return rc;
			}
			return 0;
		}
		sl__ingest_backoff(attempt);
	}
	return 0;
}
