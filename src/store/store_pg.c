/*
 * The PostgreSQL store: a sink and a job store on one libpq connection, so
 * a chunk's rows, rejects, status, the job's counters and its event commit
 * in one transaction (store.h). The job store's tables live in the
 * `sluice` schema of the target's database (src/pg/pg_migrate.c brings it
 * up to date when the store is opened); the target table is where the
 * schema says, on the connection's search_path.
 *
 * This file is the connection (the backend's opener, sl_txn's ops) and the
 * sink: prepare (src/pg/pg_target.c), write (src/pg/pg_copy.c: COPY, the
 * staging table and ON CONFLICT, rows the table refuses handed to the
 * caller's `refused` callback as DB_CONSTRAINT or DB_VALUE), the key's
 * owner, a job's rows deleted, and rows read back in load order (the
 * records API) by the table's identity column "_sluice_row".
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
	free(q->key_owner_sql);
	free(q->vals);
	free(q->out);
	free(q);
}

static const sl_txn_ops pq_txn_ops = {
    .name = "postgres",
    .close = pq_close,
    .errmsg = pq_errmsg,
    .begin = pq_begin,
    .commit = pq_commit,
    .rollback = pq_rollback,
};

/* --- the sink ---------------------------------------------------------------------- */

static int pq_prepare(sl_sink *k, const sl_schema *sc, const char *job_id)
{
	pq_store *q = pq_of_sink(k);
	/* load modes write aside (a shadow table, a stage) and swap or merge
	   at the job's end: the SQLite sink's so far; refused here rather than
	   loaded as append, which would break what the mode promises */
	if (sc->mode > SL_MODE_APPEND)
		return sl__pg_seterr(q->pg, SL_CONFIG,
		                     "load mode %s: not on PostgreSQL yet (append only; docs/scaling.md)",
		                     sl_load_mode_name(sc->mode));
	int rc = sl__pg_table_prepare(q->pg, sc);
	if (rc)
		return rc;
	sl__pg_writer_free(q->w);
	q->w = NULL;
	free(q->key_owner_sql);
	q->key_owner_sql = NULL;
	q->schema = sc;
	snprintf(q->job_id, sizeof q->job_id, "%s", job_id);
	rc = sl__pg_writer_new(q->pg, sc, job_id, &q->w);
	if (rc == 0 && sc->nkey) {
		sl_buf b;
		sl_buf_init(&b, 1 << 16);
		rc = sl__pg_add(&b, "SELECT \"_sluice_job\" FROM ") | sl__pg_ident(&b, sc->table) |
		     sl__pg_add(&b, " WHERE ");
		for (size_t i = 0; i < sc->nkey; i++) {
			char p[32];
			snprintf(p, sizeof p, " = $%zu", i + 1);
			rc |= sl__pg_add(&b, i ? " AND " : "") |
			      sl__pg_ident(&b, sc->cols[sc->key[i]].name) | sl__pg_add(&b, p);
		}
		rc |= sl__pg_add(&b, " LIMIT 1") | sl_buf_append(&b, "", 1);
		q->key_owner_sql = rc ? NULL : strdup(b.p);
		sl_buf_free(&b);
		if (!q->key_owner_sql)
			rc = SL_NOMEM;
	}
	return rc;
}

/* A row the table refused: the caller keeps it as a reject. */
static int on_refusal(void *ctx, const sl_pg_refusal *r)
{
	pq_store *q = ctx;
	char msg[1400];
	snprintf(msg, sizeof msg, "the database refused the row: SQLSTATE %s%s%s: %s", r->sqlstate,
	         r->constraint[0] ? ", constraint " : "", r->constraint, r->message);
	if (!q->cb->refused)
		return sl__pg_seterr(q->pg, r->code, "%s", msg);
	return q->cb->refused(q->cb->ctx, &q->rows[r->row], r->code, msg);
}

static int pq_write(sl_sink *k, sl_sink_row *rows, size_t n, const sl_sink_cb *cb)
{
	pq_store *q = pq_of_sink(k);
	if (n > q->cap) {
		const sl_value **v = realloc(q->vals, n * sizeof *v);
		if (v)
			q->vals = v;
		uint8_t *o = v ? realloc(q->out, n) : NULL;
		if (!o)
			return SL_NOMEM;
		q->out = o;
		q->cap = n;
	}
	for (size_t i = 0; i < n; i++)
		q->vals[i] = rows[i].vals;
	q->rows = rows;
	q->cb = cb;
	int rc = sl__pg_write(q->w, q->vals, n, q->out, on_refusal, q);
	size_t loaded = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (q->out[i] == SL_PG_DUP)
			rc = cb->dup(cb->ctx, &rows[i]);
		else
			loaded += q->out[i] != SL_PG_REFUSED;
	}
	if (rc == 0 && loaded)
		rc = cb->loaded(cb->ctx, loaded);
	return rc;
}

static int pq_key_owner(sl_sink *k, const sl_value *vals, char job[SL_JOB_ID_LEN], uint64_t *rec)
{
	pq_store *q = pq_of_sink(k);
	const sl_schema *sc = q->schema;
	pq_params p = {.n = 0};
	char *texts[8] = {0};
	int rc = 0;
	job[0] = 0;
	*rec = 0; /* no provenance column on PostgreSQL yet: a row without a record */
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
	if (res && PQntuples(res) > 0)
		snprintf(job, SL_JOB_ID_LEN, "%s", PQgetvalue(res, 0, 0));
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
    .key_owner = pq_key_owner,
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
	snprintf(q->session, sizeof q->session, "SET lock_timeout = %d",
	         busy_timeout_ms > 0 ? busy_timeout_ms : 5000);
	if (rc == 0)
		rc = sl__pg_session_sql(q->pg, q->session);
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
