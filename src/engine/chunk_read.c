/*
 * Reading a chunk: a worker parses and validates the records of one chunk
 * (a ranged reader of the job's source at its offset, from the chunk's
 * access point when the source is compressed, hashing what it reads
 * against the plan), converts
 * good rows to storage form and hands batches of rows and rejects to the
 * chunk's slot, where the writer (chunk_write.c) takes them in file order.
 * The per-record path (take_record, batch_add) stays in this translation
 * unit: it runs once per row.
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

/* --- producing: parse and validate one chunk ------------------------------ */

/* A read function over a chunk's range that hashes what it reads, so a file
   changed since planning is caught before its rows commit. */
typedef struct hashed_range {
	sl_source_reader *r;
	XXH3_state_t *xx;
} hashed_range;

static ssize_t hashed_read(void *ctx, char *buf, size_t cap)
{
	hashed_range *h = ctx;
	ssize_t n = sl_source_read(h->r, buf, cap);
	if (n > 0)
		XXH3_64bits_update(h->xx, buf, (size_t)n);
	return n;
}

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
		int rc =
		    sl_value_convert(w->v, i, f, &w->vals[i], w->conv + used, &u, msg, sizeof msg);
		if (rc == 0 && w->vals[i].kind == SL_VALUE_NULL) {
			for (size_t k = 0; k < sc->nkey; k++) {
				if (sc->key[k] == i) {
					rc = SL_VAL_REQUIRED;
					snprintf(msg, sizeof msg,
					         "%s is part of the key and cannot be empty",
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

int sl__ingest_produce(worker *w, const sl_chunk *c, emit_fn emit, void *ectx, chunk_result *res)
{
	ingest *g = w->g;
	int rc;
	sl_csv_reader *rd = NULL;
	hashed_range h = {NULL, XXH3_createState()};
	batch *b = NULL;
	sl_csv_record rec;
	sl_buf at;

	memset(res, 0, sizeof *res);
	/* Test only: SLUICE_TEST_KILL_CHUNK=SEQ, a poison chunk: the process
	   that starts reading chunk SEQ SIGKILLs itself (docs/ingest.md) */
	const char *poison = getenv("SLUICE_TEST_KILL_CHUNK");
	if (poison && *poison >= '0' && *poison <= '9' && strtoul(poison, NULL, 10) == c->seq)
		raise(SIGKILL);
	sl_buf_init(&at, 1u << 20);
	if (!h.xx) {
		rc = SL_NOMEM;
		goto out;
	}
	XXH3_64bits_reset(h.xx);
	/* the spool of this run's decoded bytes, else the source from the
	   chunk's access point */
	if (g->spool)
		rc = sl_source_open_range(g->spool, c->offset, c->length, NULL, 0, &h.r);
	else if ((rc = sl__ingest_point(g, c->seq, &at)) == 0)
		rc = sl_source_open_range(g->src, c->offset, c->length, at.p, at.len, &h.r);
	if (rc < 0)
		goto out;
	size_t bufsize = c->length < (1u << 20) ? (size_t)c->length + 64 : 0;
	if ((rc = sl_csv_reader_new(&g->d, SL_CSV_SCAN_AUTO, hashed_read, &h, bufsize, &rd)) < 0)
		goto out;
	if (c->seq > 0 || !g->d.header) {
		/* without a header the schema says how many fields a record has,
		   from the first record on */
		sl_csv_pos pos = {c->offset, c->first_record, c->first_line};
		sl_csv_parser_start_at(sl_csv_reader_parser(rd), &pos, g->expected);
	}
	if (!(b = sl__ingest_batch_get(g))) {
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
				if (!(b = sl__ingest_batch_get(g))) {
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
		         (unsigned long long)c->offset,
		         (unsigned long long)(c->offset + c->length));
		goto out;
	}
	rc = emit(ectx, b);
	b = NULL;
out:
	if (rc < 0 && !res->msg[0])
		snprintf(res->msg, sizeof res->msg, "%.250s",
		         h.r && h.r->msg[0] ? h.r->msg : sl_error_message(rc));
	if (rc < 0)
		res->err = rc;
	if (b)
		sl__ingest_batch_put(g, b);
	sl_csv_reader_free(rd);
	sl_source_reader_close(h.r);
	sl_buf_free(&at);
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
	sl__ingest_slot_push(se->g, se->s, b);
	return 0;
}

void sl__ingest_worker_teardown(worker *w)
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
int sl__ingest_worker_setup(worker *w, ingest *g)
{
	memset(w, 0, sizeof *w);
	w->g = g;
	w->conv_cap = g->d.max_row_bytes + 64 * (g->schema->ncols + 1);
	w->conv = malloc(w->conv_cap);
	w->vals = calloc(g->schema->ncols + 1, sizeof *w->vals);
	int rc = !w->conv || !w->vals ? SL_NOMEM : sl_validator_new(g->schema, &w->v);
	if (rc < 0)
		sl__ingest_worker_teardown(w);
	return rc;
}

/*
 * Test-only, documented in docs/ingest.md (Faults): with
 * SLUICE_TEST_PAUSE=SEQ:DIR, the writer about to start chunk SEQ creates
 * DIR/paused (holding the job id) and waits until DIR/go exists. Every chunk
 * before SEQ is committed then and no transaction is open; with one thread
 * the worker has read at most chunk SEQ, so a test can change the file
 * after it, cancel or read the job at a known point without sleeping.
 * `env` names the variable: SLUICE_TEST_PAUSE (before the chunk, the
 * writer of sluice ingest and every runner of sluice worker) or
 * SLUICE_TEST_PAUSE_COMMIT (inside the chunk's transaction, its rows
 * written, just before its commit: the write lock held).
 */
void sl__ingest_test_pause(ingest *g, const sl_chunk *c, const char *env)
{
	const char *e = getenv(env);
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

void *sl__ingest_worker_main(void *arg)
{
	ingest *g = arg;
	worker w;
	int rc = sl__ingest_worker_setup(&w, g);
	for (;;) {
		size_t k = atomic_fetch_add(&g->next, 1);
		slot *s = &g->slots[k % g->nslots];
		/* the writer hands the slot to chunk k once it holds its lease, or
		   closes it (SIZE_MAX) when no chunk is coming */
		pthread_mutex_lock(&s->mu);
		while (s->want != k && s->want != SIZE_MAX && !atomic_load(&g->abort))
			pthread_cond_wait(&s->cv, &s->mu);
		bool closed = s->want != k;
		pthread_mutex_unlock(&s->mu);
		if (closed || atomic_load(&g->abort))
			break;
		chunk_result res;
		if (rc == 0) {
			slot_emit se = {g, s};
			sl_trace("chunk %u: parse starts", s->chunk.seq);
			sl__ingest_produce(&w, &s->chunk, emit_slot, &se, &res);
			sl_trace("chunk %u: parsed", s->chunk.seq);
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
	sl__ingest_worker_teardown(&w);
	return NULL;
}
