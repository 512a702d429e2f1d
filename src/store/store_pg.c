/*
 * The PostgreSQL store: a sink and a job store on one libpq connection, so
 * a chunk's rows, rejects, status, the job's counters and its event commit
 * in one transaction (store.h). The job store's tables live in the
 * `sluice` schema of the target's database (src/pg/pg_migrate.c brings it
 * up to date when the store is opened); the target table is where the
 * schema says, on the connection's search_path.
 *
 * This file is the connection (the backend's opener, sl_txn's ops) and the
 * sink: prepare (src/pg/pg_target.c; a replace or atomic job's own table
 * and its finish: store_pg_modes.c), write and flush (a keyed chunk of
 * reject or ignore spilled as sorted runs, store/spill.h, and at flush
 * merged and COPYed in key order straight into the table; a Citus table's
 * chunk without a key so too, in record order, by one COPY; otherwise, and
 * when the table refuses that COPY, src/pg/pg_copy.c's batches: COPY, the
 * staging table and ON CONFLICT, rows the table refuses handed to the
 * caller's `refused` callback as DB_CONSTRAINT or DB_VALUE), the key's
 * owner (the job and record in "_sluice_job" and "_sluice_rec", the
 * provenance of every row), a displaced row replaced, a job's rows deleted, and rows read back in
 * load order (the records API) by the table's identity column "_sluice_row".
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg_int.h"

/* --- parameters --------------------------------------------------------------- */

void sl__pq_str(pq_params *p, const char *s)
{
	p->v[p->n] = s;
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->n++;
}

void sl__pq_int(pq_params *p, int64_t x)
{
	snprintf(p->num[p->n], sizeof p->num[p->n], "%lld", (long long)x);
	sl__pq_str(p, p->num[p->n]);
}

void sl__pq_bytes(pq_params *p, const char *b, size_t n)
{
	p->v[p->n] = b ? b : "";
	p->len[p->n] = (int)n;
	p->fmt[p->n] = 1;
	p->n++;
}

PGresult *sl__pq_run(pq_store *q, const char *sql, const pq_params *p, int *rc)
{
	PGresult *res = PQexecParams(sl__pg_conn(q->pg), sql, p ? p->n : 0, NULL, p ? p->v : NULL,
	                             p ? p->len : NULL, p ? p->fmt : NULL, 0);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		*rc = 0;
		return res;
	}
	*rc = sl__pg_fail(q->pg, res, "query");
	PQclear(res);
	return NULL;
}

/* --- the connection ------------------------------------------------------------- */

static const char *pq_errmsg(sl_txn *t)
{
	return sl__pg_errmsg(pq_of_txn(t)->pg);
}

static int pq_begin(sl_txn *t)
{
	return sl__pg_begin(pq_of_txn(t)->pg);
}

static int pq_commit(sl_txn *t)
{
	return sl__pg_commit(pq_of_txn(t)->pg);
}

static void pq_rollback(sl_txn *t)
{
	sl__pg_rollback(pq_of_txn(t)->pg);
}

static void pq_close(sl_txn *t)
{
	pq_store *q = pq_of_txn(t);
	sl__pg_writer_free(q->w);
	sl__pg_close(q->pg);
	sl__spill_close(q->sp);
	sl_buf_free(&q->prev);
	free(q->prevkey);
	free(q->grows);
	free(q->gvals);
	free(q->gbytes);
	free(q->key_owner_sql);
	free(q->key_lock_sql);
	free(q->replace_sql);
	free(q->vals);
	free(q->recs);
	free(q->out);
	free(q);
}

/* lock_timeout, and idle_in_transaction_session_timeout once the engine
   has set one (0 is PostgreSQL's "no limit") */
static int pq_settings(pq_store *q)
{
	snprintf(q->session, sizeof q->session,
	         "SET lock_timeout = %d; SET idle_in_transaction_session_timeout = %d", q->lock_ms,
	         q->hold_ms);
	return sl__pg_session_sql(q->pg, q->session);
}

static int pq_hold_limit(sl_txn *t, int ms)
{
	pq_store *q = pq_of_txn(t);
	q->hold_ms = ms > 0 ? ms : 0;
	return pq_settings(q);
}

static const sl_txn_ops pq_txn_ops = {
    .name = "postgres",
    .close = pq_close,
    .errmsg = pq_errmsg,
    .begin = pq_begin,
    .commit = pq_commit,
    .rollback = pq_rollback,
    .hold_limit = pq_hold_limit,
};

/* --- the sink ---------------------------------------------------------------------- */

/* " WHERE k1 = $1 AND k2 = $2 ..." of sc's key. */
static int add_key_where(sl_buf *b, const sl_schema *sc)
{
	int rc = sl__pg_add(b, " WHERE ");
	for (size_t i = 0; i < sc->nkey; i++) {
		char p[32];
		snprintf(p, sizeof p, " = $%zu", i + 1);
		rc |= sl__pg_add(b, i ? " AND " : "") | sl__pg_ident(b, sc->cols[sc->key[i]].name) |
		      sl__pg_add(b, p);
	}
	return rc;
}

static int pq_prepare(sl_sink *k, const sl_schema *sc, const char *job_id)
{
	pq_store *q = pq_of_sink(k);
	/* the target first: a replace or atomic job's own table is made like
	   it (store_pg_modes.c) */
	int rc = sl__pg_table_prepare(q->pg, sc);
	if (rc)
		return rc;
	sl__pg_writer_free(q->w);
	q->w = NULL;
	free(q->key_owner_sql);
	free(q->key_lock_sql);
	q->key_owner_sql = q->key_lock_sql = NULL;
	free(q->replace_sql);
	q->replace_sql = NULL;
	q->schema = sc;
	q->wtable[0] = 0;
	snprintf(q->job_id, sizeof q->job_id, "%s", job_id);
	bool aside = sc->mode > SL_MODE_APPEND;
	if (aside && (rc = sl__pq_mode_prepare(q, sc, job_id)) < 0)
		return rc;
	rc = sl__pg_writer_new(q->pg, aside ? &q->wsc : sc, job_id, &q->w);
	/* atomic, keys not upserted: a key the target holds is a duplicate, as
	   it would be in append mode */
	if (rc == 0 && sc->mode == SL_MODE_ATOMIC && sc->nkey && sc->on_duplicate != SL_DUP_UPDATE)
		rc = sl__pg_writer_dups_in(q->w, sc->table);
	sl__spill_close(q->sp);
	q->sp = NULL;
	free(q->prevkey);
	q->prevkey = NULL;
	/* the sorted COPY cannot see the target's keys from an atomic job's
	   stage: that one writes by batches, which can. A Citus table without
	   a key takes its chunk by one COPY too (in record order): there each
	   statement costs a round of every shard's connections, about 0.1-0.2 s
	   (a batch's COPY of 4,096 rows took 0.2 s, the whole 300,000-row
	   chunk's 2.6 s; docs/scaling.md, Citus) */
	bool one_copy = sc->nkey ? sc->on_duplicate != SL_DUP_UPDATE && sc->mode != SL_MODE_ATOMIC
	                         : sc->distributed;
	if (rc == 0 && one_copy) {
		q->prevkey = calloc(sc->ncols ? sc->ncols : 1, sizeof *q->prevkey);
		if (!q->prevkey)
			rc = SL_NOMEM;
		else if ((rc = sl__spill_open(sc, &q->sp)) < 0)
			rc = sl__pg_seterr(q->pg, rc, "cannot create a temporary file in %s",
			                   getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	}
	if (rc == 0 && sc->nkey) {
		/* the table the job writes; atomic: the target first (another
		   job's row), then the stage (an earlier record of this job) */
		sl_buf b;
		sl_buf_init(&b, 1 << 16);
		if (sc->mode == SL_MODE_ATOMIC)
			rc =
			    sl__pg_add(&b, "SELECT j, r FROM (SELECT 0 AS o, \"_sluice_job\" AS j,"
			                   " \"_sluice_rec\" AS r FROM ") |
			    sl__pg_ident(&b, sc->table) | add_key_where(&b, sc) |
			    sl__pg_add(
			        &b, " UNION ALL SELECT 1, \"_sluice_job\", \"_sluice_rec\" FROM ") |
			    sl__pg_ident(&b, q->wtable) | add_key_where(&b, sc) |
			    sl__pg_add(&b, ") x ORDER BY o");
		else
			rc = sl__pg_add(&b, "SELECT \"_sluice_job\", \"_sluice_rec\" FROM ") |
			     sl__pg_ident(&b, aside ? q->wtable : sc->table) |
			     add_key_where(&b, sc);
		rc |= sl__pg_add(&b, " LIMIT 1") | sl_buf_append(&b, "", 1);
		q->key_owner_sql = rc ? NULL : strdup(b.p);
		/* the row of this job, locked (pq_key_owner): in the table the job
		   writes (a UNION cannot be locked; an atomic job's rows are all in
		   its stage) */
		b.len = 0;
		rc |= sl__pg_add(&b, "SELECT \"_sluice_job\", \"_sluice_rec\" FROM ") |
		      sl__pg_ident(&b, aside ? q->wtable : sc->table) | add_key_where(&b, sc) |
		      sl__pg_add(&b, " LIMIT 1 FOR NO KEY UPDATE") | sl_buf_append(&b, "", 1);
		q->key_lock_sql = rc ? NULL : strdup(b.p);
		sl_buf_free(&b);
		if (!q->key_owner_sql || !q->key_lock_sql)
			rc = SL_NOMEM;
	}
	return rc;
}

/* A row the table refused: the caller keeps it as a reject. */
static int on_refusal(void *ctx, const sl_pg_refusal *r)
{
	pq_store *q = ctx;
	char msg[1400], said[1100];
	snprintf(said, sizeof said, "%s", r->message);
	/* a replace or atomic job writes its shadow or stage: the message
	   names the table the user knows, as an append load's would */
	char *at = q->wtable[0] ? strstr(said, q->wtable) : NULL;
	if (at) {
		char rest[1100];
		snprintf(rest, sizeof rest, "%s", at + strlen(q->wtable));
		snprintf(at, sizeof said - (size_t)(at - said), "%s%s", q->schema->table, rest);
	}
	snprintf(msg, sizeof msg, "the database refused the row: SQLSTATE %s%s%s: %s", r->sqlstate,
	         r->constraint[0] ? ", constraint " : "", r->constraint, said);
	if (!q->cb->refused)
		return sl__pg_seterr(q->pg, r->code, "%s", msg);
	return q->cb->refused(q->cb->ctx, &q->rows[r->row], r->code, msg);
}

/* Rows through sl__pg_write now: each told loaded, a duplicate or refused. */
static int write_now(pq_store *q, sl_sink_row *rows, size_t n, const sl_sink_cb *cb)
{
	if (n > q->cap) {
		const sl_value **v = realloc(q->vals, n * sizeof *v);
		if (v)
			q->vals = v;
		uint64_t *r = v ? realloc(q->recs, n * sizeof *r) : NULL;
		if (r)
			q->recs = r;
		uint8_t *o = r ? realloc(q->out, n) : NULL;
		if (!o)
			return SL_NOMEM;
		q->out = o;
		q->cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		q->vals[i] = rows[i].vals;
		q->recs[i] = rows[i].record;
	}
	q->rows = rows;
	q->cb = cb;
	int rc = sl__pg_write(q->w, q->vals, q->recs, n, q->out, on_refusal, q);
	size_t loaded = 0, updated = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (q->out[i] == SL_PG_DUP)
			rc = cb->dup(cb->ctx, &rows[i]);
		else
			loaded += q->out[i] != SL_PG_REFUSED;
		updated += q->out[i] == SL_PG_UPDATED;
	}
	if (rc == 0 && loaded)
		rc = cb->loaded(cb->ctx, loaded);
	if (rc == 0 && updated && cb->updated)
		rc = cb->updated(cb->ctx, updated);
	return rc;
}

/* A keyed chunk (reject, ignore), and a Citus table's without a key, is
   deferred: each write a sorted run, merged at flush. Otherwise (no key
   on one node, update) the rows go in now. */
static int pq_write(sl_sink *k, sl_sink_row *rows, size_t n, const sl_sink_cb *cb)
{
	pq_store *q = pq_of_sink(k);
	if (!q->sp)
		return write_now(q, rows, n, cb);
	sl__spill_sort(q->schema, rows, n);
	int rc = sl__spill_run(q->sp, rows, n);
	return rc < 0
	           ? sl__pg_seterr(q->pg, rc, "cannot write the chunk's rows to a temporary file")
	           : 0;
}

/* Is r's key the key of the row merged before it (then r is a later row
   of the same key: a duplicate)? Keeps r's key for the next row. */
static int same_key(pq_store *q, const sl_sink_row *r, bool *same)
{
	const sl_schema *sc = q->schema;
	*same = q->have_prev && sc->nkey; /* no key: every row is its own */
	for (size_t k = 0; k < sc->nkey && *same; k++)
		*same = sl_value_cmp(&q->prevkey[sc->key[k]], &r->vals[sc->key[k]]) == 0;
	if (*same)
		return 0;
	size_t need = 0;
	for (size_t k = 0; k < sc->nkey; k++)
		if (r->vals[sc->key[k]].kind == SL_VALUE_TEXT)
			need += r->vals[sc->key[k]].s.n;
	sl_buf_reset(&q->prev);
	if (sl_buf_reserve(&q->prev, need + 1))
		return SL_NOMEM;
	for (size_t k = 0; k < sc->nkey; k++) {
		sl_value v = r->vals[sc->key[k]];
		if (v.kind == SL_VALUE_TEXT) {
			char *p = q->prev.p + q->prev.len;
			if (v.s.n)
				memcpy(p, v.s.p, v.s.n);
			q->prev.len += v.s.n;
			v.s = sl_str_make(p, v.s.n);
		}
		q->prevkey[sc->key[k]] = v;
	}
	q->have_prev = true;
	return 0;
}

/* The merge's passes over a keyed chunk (flush, below). */
typedef struct merge_pass {
	pq_store *q;
	const sl_sink_cb *cb;
	size_t put, dups;
} merge_pass;

/* Pass 1: the first row of each key into the sorted COPY. */
static int copy_one(void *ctx, const sl_sink_row *r)
{
	merge_pass *m = ctx;
	bool same;
	int rc = same_key(m->q, r, &same);
	if (rc == 0 && same)
		m->dups++;
	else if (rc == 0 && (rc = sl__pg_copy_put(m->q->w, r->vals, r->record)) == 0)
		m->put++;
	return rc < 0 ? rc : rc ? SL_INTERNAL : 0;
}

/* Pass 2, when the COPY took every first row: the later rows of a key. */
static int dup_one(void *ctx, const sl_sink_row *r)
{
	merge_pass *m = ctx;
	bool same;
	int rc = same_key(m->q, r, &same);
	if (rc == 0 && same)
		rc = m->cb->dup(m->cb->ctx, r);
	return rc > 0 ? SL_INTERNAL : rc;
}

/* The exact way, when the COPY was refused: the merged rows in groups
   through write_now (staging, ON CONFLICT, bisection). A group is copied
   out of the merge's buffers, at most EXACT_ROWS rows and (unless one row
   is larger) EXACT_BYTES bytes. */
#define EXACT_ROWS  16384u
#define EXACT_BYTES (16u << 20)

static int group_write(merge_pass *m)
{
	pq_store *q = m->q;
	int rc = q->gn ? write_now(q, q->grows, q->gn, m->cb) : 0;
	q->gn = 0;
	q->gused = 0;
	return rc > 0 ? SL_INTERNAL : rc;
}

static int group_one(void *ctx, const sl_sink_row *r)
{
	merge_pass *m = ctx;
	pq_store *q = m->q;
	const sl_schema *sc = q->schema;
	size_t need = r->raw.n;
	for (size_t c = 0; c < sc->ncols; c++)
		if (r->vals[c].kind == SL_VALUE_TEXT)
			need += r->vals[c].s.n;
	int rc = 0;
	if (q->gn == q->gcap || q->gused + need > q->gbcap)
		rc = group_write(m);
	if (rc == 0 && !q->grows) {
		q->grows = malloc(EXACT_ROWS * sizeof *q->grows);
		q->gvals = malloc(EXACT_ROWS * sc->ncols * sizeof *q->gvals);
		q->gcap = q->grows && q->gvals ? EXACT_ROWS : 0;
		if (!q->gcap)
			rc = SL_NOMEM;
	}
	if (rc == 0 &&
	    (need > q->gbcap || !q->gbytes)) { /* the group is empty: nothing points here */
		size_t cap = need > EXACT_BYTES ? need : EXACT_BYTES;
		char *b = realloc(q->gbytes, cap);
		if (!b)
			rc = SL_NOMEM;
		else
			q->gbytes = b, q->gbcap = cap;
	}
	if (rc)
		return rc;
	sl_sink_row *o = &q->grows[q->gn];
	sl_value *v = &q->gvals[q->gn * sc->ncols];
	*o = *r;
	char *p = q->gbytes + q->gused;
	if (r->raw.n)
		memcpy(p, r->raw.p, r->raw.n);
	o->raw = sl_str_make(p, r->raw.n);
	p += r->raw.n;
	for (size_t c = 0; c < sc->ncols; c++) {
		v[c] = r->vals[c];
		if (v[c].kind == SL_VALUE_TEXT) {
			if (v[c].s.n)
				memcpy(p, v[c].s.p, v[c].s.n);
			v[c].s = sl_str_make(p, v[c].s.n);
			p += v[c].s.n;
		}
	}
	o->vals = v;
	q->gused += need;
	q->gn++;
	return 0;
}

/* A keyed chunk's deferred rows: merged in key order (the earliest record
   of a key first) and COPYed straight into the table, the later rows of a
   key told as duplicates (without a key, every row in record order); when the table refuses that
   COPY (a key it has already, a constraint the schema does not know) the savepoint undoes it and
   the merged rows go the exact way. */
static int pq_flush(sl_sink *k, const sl_sink_cb *cb)
{
	pq_store *q = pq_of_sink(k);
	if (!q->sp || !sl__spill_rows(q->sp))
		return 0;
	merge_pass m = {q, cb, 0, 0};
	int rc = sl__pg_copy_open(q->w);
	if (rc)
		goto out;
	q->have_prev = false;
	int mr = sl__spill_merge(q->sp, copy_one, &m);
	rc = sl__pg_copy_close(q->w);
	if (mr < 0)
		rc = mr;
	if (rc == 0) {
		rc = m.put ? cb->loaded(cb->ctx, m.put) : 0;
		q->have_prev = false;
		if (rc == 0 && m.dups)
			rc = sl__spill_merge(q->sp, dup_one, &m);
	} else if (rc == 1) {
		q->gn = 0;
		q->gused = 0;
		rc = sl__spill_merge(q->sp, group_one, &m);
		if (rc == 0)
			rc = group_write(&m);
	}
out:
	sl__spill_reset(q->sp);
	return rc;
}

static void pq_discard(sl_sink *k)
{
	pq_store *q = pq_of_sink(k);
	if (q->sp)
		sl__spill_reset(q->sp);
}

static int pq_key_owner(sl_sink *k, const sl_value *vals, char job[SL_JOB_ID_LEN], uint64_t *rec)
{
	pq_store *q = pq_of_sink(k);
	const sl_schema *sc = q->schema;
	pq_params p = {.n = 0};
	char *texts[8] = {0};
	int rc = 0;
	job[0] = 0;
	*rec = 0;
	for (size_t i = 0; i < sc->nkey && i < 8; i++) {
		const sl_value *v = &vals[sc->key[i]];
		if (v->kind == SL_VALUE_INT) {
			sl__pq_int(&p, v->i);
		} else if (v->kind == SL_VALUE_TEXT) {
			if (!(texts[i] = strndup(v->s.p, v->s.n))) {
				rc = SL_NOMEM;
				goto out;
			}
			sl__pq_str(&p, texts[i]);
		} else if (v->kind == SL_VALUE_REAL) {
			char t[48];
			size_t l = sc->cols[sc->key[i]].type == SL_TYPE_DECIMAL
			               ? sl_decimal_real_format(&sc->cols[sc->key[i]], v->d, t)
			               : sl_double_format(v->d, t);
			if (!(texts[i] = strndup(t, l))) {
				rc = SL_NOMEM;
				goto out;
			}
			sl__pq_str(&p, texts[i]);
		} else {
			sl__pq_str(&p, NULL);
		}
	}
	PGresult *res = sl__pq_run(q, q->key_owner_sql, &p, &rc);
	/* A row of this job may be displaced by another chunk's transaction
	   running at the same time (an earlier record: chunk_write.c), whose
	   commit would leave a reject written here naming the displaced
	   record, or displace the row twice. Read such a row again locked:
	   that waits for a transaction changing it and reads its new holder,
	   or makes one that comes later wait for this one, whose rejects it
	   then sees and re-holds. Rows of other jobs are not locked, so a
	   reload's duplicates cost no row locks. */
	if (res && PQntuples(res) > 0 && !strcmp(PQgetvalue(res, 0, 0), q->job_id)) {
		PQclear(res);
		res = sl__pq_run(q, q->key_lock_sql, &p, &rc);
	}
	if (res && PQntuples(res) > 0) {
		snprintf(job, SL_JOB_ID_LEN, "%s", PQgetvalue(res, 0, 0));
		/* NULL: a row of an older sluice, which kept no record */
		if (!PQgetisnull(res, 0, 1))
			*rec = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	}
	PQclear(res);
out:
	for (size_t i = 0; i < 8; i++)
		free(texts[i]);
	return rc;
}

static int pq_delete_job(sl_sink *k, const char *table, const char *job_id, uint64_t *rows)
{
	pq_store *q = pq_of_sink(k);
	sl_buf b;
	int rc;
	*rows = 0;
	sl_buf_init(&b, 4096);
	/* a table never created has no rows of any job */
	if (sl__pg_ident(&b, table) || sl_buf_append(&b, "", 1)) {
		sl_buf_free(&b);
		return SL_NOMEM;
	}
	char exists[8];
	const char *p1[1] = {b.p};
	rc =
	    sl__pg_value(q->pg, "SELECT to_regclass($1) IS NOT NULL", 1, p1, exists, sizeof exists);
	if (rc == 1 && !strcmp(exists, "t")) {
		sl_buf_reset(&b);
		rc = sl__pg_add(&b, "DELETE FROM ") | sl__pg_ident(&b, table) |
		     sl__pg_add(&b, " WHERE \"_sluice_job\" = $1") | sl_buf_append(&b, "", 1);
		if (rc) {
			rc = SL_NOMEM;
		} else {
			pq_params p = {.n = 0};
			sl__pq_str(&p, job_id);
			PGresult *res = sl__pq_run(q, b.p, &p, &rc);
			if (res)
				*rows = strtoull(PQcmdTuples(res), NULL, 10);
			PQclear(res);
		}
	}
	/* and what it wrote aside in another load mode */
	if (rc >= 0)
		rc = sl__pq_mode_drop(q, table, job_id, rows);
	sl_buf_free(&b);
	return rc < 0 ? rc : 0;
}

/* A value as a text parameter (into buf, 64 bytes, for numbers), or NULL. */
static const char *param_text(const sl_column *c, const sl_value *v, char *buf, char **own)
{
	switch (v->kind) {
	case SL_VALUE_INT:
		snprintf(buf, 64, "%lld", (long long)v->i);
		return buf;
	case SL_VALUE_REAL:
		if (c->type == SL_TYPE_DECIMAL)
			buf[sl_decimal_real_format(c, v->d, buf)] = 0;
		else
			buf[sl_double_format(v->d, buf)] = 0;
		return buf;
	case SL_VALUE_TEXT:
		return *own = strndup(v->s.p, v->s.n);
	default:
		return NULL;
	}
}

/* The row of the prepared job with r's key takes r's values and record:
   an earlier record displacing a later one whose chunk committed first
   (determinism without ordered commits, chunk_write.c). One UPDATE by the
   key, every value a text parameter as the COPY paths send them. */
static int pq_replace(sl_sink *k, const sl_sink_row *r)
{
	pq_store *q = pq_of_sink(k);
	const sl_schema *sc = q->schema;
	size_t np = sc->ncols + 2 + sc->nkey;
	const char **v = calloc(np, sizeof *v);
	char **own = calloc(np, sizeof *own);
	char(*num)[64] = calloc(np, sizeof *num);
	PGresult *res = NULL;
	int rc = 0;
	if (!v || !own || !num) {
		rc = SL_NOMEM;
		goto out;
	}
	if (!q->replace_sql) {
		sl_buf b;
		sl_buf_init(&b, 1 << 20);
		char ph[48];
		/* the table the job writes: a replace or atomic job's shadow or stage */
		rc = sl__pg_add(&b, "UPDATE ") |
		     sl__pg_ident(&b, q->wtable[0] ? q->wtable : sc->table) |
		     sl__pg_add(&b, " SET ");
		for (size_t i = 0; i < sc->ncols; i++) {
			snprintf(ph, sizeof ph, " = $%zu, ", i + 1);
			rc |= sl__pg_ident(&b, sc->cols[i].name) | sl__pg_add(&b, ph);
		}
		snprintf(ph, sizeof ph, "\"_sluice_job\" = $%zu, ", sc->ncols + 1);
		rc |= sl__pg_add(&b, ph);
		snprintf(ph, sizeof ph, "\"_sluice_rec\" = $%zu::bigint WHERE ", sc->ncols + 2);
		rc |= sl__pg_add(&b, ph);
		for (size_t j = 0; j < sc->nkey; j++) {
			snprintf(ph, sizeof ph, " = $%zu", sc->ncols + 3 + j);
			rc |= sl__pg_add(&b, j ? " AND " : "") |
			      sl__pg_ident(&b, sc->cols[sc->key[j]].name) | sl__pg_add(&b, ph);
		}
		rc |= sl_buf_append(&b, "", 1);
		q->replace_sql = rc ? NULL : strdup(b.p);
		sl_buf_free(&b);
		if (!q->replace_sql) {
			rc = SL_NOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < sc->ncols; i++) {
		const sl_value *x = &r->vals[i];
		if (sc->cols[i].type == SL_TYPE_BOOLEAN && x->kind == SL_VALUE_INT)
			v[i] = x->i ? "t" : "f";
		else if (x->kind != SL_VALUE_NULL &&
		         !(v[i] = param_text(&sc->cols[i], x, num[i], &own[i])))
			rc = SL_NOMEM;
	}
	v[sc->ncols] = q->job_id;
	snprintf(num[sc->ncols + 1], 64, "%llu", (unsigned long long)r->record);
	v[sc->ncols + 1] = num[sc->ncols + 1];
	for (size_t j = 0; j < sc->nkey; j++)
		v[sc->ncols + 2 + j] = v[sc->key[j]];
	if (rc)
		goto out;
	res = PQexecParams(sl__pg_conn(q->pg), q->replace_sql, (int)np, NULL, v, NULL, NULL, 0);
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = sl__pg_fail(q->pg, res, "UPDATE of a displaced row");
	else if (strcmp(PQcmdTuples(res), "1"))
		rc = sl__pg_seterr(q->pg, SL_INTERNAL, "no row of table %s with the key to replace",
		                   sc->table);
out:
	PQclear(res);
	for (size_t i = 0; own && i < np; i++)
		free(own[i]);
	free(own);
	free(num);
	free(v);
	return rc;
}

/* The SELECT form of a column that reads back as sluice stores it:
   timestamps with a 'T' (and 'Z' when zoned), booleans as 1/0. */
static int add_read_col(sl_buf *b, const sl_column *c)
{
	if (c->type == SL_TYPE_TIMESTAMP)
		return sl__pg_add(b, "regexp_replace(replace(") | sl__pg_ident(b, c->name) |
		       sl__pg_add(b, "::text, ' ', 'T'), '\\+00$', 'Z')");
	if (c->type == SL_TYPE_BOOLEAN)
		return sl__pg_ident(b, c->name) | sl__pg_add(b, "::int");
	return sl__pg_ident(b, c->name) | sl__pg_add(b, "::text");
}

static int pq_records_each(sl_sink *k, const sl_schema *sc, const size_t *cols,
                           const sl_value *vals, size_t nf, const char *job_id, int64_t after,
                           size_t limit, sl_record_cb cb, void *ctx)
{
	pq_store *q = pq_of_sink(k);
	sl_buf b;
	pq_params p = {.n = 0};
	char nums[PQ_MAX_PARAMS][64];
	char *own[PQ_MAX_PARAMS] = {0};
	sl_value *row = NULL;
	PGresult *res = NULL;
	int rc;
	sl_buf_init(&b, 1 << 20);
	/* a dataset with nothing loaded yet has no table: no rows */
	if (sl__pg_ident(&b, sc->table) || sl_buf_append(&b, "", 1)) {
		rc = SL_NOMEM;
		goto out;
	}
	char exists[8];
	const char *p1[1] = {b.p};
	if ((rc = sl__pg_value(q->pg, "SELECT to_regclass($1) IS NOT NULL", 1, p1, exists,
	                       sizeof exists)) < 0 ||
	    strcmp(exists, "t"))
		goto out;
	if (nf + 3 > PQ_MAX_PARAMS) {
		rc = SL_INVAL;
		goto out;
	}
	sl_buf_reset(&b);
	rc = sl__pg_add(&b, "SELECT \"_sluice_row\"");
	for (size_t i = 0; i < sc->ncols; i++)
		rc |= sl__pg_add(&b, ", ") | add_read_col(&b, &sc->cols[i]);
	rc |= sl__pg_add(&b, ", \"_sluice_job\" FROM ") | sl__pg_ident(&b, sc->table) |
	      sl__pg_add(&b, " WHERE \"_sluice_row\" > $1");
	sl__pq_int(&p, after);
	if (job_id) {
		sl__pq_str(&p, job_id);
		rc |= sl__pg_add(&b, " AND \"_sluice_job\" = $2");
	}
	for (size_t f = 0; f < nf; f++) {
		if (cols[f] >= sc->ncols) {
			rc = SL_INVAL;
			goto out;
		}
		char ph[32];
		rc |= sl__pg_add(&b, " AND ") | sl__pg_ident(&b, sc->cols[cols[f]].name);
		if (vals[f].kind == SL_VALUE_NULL) {
			rc |= sl__pg_add(&b, " IS NULL");
			continue;
		}
		const char *t = param_text(&sc->cols[cols[f]], &vals[f], nums[f], &own[f]);
		if (!t) {
			rc = SL_NOMEM;
			goto out;
		}
		sl__pq_str(&p, t);
		snprintf(ph, sizeof ph, " = $%d", p.n);
		rc |= sl__pg_add(&b, ph);
	}
	char lim[80];
	snprintf(lim, sizeof lim, " ORDER BY \"_sluice_row\" LIMIT %llu",
	         (unsigned long long)(limit > (size_t)INT64_MAX ? (size_t)INT64_MAX : limit));
	rc |= sl__pg_add(&b, lim) | sl_buf_append(&b, "", 1);
	row = calloc(sc->ncols + 1, sizeof *row);
	if (rc || !row) {
		rc = SL_NOMEM;
		goto out;
	}
	if (!(res = sl__pq_run(q, b.p, &p, &rc)))
		goto out;
	for (int r = 0; rc == 0 && r < PQntuples(res); r++) {
		sl_record rec = {.rowid = strtoll(PQgetvalue(res, r, 0), NULL, 10), .vals = row};
		for (size_t i = 0; i < sc->ncols; i++) {
			int c = (int)i + 1;
			const char *t = PQgetvalue(res, r, c);
			if (PQgetisnull(res, r, c))
				row[i] = (sl_value){.kind = SL_VALUE_NULL};
			else if (sl_column_storage(&sc->cols[i]) == SL_VALUE_INT)
				row[i] =
				    (sl_value){.kind = SL_VALUE_INT, .i = strtoll(t, NULL, 10)};
			else if (sl_column_storage(&sc->cols[i]) == SL_VALUE_REAL)
				row[i] = (sl_value){.kind = SL_VALUE_REAL, .d = strtod(t, NULL)};
			else
				row[i] =
				    (sl_value){.kind = SL_VALUE_TEXT,
				               .s = sl_str_make(t, (size_t)PQgetlength(res, r, c))};
		}
		rec.job_id = PQgetvalue(res, r, (int)sc->ncols + 1);
		rc = cb(ctx, &rec);
	}
out:
	PQclear(res);
	for (size_t i = 0; i < PQ_MAX_PARAMS; i++)
		free(own[i]);
	free(row);
	sl_buf_free(&b);
	return rc;
}

static const sl_sink_ops pq_sink_ops = {
    .name = "postgres",
    .prepare = pq_prepare,
    .write = pq_write,
    .flush = pq_flush,
    .discard = pq_discard,
    .finish = sl__pq_sink_finish,
    .key_owner = pq_key_owner,
    .replace = pq_replace,
    .delete_job = pq_delete_job,
    .records_each = pq_records_each,
};

/* --- the backend -------------------------------------------------------------------- */

static int pq_open(const char *target, int busy_timeout_ms, sl_txn **txn, sl_sink **sink,
                   sl_jobstore **js)
{
	pq_store *q = calloc(1, sizeof *q);
	*txn = NULL;
	*sink = NULL;
	*js = NULL;
	if (!q)
		return SL_NOMEM;
	sl_buf_init(&q->prev, 64u << 20); /* a key as long as a row may be */
	q->txn.ops = &pq_txn_ops;
	q->txn.refs = 2;
	q->sink.ops = &pq_sink_ops;
	q->sink.txn = &q->txn;
	q->js.ops = &sl__pq_js_ops;
	q->js.txn = &q->txn;
	*txn = &q->txn;
	int rc = sl__pg_connect(target, &q->pg);
	/* PostgreSQL's writers do not exclude each other; a row lock held
	   longer than the busy timeout (another process committing the same
	   job's counters) is DB_BUSY (55P03), which the engine retries */
	q->lock_ms = busy_timeout_ms > 0 ? busy_timeout_ms : 5000;
	if (rc == 0)
		rc = pq_settings(q);
	if (rc == 0)
		rc = sl__pg_migrate(q->pg, 0, NULL);
	if (rc == 0) {
		*sink = &q->sink;
		*js = &q->js;
	}
	return rc;
}

const sl_store_backend sl__store_postgres = {"postgres", pq_open};
const sl_store_backend sl__store_postgresql = {"postgresql", pq_open};
