/*
 * The ingest engine: plan a job, run its chunks through parallel workers
 * and one ordered writer, checkpoint each chunk in one transaction.
 *
 *   plan     fingerprint the file and the schema, split the file into
 *            chunks (csv_split.c), store the job and its chunks
 *   workers  take chunks in file order, parse and validate them, and hand
 *            batches of converted rows and rejects to the chunk's slot
 *   writer   (the calling thread) takes the slots in file order and, per
 *            chunk, in ONE transaction: inserts the rows (the database
 *            finds duplicate keys), the rejects, the chunk's status, the
 *            job's counters and the end event. That commit is the
 *            checkpoint: a resume skips Succeeded chunks and redoes the rest
 *            from scratch, so every row is loaded exactly once.
 *
 * Determinism: the writer commits in file order whatever the thread count,
 * so "the earliest occurrence wins" for duplicate keys and every table is
 * the same for any thread count and chunk size.
 *
 * Locking: each slot has its own mutex and condition variable, guarding
 * its fields (want, queue, done, result). `next` (the next chunk for a
 * worker) and `abort` are atomics. The free list of batches has its own
 * mutex. Nothing else is shared: the schema is read-only, every worker has
 * its own validator, reader and file offset (pread).
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

#include "engine/engine_int.h"

#define DEFAULT_CHUNK (64u << 20)

/* What a worker found in one chunk, beyond its batches. */
typedef struct chunk_result {
	uint64_t read; /* data records */
	int err;       /* a failure that stops the chunk: IO_*, NOMEM */
	char msg[256];
} chunk_result;

typedef struct slot {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t want;       /* index (in the pending list) this slot serves now */
	batch *head, *tail;
	size_t nq;
	bool done;
	chunk_result res;
} slot;

typedef struct ingest {
	const sl_ingest_opts *o;
	sl_schema *schema;
	sl_csv_dialect d;
	const sl_store_ops *ops;
	sl_store *st;
	sl_job job;  /* as committed */
	sl_job live; /* numbers shown by progress: committed + the chunk under way */
	sl_chunk *chunks;
	size_t nchunks;
	size_t *pending;
	size_t npending;
	int fd;
	size_t expected; /* fields per record: the header's, or the schema's columns */
	int *map;        /* schema column -> field index, -1 if absent */
	bool pad;        /* null_padding or lenient: short records read with NULLs */
	bool lenient;    /* lenient: long records read, their extra fields dropped */
	char *dialect_text; /* the effective dialect, as the job records it */
	uint64_t max_errors;
	double max_ratio;
	bool has_max_errors, has_max_ratio;
	/* pipeline */
	slot *slots;
	size_t nslots;
	atomic_size_t next;
	atomic_int abort;
	pthread_mutex_t free_mu;
	batch *free_list;
	double t0;
	char *msg;
	size_t msglen;
	spill *sp;          /* sorted runs of a keyed table's chunk (spill.c) */
	bool paused;        /* opts.pause stopped the run: the job stays unfinished */
	bool cancelled;     /* a cancel request stopped it: the job becomes Cancelled */
	uint64_t rows_planned; /* data records of all chunks, for progress */
	int lockfd;         /* flock'ed while the job runs here */
	char lockpath[4200];
} ingest;

/* A worker's own things. */
typedef struct worker {
	ingest *g;
	sl_validator *v;
	char *conv; /* conversion output for one record */
	size_t conv_cap;
	sl_value *vals;
	sl_csv_parser *side; /* re-reads the fields of a short or long record (lenient) */
} worker;

static void say(ingest *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(ingest *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->msg, g->msglen, fmt, ap);
	va_end(ap);
}

/* --- batches ------------------------------------------------------------- */

static void batch_free(batch *b)
{
	if (!b)
		return;
	free(b->e);
	free(b->vals);
	free(b->arena);
	free(b);
}

static batch *batch_get(ingest *g)
{
	batch *b = NULL;
	pthread_mutex_lock(&g->free_mu);
	if (g->free_list) {
		b = g->free_list;
		g->free_list = b->next;
	}
	pthread_mutex_unlock(&g->free_mu);
	if (!b) {
		b = calloc(1, sizeof *b);
		if (!b)
			return NULL;
		b->e = malloc(BATCH_ROWS * sizeof *b->e);
		b->vals_cap = BATCH_ROWS * (g->schema->ncols ? g->schema->ncols : 1);
		b->vals = malloc(b->vals_cap * sizeof *b->vals);
		b->cap = BATCH_ARENA;
		b->arena = malloc(b->cap);
		if (!b->e || !b->vals || !b->arena) {
			batch_free(b);
			return NULL;
		}
	}
	b->next = NULL;
	b->n = b->nvals = b->used = 0;
	b->end_offset = 0;
	return b;
}

static void batch_put(ingest *g, batch *b)
{
	if (!b)
		return;
	if (b->cap != BATCH_ARENA) { /* an outsized arena for one huge record: give it back */
		batch_free(b);
		return;
	}
	pthread_mutex_lock(&g->free_mu);
	b->next = g->free_list;
	g->free_list = b;
	pthread_mutex_unlock(&g->free_mu);
}

/* Room for a record of raw length n (its values and message included)? */
static bool batch_fits(const ingest *g, const batch *b, size_t n)
{
	size_t need = 2 * n + 64 * g->schema->ncols + 1024;
	return b->n < BATCH_ROWS && b->used + need <= b->cap;
}

/* Make an empty batch able to hold a record of raw length n. */
static int batch_grow(ingest *g, batch *b, size_t n)
{
	size_t need = 2 * n + 64 * g->schema->ncols + 1024;
	if (need <= b->cap)
		return 0;
	char *a = realloc(b->arena, need);
	if (!a)
		return SL_NOMEM;
	b->arena = a;
	b->cap = need;
	return 0;
}

static sl_str arena_copy(batch *b, const char *p, size_t n)
{
	char *dst = b->arena + b->used;
	if (n)
		memcpy(dst, p, n);
	b->used += n;
	return sl_str_make(dst, n);
}

static entry *batch_add(batch *b, const sl_csv_record *rec, int code, int column, const char *msg)
{
	entry *e = &b->e[b->n++];
	e->record = rec->record;
	e->line = rec->line;
	e->offset = rec->offset;
	e->raw = arena_copy(b, rec->raw.p, rec->raw.n);
	e->code = code;
	e->column = column;
	e->msg = code ? arena_copy(b, msg, strlen(msg)) : sl_str_make(NULL, 0);
	e->vals = (uint32_t)b->nvals;
	e->shape = 0;
	b->end_offset = rec->offset + rec->raw_len;
	return e;
}

/* --- slots ------------------------------------------------------------------ */

static void slot_push(ingest *g, slot *s, batch *b)
{
	pthread_mutex_lock(&s->mu);
	while (s->nq >= SLOT_BATCHES && !atomic_load(&g->abort))
		pthread_cond_wait(&s->cv, &s->mu);
	if (s->tail)
		s->tail->next = b;
	else
		s->head = b;
	s->tail = b;
	s->nq++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Next batch of the slot, or NULL when the chunk is done (or aborted). */
static batch *slot_pop(ingest *g, slot *s)
{
	batch *b = NULL;
	pthread_mutex_lock(&s->mu);
	while (!s->head && !s->done && !atomic_load(&g->abort))
		pthread_cond_wait(&s->cv, &s->mu);
	if (s->head) {
		b = s->head;
		s->head = b->next;
		if (!s->head)
			s->tail = NULL;
		s->nq--;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return b;
}

static void abort_all(ingest *g)
{
	atomic_store(&g->abort, 1);
	for (size_t i = 0; i < g->nslots; i++) {
		pthread_mutex_lock(&g->slots[i].mu);
		pthread_cond_broadcast(&g->slots[i].cv);
		pthread_mutex_unlock(&g->slots[i].mu);
	}
}

/* --- producing: parse and validate one chunk ------------------------------ */

/* A read function over a chunk's range that hashes what it reads, so a file
   changed since planning is caught before its rows commit. */
typedef struct hashed_range {
	sl_fd_range r;
	XXH3_state_t *xx;
} hashed_range;

static ssize_t hashed_read(void *ctx, char *buf, size_t cap)
{
	hashed_range *h = ctx;
	ssize_t n = sl_fd_range_read(&h->r, buf, cap);
	if (n > 0)
		XXH3_64bits_update(h->xx, buf, (size_t)n);
	return n;
}

typedef int (*emit_fn)(void *ctx, batch *b);

static void structural_msg(const ingest *g, const sl_csv_record *rec, char *msg, size_t n)
{
	if (rec->error == SL_CSV_TOO_FEW_FIELDS || rec->error == SL_CSV_TOO_MANY_FIELDS)
		snprintf(msg, n,
		         g->d.header ? "record has %zu fields, the header has %zu"
		                     : "record has %zu fields, the schema has %zu columns",
		         rec->nfields_seen, g->expected);
	else if (rec->error == SL_CSV_ROW_TOO_LONG)
		snprintf(msg, n, "record is %llu bytes, the limit is %zu (raw keeps the first %d)",
			 (unsigned long long)rec->raw_len, g->d.max_row_bytes, SL_CSV_RAW_PREFIX);
	else
		snprintf(msg, n, "%s", sl_error_message(rec->error));
}

/*
 * The fields of a record the parser counted as short or long. A parser that
 * keeps such records (lenient) gives them; one that does not gives none
 * with the error, and then the record's bytes are read again alone, with
 * their own field count expected. 0 and *fields, or -1: keep the error.
 */
static int reread_fields(worker *w, const sl_csv_record *rec, const sl_str **fields, size_t *n)
{
	if (rec->nfields && rec->nfields == rec->nfields_seen) {
		*fields = rec->fields;
		*n = rec->nfields;
		return 0;
	}
	if (rec->raw.n != rec->raw_len || rec->nfields_seen > SL_CSV_MAX_FIELDS)
		return -1; /* cut (too long to keep whole) */
	if (!w->side) {
		sl_csv_dialect d = w->g->d;
		d.header = false;
		if (sl_csv_parser_new(&d, SL_CSV_SCAN_AUTO, &w->side) < 0)
			return -1;
	}
	sl_csv_pos pos = {rec->offset ? rec->offset : 1, 0, rec->line};
	sl_csv_record r;
	sl_csv_parser_start_at(w->side, &pos, rec->nfields_seen);
	sl_csv_feed(w->side, rec->raw.p, rec->raw.n, true);
	if (sl_csv_next(w->side, &r) != 1 || r.error || r.nfields != rec->nfields_seen)
		return -1;
	*fields = r.fields;
	*n = r.nfields;
	return 0;
}

/* Validate one record into the batch. */
static void take_record(worker *w, batch *b, const sl_csv_record *rec)
{
	ingest *g = w->g;
	const sl_schema *sc = g->schema;
	char msg[512];
	const sl_str *fields = rec->fields;
	size_t nf = rec->nfields;
	int err = rec->error;
	if ((err == SL_CSV_TOO_FEW_FIELDS && g->pad) ||
	    (err == SL_CSV_TOO_MANY_FIELDS && g->lenient))
		if (reread_fields(w, rec, &fields, &nf) == 0)
			err = 0;
	if (err) {
		structural_msg(g, rec, msg, sizeof msg);
		batch_add(b, rec, err, -1, msg);
		return;
	}
	uint8_t shape = nf < g->expected ? SHAPE_PADDED : nf > g->expected ? SHAPE_TRUNCATED : 0;
	size_t used = 0;
	for (size_t i = 0; i < sc->ncols; i++) {
		int fi = g->map[i];
		/* fields past the record's end (short records, null_padding) read as NULL */
		const sl_str *f = fi >= 0 && (size_t)fi < nf ? &fields[fi] : NULL;
		size_t u = 0;
		int rc = sl_value_convert(w->v, i, f, &w->vals[i], w->conv + used, &u, msg, sizeof msg);
		if (rc == 0 && w->vals[i].kind == SL_VALUE_NULL) {
			for (size_t k = 0; k < sc->nkey; k++) {
				if (sc->key[k] == i) {
					rc = SL_VAL_REQUIRED;
					snprintf(msg, sizeof msg, "%s is part of the key and cannot be empty",
						 sc->cols[i].name);
				}
			}
		}
		if (rc < 0) {
			batch_add(b, rec, rc, (int)i, msg)->shape = shape;
			return;
		}
		used += u;
	}
	entry *e = batch_add(b, rec, 0, -1, NULL);
	e->shape = shape;
	/* Values point into the record (its fields) or into w->conv: copy them
	   into the arena; those inside the raw record are re-pointed into the
	   copy made above, so most rows are copied once. */
	const char *r0 = rec->raw.p, *r1 = rec->raw.p + rec->raw.n;
	for (size_t i = 0; i < sc->ncols; i++) {
		sl_value v = w->vals[i];
		if (v.kind == SL_VALUE_TEXT) {
			if (v.s.p >= r0 && v.s.p + v.s.n <= r1 && v.s.n)
				v.s.p = e->raw.p + (v.s.p - r0);
			else
				v.s = arena_copy(b, v.s.p, v.s.n);
		}
		b->vals[b->nvals++] = v;
	}
}

static int produce(worker *w, const sl_chunk *c, emit_fn emit, void *ectx, chunk_result *res)
{
	ingest *g = w->g;
	int rc;
	sl_csv_reader *rd = NULL;
	hashed_range h = {{g->fd, c->offset, c->length}, XXH3_createState()};
	batch *b = NULL;
	sl_csv_record rec;

	memset(res, 0, sizeof *res);
	if (!h.xx) {
		rc = SL_NOMEM;
		goto out;
	}
	XXH3_64bits_reset(h.xx);
	size_t bufsize = c->length < (1u << 20) ? (size_t)c->length + 64 : 0;
	if ((rc = sl_csv_reader_new(&g->d, SL_CSV_SCAN_AUTO, hashed_read, &h, bufsize, &rd)) < 0)
		goto out;
	if (c->seq > 0 || !g->d.header) {
		/* without a header the schema says how many fields a record has,
		   from the first record on */
		sl_csv_pos pos = {c->offset, c->first_record, c->first_line};
		sl_csv_parser_start_at(sl_csv_reader_parser(rd), &pos, g->expected);
	}
	if (!(b = batch_get(g))) {
		rc = SL_NOMEM;
		goto out;
	}
	while ((rc = sl_csv_reader_next(rd, &rec)) == 1) {
		if (rec.is_header)
			continue;
		if (atomic_load(&g->abort)) {
			rc = 0;
			goto out;
		}
		res->read++;
		if (!batch_fits(g, b, rec.raw.n)) {
			if (b->n) {
				if ((rc = emit(ectx, b)) < 0) {
					b = NULL;
					goto out;
				}
				if (!(b = batch_get(g))) {
					rc = SL_NOMEM;
					goto out;
				}
			}
			if (!batch_fits(g, b, rec.raw.n) && (rc = batch_grow(g, b, rec.raw.n)) < 0)
				goto out;
		}
		take_record(w, b, &rec);
	}
	if (rc < 0)
		goto out;
	if (XXH3_64bits_digest(h.xx) != c->hash) {
		rc = SL_IO_CHANGED;
		snprintf(res->msg, sizeof res->msg,
			 "bytes %llu..%llu of the file differ from when the job was planned",
			 (unsigned long long)c->offset, (unsigned long long)(c->offset + c->length));
		goto out;
	}
	rc = emit(ectx, b);
	b = NULL;
out:
	if (rc < 0 && !res->msg[0])
		snprintf(res->msg, sizeof res->msg, "%s", sl_error_message(rc));
	if (rc < 0)
		res->err = rc;
	if (b)
		batch_put(g, b);
	sl_csv_reader_free(rd);
	XXH3_freeState(h.xx);
	return rc;
}

typedef struct slot_emit {
	ingest *g;
	slot *s;
} slot_emit;

static int emit_slot(void *ctx, batch *b)
{
	slot_emit *se = ctx;
	slot_push(se->g, se->s, b);
	return 0;
}

static void worker_teardown(worker *w)
{
	sl_csv_parser_free(w->side);
	sl_validator_free(w->v);
	free(w->conv);
	free(w->vals);
	w->side = NULL;
	w->v = NULL;
	w->conv = NULL;
	w->vals = NULL;
}

/* On failure nothing is left allocated (the writer's own worker is not
   torn down when its setup fails: cli_codes' NOMEM test found the leak). */
static int worker_setup(worker *w, ingest *g)
{
	memset(w, 0, sizeof *w);
	w->g = g;
	w->conv_cap = g->d.max_row_bytes + 64 * (g->schema->ncols + 1);
	w->conv = malloc(w->conv_cap);
	w->vals = calloc(g->schema->ncols + 1, sizeof *w->vals);
	int rc = !w->conv || !w->vals ? SL_NOMEM : sl_validator_new(g->schema, &w->v);
	if (rc < 0)
		worker_teardown(w);
	return rc;
}

/*
 * Test-only, documented in docs/ingest.md (Faults): with
 * SLUICE_TEST_PAUSE=SEQ:DIR, the writer about to start chunk SEQ creates
 * DIR/paused (holding the job id) and waits until DIR/go exists. Every chunk
 * before SEQ is committed then and no transaction is open; with one thread
 * the worker has read at most chunk SEQ, so a test can change the file
 * after it, cancel or read the job at a known point without sleeping.
 */
static void test_pause(ingest *g, const sl_chunk *c)
{
	const char *e = getenv("SLUICE_TEST_PAUSE");
	char *end, path[4200];
	if (!e || !*e)
		return;
	unsigned long seq = strtoul(e, &end, 10);
	if (*end != ':' || seq != c->seq)
		return;
	snprintf(path, sizeof path, "%s/go", end + 1);
	if (access(path, F_OK) == 0)
		return;
	char tmp[4300];
	snprintf(tmp, sizeof tmp, "%s/paused.tmp", end + 1);
	FILE *f = fopen(tmp, "w");
	if (f) {
		fprintf(f, "%s\n", g->job.id);
		fclose(f);
		char fin[4300];
		snprintf(fin, sizeof fin, "%s/paused", end + 1);
		rename(tmp, fin);
	}
	struct timespec ts = {0, 5 * 1000 * 1000};
	while (access(path, F_OK) != 0)
		nanosleep(&ts, NULL);
}

static void *worker_main(void *arg)
{
	ingest *g = arg;
	worker w;
	int rc = worker_setup(&w, g);
	for (;;) {
		size_t k = atomic_fetch_add(&g->next, 1);
		if (k >= g->npending)
			break;
		slot *s = &g->slots[k % g->nslots];
		pthread_mutex_lock(&s->mu);
		while (s->want != k && !atomic_load(&g->abort))
			pthread_cond_wait(&s->cv, &s->mu);
		pthread_mutex_unlock(&s->mu);
		if (atomic_load(&g->abort))
			break;
		chunk_result res;
		if (rc == 0) {
			slot_emit se = {g, s};
			produce(&w, &g->chunks[g->pending[k]], emit_slot, &se, &res);
		} else {
			memset(&res, 0, sizeof res);
			res.err = rc;
			snprintf(res.msg, sizeof res.msg, "%s", sl_error_message(rc));
		}
		pthread_mutex_lock(&s->mu);
		s->res = res;
		s->done = true;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
	worker_teardown(&w);
	return NULL;
}

/* --- writing: one chunk, one transaction ----------------------------------- */

/*
 * The writer gathers up to GROUP_ROWS rows of a chunk, then inserts them in
 * key order (a stable sort: equal keys stay in file order, so the earliest
 * occurrence still wins). Why sort: the unique index
 * of a large table does not fit in the page cache, and random keys make
 * every insert fetch a random leaf; inserted in key order, a group walks the
 * index once from left to right and each leaf is fetched once.
 */
#define GROUP_ROWS 16384 /* with a key; without one, each batch is written as it comes */

typedef struct grow_ref {
	entry *e;
	const sl_value *v;
} grow_ref;

typedef struct chunk_tx {
	ingest *g;
	sl_chunk *c;
	uint64_t read, loaded, rejected, dup_ignored, padded, truncated;
	uint64_t by_code[SL_ERROR_COUNT];
	int err; /* first failure of a store call */
	batch *ghead, *gtail; /* the group: batches not yet written */
	size_t grows;
	grow_ref *order;
	size_t order_cap;
	const sl_value **vptrs; /* for target_insert_many */
	spilled_row *srows;     /* a group on its way to a run */
	size_t srows_cap;
	size_t many_cap;
	uint64_t end_offset;
} chunk_tx;

static void progress(ingest *g, const chunk_tx *tx, uint64_t end_offset)
{
	if (!g->o->progress)
		return;
	sl_job *l = &g->live;
	*l = g->job; /* shallow: strings are the job's */
	l->rows_read += tx ? tx->read : 0;
	l->rows_loaded += tx ? tx->loaded : 0;
	l->rows_rejected += tx ? tx->rejected : 0;
	if (tx && end_offset > tx->c->offset)
		l->bytes_done += end_offset - tx->c->offset;
	sl_ingest_progress p = {l, sl_now() - g->t0, NULL, g->rows_planned, g->job.rows_read};
	g->o->progress(g->o->progress_ctx, &p);
}

/* A chunk is done: say so once, with the job as committed. */
static void progress_chunk(ingest *g, const sl_chunk *c)
{
	if (!g->o->progress)
		return;
	sl_ingest_progress p = {&g->job, sl_now() - g->t0, c, g->rows_planned, g->job.rows_read};
	g->o->progress(g->o->progress_ctx, &p);
}

static int cmp_rows(const void *x, const void *y, void *ctx)
{
	const sl_schema *sc = ctx;
	const grow_ref *a = x, *b = y;
	for (size_t k = 0; k < sc->nkey; k++) {
		int c = sl_value_cmp(&a->v[sc->key[k]], &b->v[sc->key[k]]);
		if (c)
			return c;
	}
	return (a->e->record > b->e->record) - (a->e->record < b->e->record);
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
static void dup_msg(const sl_schema *sc, const sl_value *vals, const char *owner, const char *self,
                    char *out, size_t n)
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
	else if (!strcmp(owner, self)) /* no id: the same file gives the same messages */
		snprintf(out + o, n - o, " already loaded by an earlier row of this file%s",
		         sc->on_duplicate == SL_DUP_IGNORE ? " (ignored: on_duplicate is ignore)"
		                                           : "");
	else
		snprintf(out + o, n - o, " already loaded by job %s%s", owner,
		         sc->on_duplicate == SL_DUP_IGNORE ? " (ignored: on_duplicate is ignore)"
		                                           : "");
}

/* Write the group: good rows in key order, then every reject, then free it. */
static int flush_group(chunk_tx *tx)
{
	ingest *g = tx->g;
	const sl_schema *sc = g->schema;
	size_t n = 0;
	if (tx->grows > tx->order_cap) {
		grow_ref *o = realloc(tx->order, tx->grows * sizeof *o);
		if (!o)
			return tx->err = SL_NOMEM;
		tx->order = o;
		tx->order_cap = tx->grows;
	}
	for (batch *b = tx->ghead; b; b = b->next)
		for (size_t i = 0; i < b->n; i++)
			if (b->e[i].code == 0)
				tx->order[n++] = (grow_ref){&b->e[i], &b->vals[b->e[i].vals]};
	if (sc->nkey && n > 1 && g->st)
		qsort_r(tx->order, n, sizeof *tx->order, cmp_rows, (void *)sc);
	if (!sc->nkey && g->st && n) {
		/* nothing can clash: several rows per statement, in file order */
		if (n > tx->many_cap) {
			const sl_value **v = realloc(tx->vptrs, n * sizeof *v);
			if (!v)
				return tx->err = SL_NOMEM;
			tx->vptrs = v;
			tx->many_cap = n;
		}
		for (size_t i = 0; i < n; i++)
			tx->vptrs[i] = tx->order[i].v;
		tx->err = g->ops->target_insert_many(g->st, tx->vptrs, n);
		n = 0;
	}
	if (g->sp && n) {
		/* keyed: the sorted group becomes a run; the chunk's runs are merged
		   into the index at its commit (merge_insert) */
		if (n > tx->srows_cap) {
			spilled_row *r = realloc(tx->srows, n * sizeof *r);
			if (!r)
				return tx->err = SL_NOMEM;
			tx->srows = r;
			tx->srows_cap = n;
		}
		for (size_t i = 0; i < n; i++) {
			const entry *e = tx->order[i].e;
			tx->srows[i] = (spilled_row){e->record, e->line, e->offset, e->raw, tx->order[i].v};
		}
		tx->err = sl__spill_run(g->sp, tx->srows, n);
		n = 0;
	}
	for (size_t i = 0; i < n && tx->err == 0 && g->st; i++) {
		bool dup = false;
		entry *e = tx->order[i].e;
		tx->err = g->ops->target_insert(g->st, tx->order[i].v, &dup);
		if (dup)
			mark_dup(tx, e);
	}
	for (batch *b = tx->ghead; b && tx->err == 0; b = b->next) {
		for (size_t i = 0; i < b->n && tx->err == 0; i++) {
			entry *e = &b->e[i];
			tx->read++;
			tx->padded += e->shape == SHAPE_PADDED;
			tx->truncated += e->shape == SHAPE_TRUNCATED;
			if (e->code == 0) {
				tx->loaded += !g->sp; /* spilled rows count when merged */
				continue;
			}
			tx->rejected++;
			int k = sl_error_index(e->code);
			if (k >= 0)
				tx->by_code[k]++;
			sl_reject r = {e->record, e->line, e->offset, e->column,
			               e->code,   e->msg,  e->raw};
			const char *col = e->column >= 0 ? sc->cols[e->column].name : NULL;
			if (g->st)
				tx->err =
				    g->ops->reject_insert(g->st, g->job.id, tx->c->seq, &r, col);
			else if (g->o->reject && g->o->reject(g->o->reject_ctx, tx->c->seq, &r, col) != 0)
				tx->err = SL_INTERNAL; /* the caller stopped the listing */
		}
	}
	while (tx->ghead) {
		batch *b = tx->ghead;
		tx->ghead = b->next;
		batch_put(g, b);
	}
	tx->gtail = NULL;
	tx->grows = 0;
	if (tx->err == 0)
		progress(g, tx, tx->end_offset);
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

/* Insert one row of the merged runs (key order, earliest first). */
static int merge_insert(void *ctx, const spilled_row *r)
{
	chunk_tx *tx = ctx;
	ingest *g = tx->g;
	const sl_schema *sc = g->schema;
	bool dup = false;
	int rc = g->ops->target_insert(g->st, r->vals, &dup);
	if (rc < 0)
		return tx->err = rc;
	/* the merge is most of a keyed chunk's time: the rows written so far
	   are what the progress bar counts then (every byte is read already) */
	if ((tx->loaded + tx->rejected) % 16384 == 0)
		progress(g, tx, tx->end_offset);
	if (!dup) {
		tx->loaded++;
		return 0;
	}
	entry e = {.record = r->record, .line = r->line, .offset = r->offset, .raw = r->raw};
	mark_dup(tx, &e);
	/* name the key and the job whose row holds it: the user's next
	   question is which load came first */
	char owner[SL_JOB_ID_LEN] = "", text[512];
	if ((rc = g->ops->target_key_owner(g->st, r->vals, owner)) < 0)
		return tx->err = rc;
	dup_msg(sc, r->vals, owner, g->job.id, text, sizeof text);
	e.msg = sl_str_make(text, strlen(text));
	tx->rejected++;
	tx->by_code[sl_error_index(SL_DUP_KEY)]++;
	sl_reject rj = {e.record, e.line, e.offset, e.column, e.code, e.msg, e.raw};
	return tx->err = g->ops->reject_insert(g->st, g->job.id, tx->c->seq, &rj, sc->cols[e.column].name);
}

/* Free what a failed attempt left in its group. */
static void tx_discard(chunk_tx *tx)
{
	while (tx->ghead) {
		batch *b = tx->ghead;
		tx->ghead = b->next;
		batch_put(tx->g, b);
	}
	tx->gtail = NULL;
	tx->grows = 0;
	if (tx->g->sp)
		sl__spill_reset(tx->g->sp);
	free(tx->srows);
	tx->srows = NULL;
	tx->srows_cap = 0;
	free(tx->order);
	free(tx->vptrs);
	tx->order = NULL;
	tx->vptrs = NULL;
	tx->order_cap = tx->many_cap = 0;
}

/* Write a chunk's row, the job's row (when `job`) and an event into the
   open transaction and commit it; roll back if any step fails. */
static int record_chunk(ingest *g, const sl_chunk *c, bool job, const sl_event *ev)
{
	int rc = g->ops->chunk_update(g->st, g->job.id, c);
	if (rc == 0 && job)
		rc = g->ops->job_update(g->st, &g->job);
	if (rc == 0)
		rc = g->ops->event_insert(g->st, ev);
	if (rc == 0)
		rc = g->ops->commit(g->st);
	if (rc < 0)
		g->ops->rollback(g->st);
	return rc;
}

/* A small transaction of its own: chunk Processing, attempts + 1, start event. */
static int chunk_start(ingest *g, sl_chunk *c)
{
	if (!g->st)
		return 0;
	sl_chunk saved = *c;
	c->status = SL_CHUNK_PROCESSING;
	c->attempts++;
	sl_event ev = {g->job.id, c->seq, "chunk_start", 0, 0, 0, 0, NULL};
	int rc = g->ops->begin(g->st);
	if (rc == 0)
		rc = record_chunk(g, c, false, &ev);
	if (rc < 0)
		*c = saved;
	return rc;
}

static uint64_t budget_rejects(const ingest *g);

static sl_job_status final_status(const ingest *g)
{
	return (g->job.chunks_failed || budget_rejects(g)) ? SL_JOB_PARTIAL : SL_JOB_SUCCEEDED;
}

/* The checkpoint: chunk counters into the job, chunk Succeeded, end event, commit. */
static int chunk_commit(ingest *g, chunk_tx *tx, double t0)
{
	sl_chunk *c = tx->c;
	sl_job saved = g->job;
	sl_chunk csaved = *c;
	int rc;
	if (tx->read != tx->loaded + tx->rejected || tx->read != c->records_planned) {
		say(g, "internal error: chunk %u read %llu rows (planned %llu) but loaded %llu + rejected %llu",
		    c->seq, (unsigned long long)tx->read, (unsigned long long)c->records_planned,
		    (unsigned long long)tx->loaded, (unsigned long long)tx->rejected);
		return SL_INTERNAL;
	}
	c->status = SL_CHUNK_SUCCEEDED;
	c->rows_read = tx->read;
	c->rows_loaded = tx->loaded;
	c->rows_rejected = tx->rejected;
	c->duration_ms = (int64_t)((sl_now() - t0) * 1000);
	c->last_error = 0;
	c->last_message[0] = 0;
	sl_job *j = &g->job;
	j->rows_read += tx->read;
	j->rows_loaded += tx->loaded;
	j->rows_rejected += tx->rejected;
	j->records_padded += tx->padded;
	j->records_truncated += tx->truncated;
	for (int k = 0; k < SL_ERROR_COUNT; k++)
		j->rejects_by_code[k] += tx->by_code[k];
	j->chunks_processed++;
	j->chunks_succeeded++;
	j->bytes_done += c->length;
	j->updated_ms = sl_now_ms();
	if (!g->st)
		return 0;
	sl_event ev = {j->id, c->seq, "chunk_end", tx->read, tx->loaded, tx->rejected, c->duration_ms, NULL};
	rc = record_chunk(g, c, true, &ev); /* the transaction the chunk's rows are in */
	if (rc < 0) {
		*j = saved;
		*c = csaved;
	}
	return rc;
}

static void backoff(int attempt);

/* The chunk failed for good (attempts used up): say so, in its own transaction. */
static int chunk_fail(ingest *g, sl_chunk *c, int err, const char *why)
{
	c->status = SL_CHUNK_FAILED;
	c->last_error = err;
	snprintf(c->last_message, sizeof c->last_message, "%s", why);
	g->job.chunks_failed++;
	g->job.chunks_processed++;
	g->job.updated_ms = sl_now_ms();
	if (!g->st)
		return 0;
	sl_event ev = {g->job.id, c->seq, "chunk_failed", 0, 0, 0, 0, why};
	int rc = 0;
	for (int attempt = 1; attempt <= 3; attempt++) {
		rc = g->ops->begin(g->st);
		if (rc == 0)
			rc = record_chunk(g, c, true, &ev);
		if (rc == 0)
			break;
		if (sl_error_class(rc) != SL_CLASS_RETRY)
			break;
		backoff(attempt);
	}
	return rc;
}

static void backoff(int attempt)
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
static void slot_drain(ingest *g, slot *s)
{
	batch *b;
	while ((b = slot_pop(g, s)))
		batch_put(g, b);
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

static bool budget_exceeded(ingest *g)
{
	const sl_job *j = &g->job;
	uint64_t bad = budget_rejects(g);
	if (g->has_max_errors && bad > g->max_errors) {
		say(g, "error budget exceeded: %llu rows rejected, max_errors is %llu",
		    (unsigned long long)bad, (unsigned long long)g->max_errors);
		return true;
	}
	if (g->has_max_ratio && j->rows_read > 0 && (double)bad / (double)j->rows_read > g->max_ratio) {
		say(g, "error budget exceeded: %llu of %llu rows rejected (%.2f %%), max_error_ratio is %g",
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
static bool what_changed(const ingest *g, const struct stat *st, char *out, size_t n)
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
	if (fstat(g->fd, &st) < 0 || !what_changed(g, &st, how, sizeof how))
		snprintf(how, sizeof how, "size and modification time are as planned");
	snprintf(out, n,
	         "the file changed while the job ran: the content hash of bytes %llu..%llu differs "
	         "from the plan; %s",
	         (unsigned long long)c->offset, (unsigned long long)(c->offset + c->length), how);
}

/*
 * Write pending chunk k. The first attempt takes the worker's batches from
 * the slot; a retry re-reads the chunk on this thread. Returns 0 when the
 * chunk is done (Succeeded or Failed for good), <0 for a fatal error.
 */
static int write_chunk(ingest *g, worker *self, size_t k)
{
	slot *s = &g->slots[k % g->nslots];
	sl_chunk *c = &g->chunks[g->pending[k]];
	int max_attempts = g->o->max_attempts > 0 ? g->o->max_attempts : 3;
	bool from_slot = true, input_failed = false;
	int rc = 0;
	char why[300] = "";

	for (int attempt = 1;; attempt++) {
		chunk_tx tx = {.g = g, .c = c};
		double t0 = sl_now();
		rc = chunk_start(g, c);
		if (rc == 0 && g->st)
			rc = g->ops->begin(g->st);
		if (rc == 0) {
			chunk_result res;
			if (from_slot) {
				batch *b;
				while ((b = slot_pop(g, s)))
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
				rc = produce(self, c, apply_batch, &tx, &res);
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
			if (rc == 0 && tx.grows)
				rc = flush_group(&tx);
			if (rc == 0 && g->sp)
				rc = sl__spill_merge(g->sp, merge_insert, &tx);
			if (rc == 0 && tx.err)
				rc = tx.err;
			if (rc == 0)
				rc = chunk_commit(g, &tx, t0);
		}
		tx_discard(&tx);
		if (rc == 0)
			break;
		if (g->st)
			g->ops->rollback(g->st);
		if (from_slot) {
			slot_drain(g, s);
			from_slot = false;
		}
		if (!why[0] || sl_error_class(rc) == SL_CLASS_RETRY)
			snprintf(why, sizeof why, "chunk %u: %s%s%s", c->seq, sl_error_message(rc),
				 g->st ? ": " : "", g->st ? sl_store_errmsg(g->st) : "");
		if (sl_error_class(rc) != SL_CLASS_RETRY) {
			if (!g->msg[0])
				say(g, "%s", why);
			/* the chunk in flight is Failed with the reason, never left
			   Processing; the job fails with the same code */
			if (input_failed)
				chunk_fail(g, c, rc, why);
			return rc; /* fatal */
		}
		if (attempt >= max_attempts) {
			if (chunk_fail(g, c, rc, why) < 0) {
				/* not even the failure could be recorded (a full disk, a
				   lock held for good): stop with the first reason; the
				   chunk stays Processing and runs again on resume */
				say(g, "%s (after %d attempts); the job stops and resumes with 'sluice resume %s'",
				    why, attempt, g->job.id);
				return rc;
			}
			return 0;
		}
		backoff(attempt);
	}
	return 0;
}

/* --- the run -------------------------------------------------------------- */

/*
 * Rows appended while the job runs are not part of it: the job loads the
 * file as it was when it was planned (its chunks end at the planned size).
 * Say so: a warning on the job, or IO_CHANGED with opts.strict_source.
 */
static int source_check(ingest *g)
{
	struct stat st;
	if (g->fd < 0 || fstat(g->fd, &st) < 0 || (uint64_t)st.st_size <= g->job.file_size)
		return 0;
	char w[512];
	snprintf(
	    w, sizeof w,
	    "the file grew from %llu to %llu bytes while the job ran; the job loads it as it was "
	    "planned (%llu bytes); the bytes appended are not loaded",
	    (unsigned long long)g->job.file_size, (unsigned long long)st.st_size,
	    (unsigned long long)g->job.file_size);
	if (g->o->strict_source) {
		say(g, "%s (--strict-source)", w);
		return SL_IO_CHANGED;
	}
	if (g->job.warnings && strstr(g->job.warnings, "the file grew"))
		return 0; /* said once */
	size_t have = g->job.warnings ? strlen(g->job.warnings) : 0, n = strlen(w);
	char *all = realloc(g->job.warnings, have + n + 2);
	if (!all)
		return SL_NOMEM;
	memcpy(all + have, w, n);
	all[have + n] = '\n';
	all[have + n + 1] = '\0';
	g->job.warnings = all;
	return 0;
}

/* Asked to stop? A cancel request in the store (any process may file it:
   sl_job_cancel), or the caller's pause (a scheduler sharing the machine). */
static bool stop_requested(ingest *g)
{
	if (g->st && g->ops->cancel_get(g->st, g->job.id) == 1) {
		g->cancelled = true;
		return true;
	}
	if (g->o->pause && g->o->pause(g->o->pause_ctx)) {
		g->paused = true;
		return true;
	}
	return false;
}

static void test_kill_point(const char *name);

static int run_chunks(ingest *g)
{
	int rc = 0, threads = g->o->threads > 0 ? g->o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t *tids = NULL;
	int started = 0;
	worker self;
	bool self_ok = false;

	if (threads < 1)
		threads = 1;
	if ((size_t)threads > g->npending)
		threads = g->npending ? (int)g->npending : 1;
	/* One slot per worker: the writer is the bottleneck, so a worker that
	   runs ahead by more than one chunk would only hold memory. */
	g->nslots = (size_t)threads;
	g->slots = calloc(g->nslots, sizeof *g->slots);
	tids = calloc((size_t)threads, sizeof *tids);
	if (!g->slots || !tids) {
		rc = SL_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < g->nslots; i++) {
		pthread_mutex_init(&g->slots[i].mu, NULL);
		pthread_cond_init(&g->slots[i].cv, NULL);
		g->slots[i].want = i;
	}
	if ((rc = worker_setup(&self, g)) < 0)
		goto out;
	self_ok = true;
	if (g->st && g->schema->nkey && g->schema->on_duplicate != SL_DUP_UPDATE &&
	    (rc = sl__spill_open(g->schema, &g->sp)) < 0) {
		say(g, "cannot create a temporary file in %s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		goto out;
	}
	atomic_init(&g->next, 0);
	atomic_init(&g->abort, 0);
	for (; started < threads; started++)
		if (pthread_create(&tids[started], NULL, worker_main, g) != 0)
			break;
	if (started == 0) {
		rc = SL_NOMEM;
		goto out;
	}
	for (size_t k = 0; k < g->npending; k++) {
		slot *s = &g->slots[k % g->nslots];
		test_pause(g, &g->chunks[g->pending[k]]);
		rc = write_chunk(g, &self, k);
		if (rc < 0)
			break;
		if (k + 1 == g->npending)
			test_kill_point("last_chunk");
		progress_chunk(g, &g->chunks[g->pending[k]]);
		/* the chunk is done: wait for its worker to finish, drop what it
		   sent for a chunk the writer redid itself, then hand the slot to
		   chunk k + nslots (never drain after that: it is theirs) */
		pthread_mutex_lock(&s->mu);
		while (!s->done)
			pthread_cond_wait(&s->cv, &s->mu);
		pthread_mutex_unlock(&s->mu);
		slot_drain(g, s);
		pthread_mutex_lock(&s->mu);
		s->done = false;
		s->want = k + g->nslots;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		if (budget_exceeded(g)) {
			rc = SL_LIMIT;
			break;
		}
		if ((rc = source_check(g)) < 0)
			break;
		/* between chunks, the only place a run may stop cleanly: every
		   committed chunk is whole, the rest stay Queued */
		if (k + 1 < g->npending && stop_requested(g))
			break;
		sl_chunk *c = &g->chunks[g->pending[k]];
		if (c->status == SL_CHUNK_FAILED && c->last_error == SL_DB_FULL) {
			/* the next chunks would only fail the same way: stop, keep what
			   is committed, let the user make room and retry */
			rc = SL_DB_FULL;
			say(g, "%s; the chunks left stay queued: make room, then run 'sluice retry %s'",
			    c->last_message, g->job.id);
			break;
		}
	}
out:
	if (started)
		abort_all(g);
	for (int t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	for (size_t i = 0; g->slots && i < g->nslots; i++) {
		batch *b = g->slots[i].head;
		while (b) {
			batch *n = b->next;
			batch_free(b);
			b = n;
		}
		pthread_mutex_destroy(&g->slots[i].mu);
		pthread_cond_destroy(&g->slots[i].cv);
	}
	free(g->slots);
	g->slots = NULL;
	sl__spill_close(g->sp);
	g->sp = NULL;
	if (self_ok)
		worker_teardown(&self);
	free(tids);
	return rc;
}

/* --- planning ------------------------------------------------------------- */

/* Read the header and map the schema's columns to its fields; without a
   header, columns map by position and a record has the schema's count. */
static int map_header(ingest *g)
{
	int rc;
	sl_csv_reader *rd = NULL;
	sl_fd_range range = {g->fd, 0, g->job.file_size};
	sl_csv_record rec;
	char err[1024] = "";
	sl_header_result *hr = NULL;
	free(g->map);
	g->map = calloc(g->schema->ncols + 1, sizeof *g->map);
	if (!g->map)
		return SL_NOMEM;
	if (!g->d.header) {
		g->expected = g->schema->ncols;
		for (size_t i = 0; i < g->schema->ncols; i++)
			g->map[i] = (int)i;
		return 0;
	}
	if (!(hr = malloc(sizeof *hr)))
		return SL_NOMEM;
	if ((rc = sl_csv_reader_new(&g->d, SL_CSV_SCAN_AUTO, sl_fd_range_read, &range, 1u << 16, &rd)) < 0)
		goto out;
	rc = sl_csv_reader_next(rd, &rec);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		rc = SL_FATAL_HEADER;
		say(g, "the file is empty: no header row to match the schema's columns against");
		goto out;
	}
	/* the fields the header line really has, whatever the first data record says */
	g->expected = rec.nfields_seen;
	if (rec.error) {
		rc = SL_FATAL_HEADER;
		say(g, "the header row (line %llu) is malformed: %s (%s)", (unsigned long long)rec.line,
		    sl_error_message(rec.error), sl_error_name(rec.error));
		goto out;
	}
	rc = sl_schema_match_header(g->schema, rec.fields, rec.nfields, g->lenient, g->map, hr, err,
	                            sizeof err);
	if (rc < 0) {
		say(g, "%s", err);
		goto out;
	}
	free(g->job.ignored_columns);
	free(g->job.warnings);
	g->job.ignored_columns = hr->nignored ? strdup(hr->ignored) : NULL;
	g->job.warnings = hr->nwarnings ? strdup(hr->warnings) : NULL;
	if ((hr->nignored && !g->job.ignored_columns) || (hr->nwarnings && !g->job.warnings))
		rc = SL_NOMEM;
out:
	free(hr);
	sl_csv_reader_free(rd);
	return rc;
}

static int store_tx(ingest *g, int (*fn)(ingest *g))
{
	if (!g->st)
		return fn(g);
	int rc = 0;
	for (int attempt = 1; attempt <= 5; attempt++) {
		rc = g->ops->begin(g->st);
		if (rc == 0)
			rc = fn(g);
		if (rc == 0)
			rc = g->ops->commit(g->st);
		if (rc == 0)
			return 0;
		g->ops->rollback(g->st);
		if (sl_error_class(rc) != SL_CLASS_RETRY)
			break;
		backoff(attempt);
	}
	return rc;
}

static int tx_job_update(ingest *g)
{
	g->job.updated_ms = sl_now_ms();
	return g->st ? g->ops->job_update(g->st, &g->job) : 0;
}

static int tx_job_insert(ingest *g)
{
	return g->ops->job_insert(g->st, &g->job);
}

static int tx_chunks(ingest *g)
{
	int rc = g->ops->chunks_replace(g->st, g->job.id, g->chunks, g->nchunks);
	return rc < 0 ? rc : g->ops->job_update(g->st, &g->job);
}

static int plan(ingest *g)
{
	sl_csv_plan p;
	int rc;
	g->job.status = SL_JOB_CHUNKING;
	if ((rc = store_tx(g, tx_job_update)) < 0)
		return rc;
	uint64_t cs = g->o->chunk_size ? g->o->chunk_size : DEFAULT_CHUNK;
	if ((rc = sl_csv_split(g->fd, &g->d, SL_CSV_SCAN_AUTO, cs, &p)) < 0) {
		say(g, "%s: %s while splitting the file", g->job.file, sl_error_message(rc));
		return rc;
	}
	free(g->chunks);
	g->chunks = calloc(p.nchunks ? p.nchunks : 1, sizeof *g->chunks);
	if (!g->chunks) {
		sl_csv_plan_free(&p);
		return SL_NOMEM;
	}
	g->nchunks = p.nchunks;
	for (size_t i = 0; i < p.nchunks; i++) {
		sl_chunk *c = &g->chunks[i];
		c->seq = (uint32_t)i;
		c->offset = p.chunks[i].offset;
		c->length = p.chunks[i].length;
		c->hash = p.chunks[i].hash;
		c->first_record = p.chunks[i].start.records;
		c->first_line = p.chunks[i].start.line;
		c->records_planned = p.chunks[i].records;
		c->status = SL_CHUNK_QUEUED;
	}
	g->job.file_hash = p.hash;
	g->job.chunk_size = cs;
	g->job.chunks_total = p.nchunks;
	g->job.bytes_total = p.bytes;
	g->job.status = SL_JOB_QUEUED;
	g->job.updated_ms = sl_now_ms();
	sl_csv_plan_free(&p);
	return g->st ? store_tx(g, tx_chunks) : 0;
}

/* The file as the job must see it: same size and modification time. */
static int fingerprint_ok(ingest *g, const struct stat *st)
{
	char how[160];
	if (!what_changed(g, st, how, sizeof how))
		return 0;
	say(g, "%s changed since job %s was planned: %s; start a new job with --new", g->job.file,
	    g->job.id, how);
	return SL_IO_CHANGED;
}

/*
 * Test only: SLUICE_TEST_KILL=NAME makes the process kill itself (SIGKILL,
 * as kill -9 would) at the named point, so tests can stop it exactly
 * between two commits without sleeping and hoping: "last_chunk" (the last
 * chunk committed, the job not finished yet) and "finished" (the job's
 * final status committed, the process not exited yet). Never set it
 * otherwise.
 */
static void test_kill_point(const char *name)
{
	const char *k = getenv("SLUICE_TEST_KILL");
	if (k && !strcmp(k, name))
		raise(SIGKILL);
}

static int finish_job(ingest *g, int rc)
{
	sl_job *j = &g->job;
	if (rc >= 0 && g->cancelled) {
		j->status = SL_JOB_CANCELLED;
		j->error_code = 0;
		free(j->error_message);
		j->error_message = strdup("cancelled on request");
	} else if (rc < 0) {
		j->status = SL_JOB_FAILED;
		j->error_code = rc;
		if (!g->msg[0])
			say(g, "%s", sl_error_message(rc));
		free(j->error_message);
		j->error_message = strdup(g->msg);
	} else {
		j->status = final_status(g);
		j->error_code = 0;
	}
	j->finished_ms = sl_now_ms();
	if (!g->st)
		return 0;
	sl_event ev = {j->id, -1, "job_end", j->rows_read, j->rows_loaded, j->rows_rejected,
		       j->finished_ms - j->started_ms, j->error_message};
	int r = store_tx(g, tx_job_update);
	if (r == 0 && g->ops->begin(g->st) == 0) {
		g->ops->event_insert(g->st, &ev);
		/* the request is answered: the status says Cancelled now */
		if (g->cancelled)
			g->ops->cancel_set(g->st, j->id, false);
		g->ops->commit(g->st);
	}
	if (r == 0)
		test_kill_point("finished");
	return r;
}

/* The dialect of this run: the job's own when it has one (a resume reads
   the file as it was started), else the schema's with the caller's
   overrides; as text for the job (its identity, with the content). */
static int effective_dialect(ingest *g, bool job_known)
{
	const sl_ingest_opts *o = g->o;
	sl_schema *sc = g->schema;
	g->d = o->dialect ? *o->dialect : sc->dialect;
	sc->null_padding |= o->null_padding;
	if (o->has_nulls) {
		char **n = calloc(o->nnulls ? o->nnulls : 1, sizeof *n);
		if (!n)
			return SL_NOMEM;
		for (size_t i = 0; i < sc->nnulls; i++)
			free(sc->nulls[i]);
		free(sc->nulls);
		sc->nulls = n;
		sc->nnulls = 0;
		for (size_t i = 0; i < o->nnulls; i++, sc->nnulls++) /* the schema frees them */
			if (!(n[i] = strdup(o->nulls[i])))
				return SL_NOMEM;
	}
	if (job_known && g->job.dialect) {
		char **n = NULL;
		size_t nn = 0;
		int rc = sl__dialect_parse(g->job.dialect, &g->d, &sc->null_padding, &n, &nn);
		if (rc < 0 || !n) {
			for (size_t i = 0; i < nn; i++)
				free(n[i]);
			free(n);
			say(g, "job %s: its recorded dialect '%.200s' cannot be read", g->job.id,
			    g->job.dialect);
			return rc < 0 ? rc : SL_INTERNAL;
		}
		for (size_t i = 0; i < sc->nnulls; i++)
			free(sc->nulls[i]);
		free(sc->nulls);
		sc->nulls = n;
		sc->nnulls = nn;
	}
	const char *why;
	if (sl_csv_dialect_check(&g->d, &why)) {
		say(g, "dialect: %s", why);
		return SL_CONFIG;
	}
	g->lenient = g->d.lenient_quotes;
	g->pad = sc->null_padding || g->lenient;
	return sl__dialect_text(&g->d, sc->null_padding, sc->nulls, sc->nnulls, &g->dialect_text);
}

/* XXH3-64 of the whole file (what planning computes), for comparing with
   earlier jobs before a new one is planned. */
static int file_hash(int fd, uint64_t *out)
{
	XXH3_state_t *xx = XXH3_createState();
	char *buf = malloc(1u << 20);
	int rc = 0;
	if (!xx || !buf) {
		rc = SL_NOMEM;
		goto out;
	}
	XXH3_64bits_reset(xx);
	for (off_t off = 0;;) {
		ssize_t n = pread(fd, buf, 1u << 20, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = SL_IO_READ;
			goto out;
		}
		if (n == 0)
			break;
		XXH3_64bits_update(xx, buf, (size_t)n);
		off += n;
	}
	*out = XXH3_64bits_digest(xx);
out:
	XXH3_freeState(xx);
	free(buf);
	return rc;
}

/* Has a finished job loaded this content already (same size and hash,
   schema, dialect, table)? 1 and *prev, 0 no. Only a candidate of the same
   size makes the file be read for its hash. */
static int find_loaded(ingest *g, const struct stat *st, sl_job *prev)
{
	uint64_t size = (uint64_t)st->st_size, h;
	int rc = g->ops->job_find_loaded(g->st, g->schema->table, g->schema->hash, size, NULL,
	                                 g->dialect_text, prev);
	if (rc <= 0)
		return rc;
	sl_job_clear(prev);
	if ((rc = file_hash(g->fd, &h)) < 0) {
		say(g, "%s: %s", g->job.file ? g->job.file : "the file", strerror(errno));
		return rc;
	}
	rc = g->ops->job_find_loaded(g->st, g->schema->table, g->schema->hash, size, &h,
	                             g->dialect_text, prev);
	if (rc == 1 && g->job.id[0] && !strcmp(prev->id, g->job.id))
		rc = 0; /* itself (cannot be: it is not finished) */
	return rc;
}

/* An upload's job whose content was loaded already: finish it pointing at
   the earlier job, with that job's status, loading nothing. */
static int tx_same_as(ingest *g)
{
	sl_job *j = &g->job;
	sl_event ev = {j->id, -1, "job_end", 0, 0, 0, 0, j->error_message};
	int rc = g->ops->job_update(g->st, j);
	return rc < 0 ? rc : g->ops->event_insert(g->st, &ev);
}

static int lock_job(ingest *g, const char *db)
{
	char path[4200];
	sl__job_lock_path(db, g->job.id, path, sizeof path);
	g->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (g->lockfd < 0) {
		say(g, "%s: %s", path, strerror(errno));
		return SL_IO_OPEN;
	}
	if (flock(g->lockfd, LOCK_EX | LOCK_NB) < 0) {
		say(g, "job %s is being run by another process (lock %s)", g->job.id, path);
		return SL_CONFLICT;
	}
	snprintf(g->lockpath, sizeof g->lockpath, "%s", path);
	return 0;
}

int sl_ingest(const sl_ingest_opts *o, sl_ingest_result *res)
{
	ingest G = {0}, *g = &G;
	int rc = 0;
	char err[512] = "";
	char *path = NULL;
	struct stat st;
	bool job_known = false;

	memset(res, 0, sizeof *res);
	g->o = o;
	g->msg = res->message;
	g->msglen = sizeof res->message;
	g->fd = -1;
	g->lockfd = -1;
	g->t0 = sl_now();
	g->ops = &sl__store_sqlite;
	pthread_mutex_init(&g->free_mu, NULL);

	/* the store, unless this is a dry run */
	if (!o->dry_run) {
		rc = sl__store_open(o->db ? o->db : "sluice.db", o->busy_timeout_ms, &g->st);
		if (g->st)
			g->ops = g->st->ops;
		if (rc < 0) {
			say(g, "database %s: %s", o->db ? o->db : "sluice.db",
			    g->st ? sl_store_errmsg(g->st) : sl_error_message(rc));
			goto out;
		}
	}

	/* which job: a named one, an unfinished one for this file, or a new one */
	const char *file = o->file, *schema_path = o->schema_path;
	if (o->job_id) {
		if (!g->st) {
			rc = SL_INVAL;
			goto out;
		}
		rc = g->ops->job_get(g->st, o->job_id, &g->job);
		if (rc <= 0) {
			if (rc == 0) {
				rc = SL_NOT_FOUND;
				say(g, "no job %s in %s", o->job_id, o->db ? o->db : "sluice.db");
			}
			goto out;
		}
		job_known = true;
		file = g->job.file;
		schema_path = g->job.schema_path;
	}
	if ((rc = sl_schema_load(schema_path, &g->schema, err, sizeof err)) < 0) {
		say(g, "%s", err);
		if (rc == SL_IO_OPEN)
			rc =
			    SL_CONFIG; /* a missing or unreadable schema is a configuration error */
		goto out;
	}
	if ((rc = effective_dialect(g, job_known)) < 0)
		goto out;
	g->has_max_errors = o->has_max_errors || g->schema->has_max_errors;
	g->max_errors = o->has_max_errors ? o->max_errors : g->schema->max_errors;
	g->has_max_ratio = o->has_max_error_ratio || g->schema->has_max_error_ratio;
	g->max_ratio = o->has_max_error_ratio ? o->max_error_ratio : g->schema->max_error_ratio;

	if ((g->fd = open(file, O_RDONLY | O_CLOEXEC)) < 0 || fstat(g->fd, &st) < 0) {
		rc = SL_IO_OPEN;
		say(g, "%s: %s", file, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = SL_IO_OPEN;
		say(g, "%s: not a regular file", file);
		goto out;
	}
	if (!(path = realpath(file, NULL))) {
		rc = SL_IO_OPEN;
		say(g, "%s: %s", file, strerror(errno));
		goto out;
	}

	if (!job_known && g->st && !o->new_job) {
		rc = g->ops->job_find_open(g->st, path, g->schema->table, g->schema->hash, &g->job);
		if (rc < 0)
			goto out;
		job_known = rc == 1;
		if (job_known && g->job.dialect && !sl__dialect_same(g->job.dialect, g->dialect_text)) {
			rc = SL_INVAL;
			say(g,
			    "job %s for this file is unfinished and reads it with another dialect "
			    "(%s); "
			    "resume it with the options it was started with ('sluice resume %s'), "
			    "or "
			    "start a new job with --new",
			    g->job.id, g->job.dialect, g->job.id);
			goto out;
		}
	}
	/* the same content loaded already by a finished job: report it, load
	   nothing (a new file, or an upload's job that has not started) */
	if (g->st && !o->new_job && (!job_known || g->job.status == SL_JOB_ACCEPTED)) {
		sl_job prev = {0};
		rc = find_loaded(g, &st, &prev);
		if (rc < 0) {
			sl_job_clear(&prev);
			goto out;
		}
		if (rc == 1) {
			res->already_loaded = true;
			rc = 0;
			if (!job_known) {
				sl_job_clear(&g->job);
				g->job = prev;
				goto out;
			}
			g->job.status = prev.status;
			g->job.error_code = prev.error_code; /* a Failed one says why, as its model */
			memcpy(g->job.same_as, prev.id, sizeof g->job.same_as);
			free(g->job.error_message);
			free(g->job.dialect);
			g->job.dialect = strdup(g->dialect_text);
			g->job.error_message = NULL;
			char m[256];
			snprintf(m, sizeof m,
			         "the same content was loaded by job %s (%s); nothing loaded",
			         prev.id, sl_job_status_name(prev.status));
			g->job.error_message = strdup(m);
			g->job.finished_ms = g->job.updated_ms = sl_now_ms();
			sl_job_clear(&prev);
			if ((rc = store_tx(g, tx_same_as)) < 0)
				say(g, "database: %s", sl_store_errmsg(g->st));
			goto out;
		}
	}
	if (job_known) {
		if (g->job.schema_hash != g->schema->hash) {
			rc = SL_IO_CHANGED;
			say(g, "the schema %s changed since job %s was planned", schema_path, g->job.id);
			goto out;
		}
		if ((rc = fingerprint_ok(g, &st)) < 0)
			goto out;
		if (o->retry) {
			if (g->job.status == SL_JOB_ROLLEDBACK) {
				rc = SL_INVAL;
				say(g, "job %s was rolled back; run a new job instead", g->job.id);
				goto out;
			}
		} else if (sl_job_status_final(g->job.status)) {
			rc = SL_INVAL;
			say(g, "job %s is %s already; 'sluice retry %s' runs its failed chunks again",
			    g->job.id, sl_job_status_name(g->job.status), g->job.id);
			goto out;
		}
		res->resumed = true;
	} else {
		if ((rc = sl__job_init(&g->job, path, &st, g->schema, schema_path, o->correlation_id)) < 0)
			goto out;
		if (!(g->job.dialect = strdup(g->dialect_text))) {
			rc = SL_NOMEM;
			goto out;
		}
		if (g->st && (rc = store_tx(g, tx_job_insert)) < 0) {
			say(g, "database: %s", sl_store_errmsg(g->st));
			goto out;
		}
	}

	/* One process per job: a second `sluice ingest` of the same unfinished
	   job would commit its chunks twice. The kernel drops the lock when
	   the process dies, kill -9 included. (Scale-out brings leases.) */
	if (g->st && (rc = lock_job(g, o->db ? o->db : "sluice.db")) < 0)
		goto out;
	if (g->st && res->resumed) {
		/* the job as it is now that we hold its lock: a cancel (which
		   takes the lock too) may have finished it meanwhile */
		char id[SL_JOB_ID_LEN];
		memcpy(id, g->job.id, sizeof id);
		sl_job_clear(&g->job);
		if ((rc = g->ops->job_get(g->st, id, &g->job)) <= 0) {
			rc = rc < 0 ? rc : SL_INTERNAL;
			goto out;
		}
		if (!o->retry && sl_job_status_final(g->job.status)) {
			rc = SL_INVAL;
			say(g, "job %s is %s already", g->job.id, sl_job_status_name(g->job.status));
			goto out;
		}
	}
	if (g->st) {
		/* a retry is the user asking to run it again: an old cancel
		   request is void; otherwise a pending one stops it at once */
		if (o->retry) {
			if ((rc = g->ops->begin(g->st)) == 0 && (rc = g->ops->cancel_set(g->st, g->job.id, false)) == 0)
				rc = g->ops->commit(g->st);
			if (rc < 0) {
				g->ops->rollback(g->st);
				goto out;
			}
		} else if (g->ops->cancel_get(g->st, g->job.id) == 1) {
			g->cancelled = true;
		}
	}

	/* from here on the job exists: failures are recorded on it */
	if (!g->job.dialect && !(g->job.dialect = strdup(g->dialect_text))) {
		rc = SL_NOMEM;
		goto fail;
	}
	if ((rc = map_header(g)) < 0)
		goto fail;
	if (g->job.status == SL_JOB_ACCEPTED || g->job.status == SL_JOB_CHUNKING) {
		if ((rc = plan(g)) < 0)
			goto fail;
	} else if (g->st) {
		if ((rc = g->ops->chunks_get(g->st, g->job.id, &g->chunks, &g->nchunks)) < 0)
			goto fail;
	}
	if (g->st && (rc = g->ops->target_prepare(g->st, g->schema, g->job.id)) < 0) {
		say(g, "target table %s: %s", g->schema->table, sl_store_errmsg(g->st));
		goto fail;
	}

	/* a run that continues what an earlier run started (after a kill, a
	   pause, a cancel or a failure) is a resume; the first run of an
	   accepted job is not. Kept on the job, so every reader says so. */
	res->resumed = g->job.started_ms != 0;
	if (res->resumed)
		g->job.resumed = true;

	/* which chunks to run */
	g->pending = calloc(g->nchunks ? g->nchunks : 1, sizeof *g->pending);
	if (!g->pending) {
		rc = SL_NOMEM;
		goto fail;
	}
	for (size_t i = 0; i < g->nchunks; i++) {
		sl_chunk *c = &g->chunks[i];
		if (c->status == SL_CHUNK_FAILED && o->retry) {
			c->status = SL_CHUNK_QUEUED;
			c->attempts = 0;
			g->job.chunks_failed--;
			g->job.chunks_processed--;
		}
		if (c->status == SL_CHUNK_QUEUED || c->status == SL_CHUNK_PROCESSING)
			g->pending[g->npending++] = i;
		g->rows_planned += c->records_planned;
	}
	g->job.status = SL_JOB_PROCESSING;
	g->job.error_code = 0;
	free(g->job.error_message);
	g->job.error_message = NULL;
	if (!g->job.started_ms)
		g->job.started_ms = sl_now_ms();
	if ((rc = store_tx(g, tx_job_update)) < 0)
		goto fail;
	progress(g, NULL, 0);

	rc = g->cancelled ? 0 : run_chunks(g);
	if (rc == 0 && g->job.rows_read != g->job.rows_loaded + g->job.rows_rejected) {
		rc = SL_INTERNAL;
		say(g, "internal error: the job read %llu rows but loaded %llu + rejected %llu",
		    (unsigned long long)g->job.rows_read, (unsigned long long)g->job.rows_loaded,
		    (unsigned long long)g->job.rows_rejected);
	}
fail:
	progress(g, NULL, 0);
	if (rc >= 0 && g->paused) {
		/* unfinished on purpose: the job stays Processing, its lock file
		   stays, and the next run resumes after the last committed chunk */
		res->paused = true;
		goto out;
	}
	{
		int fr = finish_job(g, rc);
		if (rc >= 0 && fr < 0) {
			rc = fr;
			say(g, "database: %s", sl_store_errmsg(g->st));
		}
	}
	/* a job that ran to a final status is a result, not an error */
	if (rc < 0 && g->job.status == SL_JOB_FAILED)
		rc = 0;
out:
	res->duration_s = sl_now() - g->t0;
	res->job = g->job;
	memset(&g->job, 0, sizeof g->job);
	if (g->st)
		g->ops->close(g->st);
	if (g->fd >= 0)
		close(g->fd);
	if (g->lockfd >= 0) {
		/* a finished job needs no lock file; an unfinished one keeps it */
		if (g->lockpath[0] && sl_job_status_final(res->job.status))
			unlink(g->lockpath);
		close(g->lockfd);
	}
	sl_schema_free(g->schema);
	free(g->chunks);
	free(g->pending);
	free(g->map);
	free(g->dialect_text);
	free(path);
	while (g->free_list) {
		batch *b = g->free_list;
		g->free_list = b->next;
		batch_free(b);
	}
	pthread_mutex_destroy(&g->free_mu);
	return rc;
}

int sl_ingest_rollback(const char *db, const char *id, uint64_t *rows, char *msg, size_t msglen)
{
	sl_store *st = NULL;
	sl_job j = {0};
	int rc = sl__store_open(db ? db : "sluice.db", 5000, &st);
	*rows = 0;
	if (rc < 0) {
		snprintf(msg, msglen, "database: %s", st ? sl_store_errmsg(st) : sl_error_message(rc));
		goto out;
	}
	rc = st->ops->job_get(st, id, &j);
	if (rc <= 0) {
		if (rc == 0)
			snprintf(msg, msglen, "no job %s", id);
		rc = rc == 0 ? SL_NOT_FOUND : rc;
		goto out;
	}
	if (!sl_job_status_final(j.status) || j.status == SL_JOB_ROLLEDBACK) {
		rc = SL_CONFLICT;
		snprintf(msg, msglen, j.status == SL_JOB_ROLLEDBACK ? "job %s is %s already"
				      : "job %s is %s: let it finish (or cancel it) before rolling it back",
			 id, sl_job_status_name(j.status));
		goto out;
	}
	if ((rc = st->ops->begin(st)) == 0 &&
	    (rc = st->ops->target_delete_job(st, j.table, j.id, rows)) == 0) {
		j.status = SL_JOB_ROLLEDBACK;
		j.updated_ms = sl_now_ms();
		sl_event ev = {j.id, -1, "rollback", 0, *rows, 0, 0, NULL};
		if ((rc = st->ops->job_update(st, &j)) == 0 && (rc = st->ops->event_insert(st, &ev)) == 0)
			rc = st->ops->commit(st);
	}
	if (rc < 0) {
		snprintf(msg, msglen, "database: %s", sl_store_errmsg(st));
		st->ops->rollback(st);
	}
out:
	sl_job_clear(&j);
	if (st)
		st->ops->close(st);
	return rc;
}
